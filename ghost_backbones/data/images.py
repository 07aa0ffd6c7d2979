"""Reading photos and finding image files: shared by the detection and segmentation entry points.

Examples::

    >>> ".jpg" in IMAGE_SUFFIXES
    True
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from ..errors import DataError

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_rgb"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


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


def read_rgb(path: str | Path, *, expected_size: tuple[int, int] | None = None) -> Image.Image:
    """Open an image as RGB (grayscale, palette, RGBA, CMYK converted) with its EXIF orientation applied.

    Raises ``DataError`` naming the file when it is missing, unreadable or corrupt.

    Args:
        path: the image file.
        expected_size: ``(width, height)`` an annotation file gives for it. COCO boxes are in stored-pixel
            coordinates, so the EXIF orientation is then applied only when it makes the size match, and a size
            that matches neither way is an error. ``None`` (photos to predict on): always applied.

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
                    raise DataError(
                        f"{path}: image is {image.size[0]}x{image.size[1]} but its annotation file says "
                        f"{expected_size[0]}x{expected_size[1]}"
                    )
                image = rotated
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            return image.convert("RGB")
    except DataError:
        raise
    except FileNotFoundError as e:
        raise DataError(f"{path}: image file not found") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from e
