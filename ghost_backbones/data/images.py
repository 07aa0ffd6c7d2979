"""Reading photos and finding image files: shared by the detection and segmentation entry points.

Examples::

    >>> ".jpg" in IMAGE_SUFFIXES
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError

__all__ = ["IMAGE_SUFFIXES", "image_size", "list_images", "read_rgb", "to_8bit"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Single-channel modes of more than 8 bits: PIL's convert("RGB") clips them (a 16-bit PNG turns all white).
_HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def list_images(source: str | Path) -> list[Path]:
    """The image files of ``source``: the file itself, or a folder's images (sorted, not recursive).

    Args:
        source: an image file or a folder.

    Examples::

        >>> list_images("photos/")  # doctest: +SKIP
        [PosixPath('photos/a.jpg'), PosixPath('photos/b.png')]
    """
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"input not found: {source}")
    images = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {source}")
    return images


def to_8bit(image: Image.Image) -> Image.Image:
    """A high-bit-depth grayscale image (16-bit PNG ``I;16``, ``I``, ``F``) scaled to 8 bits (``L``); others as is.

    Integer modes are read as 16-bit values (0..65535 -> 0..255); float images as 0..1 when their maximum is at
    most 1, else as 16-bit values. PIL's own ``convert("RGB")`` clips instead of scaling, so a 16-bit image would
    come out (almost) all white.

    Examples::

        >>> to_8bit(Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))).getpixel((1, 0))
        128
        >>> to_8bit(Image.new("RGB", (1, 1))).mode
        'RGB'
    """
    if image.mode not in _HIGH_BIT_MODES:
        return image
    values = np.asarray(image, dtype=np.float64)
    scale = 255.0 if image.mode == "F" and values.size and values.max() <= 1.0 else 255.0 / 65535.0
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8))


def read_rgb(
    path: str | Path, *, expected_size: tuple[int, int] | None = None, size_must_match: bool = True
) -> Image.Image:
    """Open an image as RGB (grayscale, palette, RGBA, CMYK converted) with its EXIF orientation applied.

    High-bit-depth grayscale images (16-bit PNG) are scaled to 8 bits first (see :func:`to_8bit`). Raises
    ``DataError`` naming the file when it is missing, unreadable or corrupt.

    Args:
        path: the image file.
        expected_size: ``(width, height)`` an annotation file gives for it. COCO boxes are in stored-pixel
            coordinates, so the EXIF orientation is then applied only when it makes the size match, and a size
            that matches neither way is an error. ``None`` (photos to predict on): always applied.
        size_must_match: with ``False``, a size that matches neither way is no error: the image comes back as
            stored, for the caller to report (the VOC reader names the image and its mask).

    Examples::

        >>> read_rgb("photo.jpg").mode  # doctest: +SKIP
        'RGB'
    """
    try:
        with Image.open(path) as image:
            image.load()
            if expected_size is None or image.size != tuple(expected_size):
                rotated = ImageOps.exif_transpose(image)
                if expected_size is not None and rotated.size != tuple(expected_size):
                    if size_must_match:
                        raise DataError(
                            f"{path}: image is {image.size[0]}x{image.size[1]} but its annotation file says "
                            f"{expected_size[0]}x{expected_size[1]}"
                        )
                    rotated = image
                image = rotated
            image = to_8bit(image)
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            return image.convert("RGB")
    except DataError:
        raise
    except FileNotFoundError as e:
        raise DataError(f"{path}: image file not found") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from e


_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image as :func:`read_rgb` (no ``expected_size``) returns it, from the file's header
    (the pixels are not decoded): EXIF orientations that turn the image by 90 degrees swap the two.

    Raises ``DataError`` naming the file when it is missing or not an image.

    Examples::

        >>> image_size("photo.jpg")  # doctest: +SKIP
        (640, 480)
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            rotated = image.getexif().get(0x0112) in _ROTATED
    except FileNotFoundError as e:
        raise DataError(f"{path}: image file not found") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from e
    return (height, width) if rotated else (width, height)
