"""PASCAL VOC semantic segmentation reader with input checks.

Reads the layout torchvision's ``VOCSegmentation`` expects (``ROOT/VOCdevkit/VOC2012/{JPEGImages,
SegmentationClass, ImageSets/Segmentation}``); ``ROOT`` may also be the ``VOC2012`` folder itself. The
augmented set is a choice of mask folder and list (``mask_dir="SegmentationClassAug"``, ``split="train_aug"``).
A split list holds one image id per line, or DeepLab's two-column ``/JPEGImages/x.jpg /SegmentationClassAug/x.png``
lines. Masks are palette (``P``) or grayscale (``L``) PNGs read as class indices, never converted to RGB; 255 is
the ignore label. Photos are read with ``ghost_backbones.data.images.read_rgb`` (16-bit images scaled to 8 bits,
the EXIF orientation applied when it makes the photo match its mask). An id listed twice in a split is used once,
with a warning giving the count.

Examples::

    >>> from ghost_backbones.data.synthetic import SHAPE_CLASSES, make_shapes_voc
    >>> import tempfile
    >>> root = make_shapes_voc(f"{tempfile.mkdtemp()}/shapes_voc", num_train=4, num_val=2)
    >>> ds = VOCSegmentation(root, "train", num_classes=1 + len(SHAPE_CLASSES))
    >>> image, mask = ds[0]
    >>> image.mode, mask.dtype, len(ds)
    ('RGB', dtype('uint8'), 4)
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ghost_backbones.data.images import read_rgb
from ghost_backbones.engine import DataError

from .base import SEGMENTATION_FORMATS
from .transforms import IGNORE_INDEX

__all__ = ["VOC_CLASSES", "VOCSegmentation", "build_voc", "read_split", "resolve_voc_root"]

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

_MASK_MODES = ("P", "L")
_MAX_LISTED = 5


def resolve_voc_root(root: str | Path) -> Path:
    """The ``VOC2012`` folder under ``root`` (``root/VOCdevkit/VOC2012``, or ``root`` itself).

    Args:
        root: the folder holding ``VOCdevkit/`` or the ``VOC2012`` folder.

    Raises:
        FileNotFoundError: neither layout is found; the message names both places looked at.

    Examples::

        >>> resolve_voc_root("/data/voc").name  # doctest: +SKIP
        'VOC2012'
    """
    root = Path(root)
    for candidate in (root / "VOCdevkit" / "VOC2012", root):
        if (candidate / "ImageSets" / "Segmentation").is_dir() and (candidate / "JPEGImages").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no VOC dataset at {root}: expected {root / 'VOCdevkit' / 'VOC2012'} (or {root} itself) to contain "
        "JPEGImages/ and ImageSets/Segmentation/"
    )


def read_split(voc_dir: str | Path, split: str, mask_dir: str = "SegmentationClass") -> list[tuple[Path, Path]]:
    """(image, mask) paths listed by a split file; every listed file must exist.

    Args:
        voc_dir: the ``VOC2012`` folder.
        split: a list name under ``ImageSets/Segmentation`` (``"train"``, ``"val"``, ``"train_aug"``) or a path to
            a list file (relative to ``voc_dir`` or absolute).
        mask_dir: mask folder for one-column lists (``"SegmentationClass"`` or ``"SegmentationClassAug"``).

    Raises:
        FileNotFoundError: the list file is missing (the message lists the available splits).
        DataError: the list is empty or malformed, or names images / masks that do not exist.

    Warns:
        UserWarning: ids listed more than once (their count and the first ones); each is used once.

    Examples::

        >>> image, mask = read_split(resolve_voc_root("/data/voc"), "val")[0]  # doctest: +SKIP
        >>> image.name, mask.name  # doctest: +SKIP
        ('2007_000033.jpg', '2007_000033.png')
    """
    voc_dir = Path(voc_dir)
    sets = voc_dir / "ImageSets" / "Segmentation"
    list_file = Path(split) if split.endswith(".txt") else sets / f"{split}.txt"
    if not list_file.is_absolute() and split.endswith(".txt"):
        list_file = voc_dir / list_file
    if not list_file.is_file():
        available = sorted(p.stem for p in sets.glob("*.txt"))
        raise FileNotFoundError(f"split list not found: {list_file} (available in {sets}: {available})")
    samples, missing = [], []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 1:
            image, mask = voc_dir / "JPEGImages" / f"{fields[0]}.jpg", voc_dir / mask_dir / f"{fields[0]}.png"
        elif len(fields) == 2:
            image, mask = (voc_dir / f.lstrip("/") for f in fields)
        else:
            raise DataError(f"{list_file}:{number}: expected 'ID' or 'IMAGE MASK', got {line.strip()!r}")
        missing.extend(f"{p} (listed in {list_file.name}:{number})" for p in (image, mask) if not p.is_file())
        samples.append((image, mask))
    samples = _drop_repeats(list_file, samples)
    if missing:
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise DataError(f"{list_file}: missing file(s): {', '.join(missing[:_MAX_LISTED])}{more}")
    if not samples:
        raise DataError(f"{list_file}: the split list is empty")
    return samples


def _drop_repeats(list_file: Path, samples: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """``samples`` with each (image, mask) pair once; a warning counts the repeated ones."""
    unique = list(dict.fromkeys(samples))
    if len(unique) < len(samples):
        repeated = [image.stem for (image, _), n in Counter(samples).items() if n > 1]
        warnings.warn(
            f"{list_file}: {len(samples) - len(unique)} repeated line(s) ({len(repeated)} id(s) listed more than "
            f"once, first: {repeated[:_MAX_LISTED]}); each image is used once",
            stacklevel=3,
        )
    return unique


class VOCSegmentation(Dataset):
    """VOC-layout segmentation dataset returning ``transforms(image, mask)``.

    Each sample is checked when read: image and mask sizes must match, mask labels must lie in
    ``[0, num_classes)`` or be 255, and both files must decode. An unreadable file raises `DataError`, or with
    ``skip_bad_images`` warns and yields the next readable sample instead.

    Args:
        root: folder holding ``VOCdevkit/VOC2012`` (or the ``VOC2012`` folder itself).
        split: split list name or path (see `read_split`).
        num_classes: number of classes, background included (labels must be below it).
        mask_dir: folder of the masks (``SegmentationClass`` or ``SegmentationClassAug``).
        transforms: ``callable(image, mask) -> sample``; ``None`` returns ``(PIL RGB image, uint8 array)``.
        skip_bad_images: warn and skip unreadable images instead of raising.

    Examples::

        >>> ds = VOCSegmentation("/data/voc", "val", transforms=SegmentationEvalTransform(520))  # doctest: +SKIP
        >>> image, mask = ds[0]  # doctest: +SKIP
        >>> image.shape, mask.shape  # doctest: +SKIP
        (torch.Size([3, 520, 693]), torch.Size([375, 500]))
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        num_classes: int = len(VOC_CLASSES),
        mask_dir: str = "SegmentationClass",
        transforms: Callable[[Image.Image, np.ndarray], Any] | None = None,
        skip_bad_images: bool = False,
    ) -> None:
        if not 1 <= num_classes <= IGNORE_INDEX:
            raise ValueError(f"num_classes must be in [1, {IGNORE_INDEX}], got {num_classes}")
        self.root = resolve_voc_root(root)
        self.split = split
        self.samples = read_split(self.root, split, mask_dir)
        self.num_classes = num_classes
        self.transforms = transforms
        self.skip_bad_images = skip_bad_images
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.samples)

    def image_path(self, index: int) -> Path:
        """The image file of sample ``index``."""
        return self.samples[index][0]

    @property
    def ids(self) -> list[str]:
        """Image ids (file stems) in dataset order."""
        return [image.stem for image, _ in self.samples]

    def __getitem__(self, index: int) -> Any:
        image, mask = self.load(index)
        return self.transforms(image, mask) if self.transforms is not None else (image, mask)

    def load(self, index: int) -> tuple[Image.Image, np.ndarray]:
        """The checked ``(RGB image, uint8 class-index mask)`` of ``index`` (or of the next readable sample)."""
        for offset in range(len(self)):
            i = (index + offset) % len(self)
            try:
                return self._read(*self.samples[i])
            except _Unreadable as e:
                if not self.skip_bad_images:
                    raise DataError(str(e)) from e.__cause__
                if e.path not in self._warned:
                    self._warned.add(e.path)
                    warnings.warn(f"skipping unreadable sample: {e}", RuntimeWarning, stacklevel=2)
        raise DataError(f"{self.root}: no readable sample in split {self.split!r}")

    def _read(self, image_path: Path, mask_path: Path) -> tuple[Image.Image, np.ndarray]:
        try:
            with Image.open(mask_path) as m:
                m.load()
                mode = m.mode
                mask = np.array(m) if mode in _MASK_MODES else None
        except (OSError, ValueError, SyntaxError) as e:
            raise _Unreadable(mask_path, f"{mask_path}: cannot read mask ({e})") from e
        if mask is None:
            raise DataError(
                f"{mask_path}: mask mode is {mode!r}; expected a palette ('P') or grayscale ('L') PNG of class indices"
            )
        try:  # the EXIF orientation is applied only when it makes the photo match its mask
            image = read_rgb(image_path, expected_size=(mask.shape[1], mask.shape[0]), size_must_match=False)
        except DataError as e:
            raise _Unreadable(image_path, str(e)) from e
        if mask.shape != (image.height, image.width):
            raise DataError(
                f"size mismatch: image {image_path} is {image.width}x{image.height} but mask {mask_path} is "
                f"{mask.shape[1]}x{mask.shape[0]}"
            )
        bad = np.unique(mask[(mask >= self.num_classes) & (mask != IGNORE_INDEX)])
        if bad.size:
            raise DataError(
                f"{mask_path}: label value(s) {bad.tolist()[:_MAX_LISTED]} outside [0, {self.num_classes}) "
                f"(255 marks ignored pixels); check num_classes"
            )
        return image, mask


class _Unreadable(Exception):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


@SEGMENTATION_FORMATS.register("voc")
def build_voc(data: Any, *, train: bool, transforms: Callable | None, num_classes: int) -> VOCSegmentation:
    """``data.train_split`` (masks from ``data.train_mask_dir``) or ``data.val_split`` (``SegmentationClass``) of the
    VOC tree at ``data.root``."""
    split, mask_dir = (data.train_split, data.train_mask_dir) if train else (data.val_split, "SegmentationClass")
    return VOCSegmentation(data.root, split, num_classes=num_classes, mask_dir=mask_dir, transforms=transforms,
                           skip_bad_images=data.skip_bad_images)  # fmt: skip
