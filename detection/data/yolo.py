"""YOLO txt labels in the ultralytics layout (the ``yolo`` data format), converted once, in memory, to COCO.

The layout ultralytics reads::

    ROOT/data.yaml                    names (a list, or {class id: name}), train / val image folders
    ROOT/images/{train,val}/*.jpg     (or .png ...; sub-folders are read too)
    ROOT/labels/{train,val}/*.txt     one "class cx cy w h" line per box, normalised by the image's width / height

``data.yaml`` holds ``train`` and ``val`` (an image folder, or a list of them, relative to ``path``), ``names`` and
optionally ``path`` (the dataset root, relative to the folder of ``data.yaml``; absent: that folder) and ``nc``.
An image's label file is ultralytics' rule: the last ``/images/`` of its path becomes ``/labels/``, its suffix
``.txt``. Class id ``k`` is category id ``k + 1`` with the ``k``-th name (labels 1..N). The ground truth becomes a
COCO instances dict (boxes in pixels, clipped to the image, ``area``, ``iscrowd`` 0), so training, COCO AP, predict
and export read it as COCO data; the files are never rewritten.

Bad input: a label line without 5 fields, a field that is no number, a class id outside ``0..N-1`` or a coordinate
outside 0..1 is a `DataError` naming ``file:line``; with ``skip_bad_images`` the image is left out instead (one
warning with the count, as ultralytics ignores a corrupt label). An image without a label file is an image without
objects, a label file without an image is not read: one warning with the count for each.

Examples::

    >>> import tempfile
    >>> from ghost_backbones.data.synthetic import make_shapes_yolo
    >>> root = make_shapes_yolo(f"{tempfile.mkdtemp()}/shapes_yolo", num_train=4, num_val=2, image_size=64)
    >>> ds = YoloDetection(root / "data.yaml", "val")
    >>> len(ds), ds.categories.names, ds.images[0]["file_name"]
    (2, ('circle', 'square', 'triangle'), 'images/val/000005.jpg')
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ghost_backbones.data.images import IMAGE_SUFFIXES, image_size
from ghost_backbones.engine import DataError
from ghost_backbones.engine.yamlfile import DuplicateKeyError, load_yaml

from .base import register_format
from .categories import CategoryMap
from .coco import CocoDetection, check_coco_annotations

__all__ = ["YoloData", "YoloDetection", "build_yolo", "label_path", "read_data_yaml", "read_labels", "yolo_to_coco"]

_FIELDS = ("class", "cx", "cy", "w", "h")


class YoloData(NamedTuple):
    """A parsed ``data.yaml``: the file, the dataset root, each split's image folders and the class names."""

    yaml_file: Path
    root: Path
    splits: dict[str, list[Path]]
    names: tuple[str, ...]


