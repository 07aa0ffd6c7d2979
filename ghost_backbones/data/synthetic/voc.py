"""Shapes segmentation dataset in the Pascal VOC 2012 layout (``torchvision.datasets.VOCSegmentation``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..palette import voc_palette
from .checks import check_options, prepare_output
from .scenes import SHAPE_CLASSES, Shape, draw_scene, image_rng

__all__ = ["make_shapes_voc"]

_VOID_INDEX = 255


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a (2 * radius + 1)-pixel square, done as two separable 1-D maxima."""
    out = mask
    for axis in (0, 1):
        grown = out.copy()
        view, source = np.moveaxis(grown, axis, 0), np.moveaxis(out, axis, 0)
        for shift in range(1, radius + 1):
            view[shift:] |= source[:-shift]
            view[:-shift] |= source[shift:]
        out = grown
    return out


def _voc_mask(size: tuple[int, int], shapes: Sequence[Shape]) -> Image.Image:
    """VOC class mask: ``class + 1`` inside each shape, 255 on a band straddling its outline, later shapes on top.

    The band is ``dilate(mask) & ~erode(mask)``, so no class pixel touches the background or another class (as in
    real VOC, where a ~5 px void border surrounds every object).
    """
    radius = max(1, round(min(size) / 160))
    label = np.zeros(size[::-1], dtype=np.uint8)
    for shape in shapes:
        label[shape.mask] = shape.class_index + 1
        label[_dilate(shape.mask, radius) & _dilate(~shape.mask, radius)] = _VOID_INDEX
    mask = Image.frombytes("P", size, label.tobytes())
    mask.putpalette(voc_palette())
    return mask


def make_shapes_voc(
    root: str | Path,
    *,
    num_train: int = 64,
    num_val: int = 16,
    image_size: int | Sequence[int] = (256, 256),
    max_objects: int = 4,
    seed: int = 0,
    classes: Sequence[str] = SHAPE_CLASSES,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a shapes segmentation dataset in the Pascal VOC 2012 layout (``VOCSegmentation(root, year="2012")``).

    Files under ``root/VOCdevkit/VOC2012``: ``JPEGImages/shapes_NNNNNN.jpg``, ``SegmentationClass/*.png`` (mode
    ``'P'`` with ``voc_palette()``: 0 background, ``i + 1`` for ``classes[i]``, 255 void along each outline) and
    ``ImageSets/Segmentation/{train,val,trainval}.txt``. Every image holds 1..``max_objects`` shapes.

    Args:
        root: output directory (created if missing); ``VOCdevkit/VOC2012`` is written inside it.
        num_train: number of train images (>= 1).
        num_val: number of val images (>= 1).
        image_size: side of square images, or a ``(min, max)`` range from which width and height are drawn
            independently. Sides must be >= 32.
        max_objects: most shapes per image (>= 1).
        seed: non-negative seed; the same seed gives the same files.
        classes: shapes to draw, names from ``AVAILABLE_SHAPES``; mask index ``i + 1`` is ``classes[i]``.
        overwrite: regenerate over an existing dataset instead of raising ``FileExistsError``.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a ``Path`` (the parent of ``VOCdevkit``: pass it as ``--data-path``).

    Examples::

        >>> import tempfile
        >>> root = make_shapes_voc(f"{tempfile.mkdtemp()}/shapes_voc", num_train=8, num_val=4, image_size=128)
        >>> from torchvision.datasets import VOCSegmentation
        >>> image, mask = VOCSegmentation(str(root), year="2012", image_set="val")[0]
        >>> print(len(VOCSegmentation(str(root), year="2012", image_set="trainval")), image.size, mask.mode)
        12 (128, 128) P
    """
    options = check_options(
        num_train=num_train, num_val=num_val, image_size=image_size, max_objects=max_objects, seed=seed, classes=classes
    )
    root = Path(root)
    voc = root / "VOCdevkit" / "VOC2012"
    split_dir = voc / "ImageSets" / "Segmentation"
    prepare_output(root, [split_dir / f"{split}.txt" for split in ("train", "val", "trainval")], overwrite)
    for directory in (voc / "JPEGImages", voc / "SegmentationClass", split_dir):
        directory.mkdir(parents=True, exist_ok=True)

    names: dict[str, list[str]] = {"train": [], "val": []}
    total = options.num_train + options.num_val
    with tqdm(total=total, desc="shapes (VOC)", unit="img", disable=not progress) as bar:
        for split, count in (("train", options.num_train), ("val", options.num_val)):
            for index in range(count):
                rng = image_rng(options.seed, "voc", split, index)
                scene = draw_scene(rng, options.size_range, options.classes, options.max_objects)
                name = f"shapes_{options.num_train * (split == 'val') + index:06d}"
                scene.image.save(voc / "JPEGImages" / f"{name}.jpg", quality=92)
                _voc_mask(scene.size, scene.shapes).save(voc / "SegmentationClass" / f"{name}.png")
                names[split].append(name)
                bar.update()
    names["trainval"] = names["train"] + names["val"]
    for split, split_names in names.items():
        (split_dir / f"{split}.txt").write_text("".join(f"{name}\n" for name in split_names))
    return root