def _names(yaml_file: Path, names: Any, nc: Any) -> tuple[str, ...]:
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DataError(f"{yaml_file}: 'names' as a dict maps class ids 0..N-1 to names, got ids {list(names)}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names:
        raise DataError(f"{yaml_file}: 'names' must list the class names (a list, or {{id: name}}), got {names!r}")
    if nc is not None and nc != len(names):
        raise DataError(f"{yaml_file}: 'nc' is {nc!r} but 'names' has {len(names)} names")
    if len(set(map(str, names))) != len(names):
        raise DataError(f"{yaml_file}: 'names' repeats a name: {names}")
    return tuple(str(name) for name in names)


def read_data_yaml(path: str | Path) -> YoloData:
    """Read ``data.yaml`` (``path`` may be its folder); a `DataError` naming the file for a missing key or value."""
    yaml_file = Path(path) / "data.yaml" if Path(path).is_dir() else Path(path)
    if not yaml_file.is_file():
        raise FileNotFoundError(f"YOLO dataset file not found: {yaml_file} (data.root: the folder holding data.yaml, "
                                "or the .yaml file itself)")  # fmt: skip
    try:
        spec = load_yaml(yaml_file.read_text())
    except DuplicateKeyError as e:
        raise DataError(f"{yaml_file}: {e}") from e
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DataError(f"{yaml_file}: not a valid YAML file ({e})") from e
    if not isinstance(spec, dict):
        raise DataError(f"{yaml_file}: expected a mapping with 'train', 'val' and 'names', got {type(spec).__name__}")
    missing = [key for key in ("train", "val", "names") if not spec.get(key)]
    if missing:
        raise DataError(f"{yaml_file}: missing {missing} (a YOLO data.yaml has 'train', 'val' and 'names')")
    root = yaml_file.parent / str(spec.get("path") or ".")
    splits = {}
    for split in ("train", "val"):
        folders = spec[split] if isinstance(spec[split], list) else [spec[split]]
        splits[split] = [root / str(folder) for folder in folders]
        for folder in splits[split]:
            if not folder.is_dir():
                raise DataError(f"{yaml_file}: '{split}' names {folder}, which is not an image folder")
    return YoloData(yaml_file, root, splits, _names(yaml_file, spec["names"], spec.get("nc")))


def label_path(image: str | Path) -> Path:
    """The label file of an image, by ultralytics' rule (the last ``/images/`` -> ``/labels/``, suffix ``.txt``).

    Examples::

        >>> label_path("data/images/train/a.b.jpg").as_posix()
        'data/labels/train/a.b.txt'
    """
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(labels.join(str(image).rsplit(images, 1))).with_suffix(".txt")


def read_labels(path: Path, num_classes: int) -> list[tuple[int, float, float, float, float]]:
    """The ``(class, cx, cy, w, h)`` boxes of a label file, checked; a `DataError` naming ``file:line`` otherwise.

    Examples::

        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = path.write_text("0 0.5 0.5 0.2 0.4\\n2 0.1 0.1 0.3 0.3 0.9\\n")
        >>> read_labels(path, 3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.DataError: ...x.txt:2: expected 5 fields 'class cx cy w h', got 6
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the label file ({e})") from e
    boxes = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(_FIELDS):
            raise DataError(f"{path}:{number}: expected 5 fields 'class cx cy w h', got {len(fields)}")
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise DataError(f"{path}:{number}: expected 5 numbers 'class cx cy w h', got {line.strip()!r}") from None
        if not values[0].is_integer() or not 0 <= values[0] < num_classes:
            raise DataError(f"{path}:{number}: class id {fields[0]} is out of range: data.yaml names {num_classes} "
                            f"classes, ids 0..{num_classes - 1}")  # fmt: skip
        for name, value in zip(_FIELDS[1:], values[1:]):
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise DataError(f"{path}:{number}: {name}={fields[_FIELDS.index(name)]} is outside 0..1 (YOLO "
                                "coordinates are fractions of the image width / height)")  # fmt: skip
        boxes.append((int(values[0]), *values[1:]))
    return boxes


def _annotations(boxes: list, size: tuple[int, int], image_id: int, first_id: int) -> list[dict[str, Any]]:
    """COCO annotations of one image's YOLO boxes: pixels, clipped to the image (as ultralytics does)."""
    width, height = size
    annotations = []
    for cls, cx, cy, w, h in boxes:
        x0, y0 = max(cx - w / 2, 0.0) * width, max(cy - h / 2, 0.0) * height
        x1, y1 = min(cx + w / 2, 1.0) * width, min(cy + h / 2, 1.0) * height
        box = [x0, y0, x1 - x0, y1 - y0]
        annotations.append({"id": first_id + len(annotations), "image_id": image_id, "category_id": cls + 1,
                            "bbox": box, "area": box[2] * box[3], "iscrowd": 0})  # fmt: skip
    return annotations


def _warn(folder: Path, count: int, what: str, first: Sequence[Any]) -> None:
    if count:
        warnings.warn(f"{folder}: {count} {what} (first: {[str(f) for f in first[:3]]})", stacklevel=3)


def _split_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def yolo_to_coco(data: YoloData, split: str, *, skip_bad_images: bool = False) -> dict[str, Any]:
    """The ``split`` of a YOLO dataset as a COCO instances dict (image ids 1.., ``file_name`` under ``data.root``).

    Image sizes come from the image headers. See the module's docstring for the checks and warnings.
    """
    coco: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    coco["categories"] = [{"id": k + 1, "name": name} for k, name in enumerate(data.names)]
    for folder in data.splits[split]:
        unlabelled, bad, labels = [], [], set()
        for image in _split_images(folder):
            labels.add(label := label_path(image))
            try:
                size = image_size(image)
                boxes = read_labels(label, len(data.names)) if label.is_file() else None
            except DataError as e:
                if not skip_bad_images:
                    raise
                bad.append(e)
                continue
            if boxes is None:
                unlabelled.append(label)
            image_id = len(coco["images"]) + 1
            file_name = (
                image.relative_to(data.root).as_posix() if image.is_relative_to(data.root) else str(image.resolve())
            )
            coco["images"].append({"id": image_id, "file_name": file_name, "width": size[0], "height": size[1]})
            coco["annotations"] += _annotations(boxes or [], size, image_id, len(coco["annotations"]) + 1)
        label_dir = label_path(folder / "_").parent  # the labels folder parallel to the image folder
        orphans = sorted(set(label_dir.rglob("*.txt")) - labels) if label_dir.is_dir() else []
        _warn(folder, len(bad), "image(s) left out for a bad label or image (data.skip_bad_images)", bad)
        _warn(folder, len(unlabelled), "image(s) have no label file: read as images without objects", unlabelled)
        _warn(label_dir, len(orphans), "label file(s) have no image: not read", orphans)
    if not coco["images"]:
        raise DataError(f"{data.yaml_file}: no image ({', '.join(IMAGE_SUFFIXES)}) in {split} {data.splits[split]}")
    return coco


class YoloDetection(CocoDetection):
    """A YOLO dataset's split (see the module's docstring), read as :class:`CocoDetection` reads its COCO form.

    Args:
        yaml_file: ``data.yaml`` (or its folder).
        split: ``train`` or ``val``.
        transforms: callable on ``(PIL image, target)``.
        categories: the training split's label mapping; ``None``: ``data.yaml``'s names (ids 1..N). Names that
            differ from ``data.yaml``'s are an error.
        skip_bad_images: leave out an image whose label file is bad (a warning with the count) instead of failing;
            an unreadable image gives a warning too (see :class:`CocoDetection`).
        substitute_bad: return another image for a bad one (training) rather than ``None`` (evaluation).
    """

    def __init__(
        self,
        yaml_file: str | Path,
        split: str,
        transforms: Callable | None = None,
        *,
        categories: CategoryMap | None = None,
        skip_bad_images: bool = False,
        substitute_bad: bool = False,
    ):
        data = read_data_yaml(yaml_file)
        coco = yolo_to_coco(data, split, skip_bad_images=skip_bad_images)
        if categories is not None and categories.as_categories() != coco["categories"]:
            raise DataError(f"{data.yaml_file}: its names {list(data.names)} are not the training categories "
                            f"{list(categories.names)} (class id k is category k + 1)")  # fmt: skip
        coco = check_coco_annotations(data.yaml_file, coco)
        super().__init__(data.root, data.yaml_file, transforms, categories=categories, coco=coco,
                         skip_bad_images=skip_bad_images, substitute_bad=substitute_bad)  # fmt: skip


@register_format("yolo")
def build_yolo(
    data: Any, *, train: bool, transforms: Callable | None, categories: CategoryMap | None, masks: bool = False
) -> YoloDetection:
    """The ``train`` or ``val`` split of the YOLO dataset at ``data.root`` (``data.yaml``'s folder, or the file)."""
    split = "train" if train else "val"
    return YoloDetection(data.root, split, transforms, categories=categories, skip_bad_images=data.skip_bad_images,
                         substitute_bad=train)  # fmt: skip
