"""COCO-format detection data: annotation file checks, category id <-> label mapping, and the dataset."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ghost_backbones.data.images import read_rgb
from ghost_backbones.engine import DataError

__all__ = ["CategoryMap", "CocoDetection", "load_coco_annotations"]


@dataclass(frozen=True)
class CategoryMap:
    """Contiguous training labels (1..N, 0 is the background) for a dataset's category ids, and back.

    Args:
        ids: the original category ids, in label order (label ``i + 1`` is ``ids[i]``).
        names: the category names, in the same order.

    Examples::

        >>> cats = CategoryMap.from_categories([{"id": 7, "name": "triangle"}, {"id": 1, "name": "circle"}])
        >>> cats.ids, cats.to_label(7), cats.to_id(1), cats.num_classes
        ((1, 7), 2, 1, 3)
    """

    ids: tuple[int, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.names):
            raise ValueError(f"ids and names must have the same length, got {len(self.ids)} and {len(self.names)}")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"category ids must be unique, got {list(self.ids)}")
        object.__setattr__(self, "_label_of", {cat_id: i + 1 for i, cat_id in enumerate(self.ids)})

    @classmethod
    def from_categories(cls, categories: list[dict[str, Any]]) -> CategoryMap:
        """Build the map from a COCO ``categories`` list (labels follow increasing ids, as torchvision's)."""
        ordered = sorted(categories, key=lambda c: c["id"])
        return cls(tuple(int(c["id"]) for c in ordered), tuple(str(c.get("name", c["id"])) for c in ordered))

    @property
    def num_classes(self) -> int:
        """Number of classes the detector predicts, the background included."""
        return len(self.ids) + 1

    def to_label(self, category_id: int) -> int:
        """Training label of an original category id."""
        return self._label_of[category_id]

    def to_id(self, label: int) -> int:
        """Original category id of a training label (1..N)."""
        if not 1 <= label <= len(self.ids):
            raise ValueError(f"label must be in [1, {len(self.ids)}], got {label}")
        return self.ids[label - 1]

    def name(self, label: int) -> str:
        """Category name of a training label."""
        self.to_id(label)  # checks the range
        return self.names[label - 1]

    def as_categories(self) -> list[dict[str, Any]]:
        """The COCO ``categories`` list (``id``, ``name``) in label order."""
        return [{"id": i, "name": n} for i, n in zip(self.ids, self.names)]


def load_coco_annotations(path: str | Path) -> dict[str, Any]:
    """Read and check a COCO instances file; return it cleaned (zero-size boxes dropped, defaults filled in).

    Checks: the file exists and is JSON with ``images``, ``annotations`` and ``categories``; every annotation has a
    4-number ``bbox``, a category listed in ``categories`` and an image listed in ``images`` (else ``DataError``
    naming the annotation id). Boxes with zero or negative width or height are dropped with one warning giving
    their count and first annotation ids. ``iscrowd`` defaults to 0 and ``area`` to the box area.

    Args:
        path: the annotation file (e.g. ``ROOT/annotations/instances_val2017.json``).

    Examples::

        >>> data = load_coco_annotations("data/annotations/instances_val2017.json")  # doctest: +SKIP
        >>> sorted(data)  # doctest: +SKIP
        ['annotations', 'categories', 'images']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a valid JSON file ({e})") from e
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data.get(key), list)]
    if missing:
        raise DataError(f"{path}: not a COCO instances file, missing list(s) {missing}")
    if not data["categories"]:
        raise DataError(f"{path}: 'categories' is empty")
    category_ids = set()
    for cat in data["categories"]:
        if not isinstance(cat, dict) or "id" not in cat:
            raise DataError(f"{path}: every category needs an 'id', got {cat!r}")
        if cat["id"] in category_ids:
            raise DataError(f"{path}: category id {cat['id']} is listed twice")
        category_ids.add(cat["id"])
    image_ids = set()
    for image in data["images"]:
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataError(f"{path}: every image needs an 'id' and a 'file_name', got {image!r}")
        image_ids.add(image["id"])

    kept, degenerate = [], []
    for ann in data["annotations"]:
        ann_id = ann.get("id")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
            raise DataError(f"{path}: annotation id {ann_id} has no valid 'bbox' [x, y, width, height], got {bbox!r}")
        if ann.get("category_id") not in category_ids:
            raise DataError(
                f"{path}: annotation id {ann_id} has category_id {ann.get('category_id')!r}, "
                f"which is not in 'categories' {sorted(category_ids)}"
            )
        if ann.get("image_id") not in image_ids:
            raise DataError(
                f"{path}: annotation id {ann_id} refers to image_id {ann.get('image_id')!r}, which is not in 'images'"
            )
        if bbox[2] <= 0 or bbox[3] <= 0:
            degenerate.append(ann_id)
            continue
        kept.append({**ann, "iscrowd": int(ann.get("iscrowd", 0)), "area": float(ann.get("area", bbox[2] * bbox[3]))})
    if degenerate:
        warnings.warn(
            f"{path}: dropped {len(degenerate)} annotation(s) with zero or negative box width/height "
            f"(first ids: {degenerate[:5]})",
            stacklevel=2,
        )
    return {"images": data["images"], "annotations": kept, "categories": data["categories"]}


class CocoDetection(Dataset):
    """COCO-format detection dataset giving ``(image, target)`` pairs for torchvision's detectors.

    ``target`` holds ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY pixels), ``labels`` (contiguous, see
    :class:`CategoryMap`) and ``image_id``. Crowd regions are left out of the targets (the evaluator reads them
    from :attr:`coco`); images without annotations are kept.

    Args:
        image_dir: folder holding the ``file_name`` of every image.
        annotation_file: the COCO instances JSON (checked by :func:`load_coco_annotations`).
        transforms: callable on ``(PIL image, target)`` (see :func:`detection.data.transforms.detection_transforms`).
        categories: the label mapping; ``None`` builds it from the file's categories.
        skip_bad_images: an unreadable image gives a warning with a count instead of an error; in training another
            image is returned in its place, in evaluation ``None`` (the collate function drops it).
        substitute_bad: return another image for a bad one (training) rather than ``None`` (evaluation).

    Examples::

        >>> ds = CocoDetection("data/val2017", "data/annotations/instances_val2017.json")  # doctest: +SKIP
        >>> image, target = ds[0]  # doctest: +SKIP
        >>> sorted(target)  # doctest: +SKIP
        ['boxes', 'image_id', 'labels']
    """

    def __init__(
        self,
        image_dir: str | Path,
        annotation_file: str | Path,
        transforms: Callable | None = None,
        *,
        categories: CategoryMap | None = None,
        skip_bad_images: bool = False,
        substitute_bad: bool = False,
    ):
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.image_dir}")
        self.annotation_file = Path(annotation_file)
        self.coco = load_coco_annotations(self.annotation_file)
        self.categories = categories or CategoryMap.from_categories(self.coco["categories"])
        unknown = sorted({c["id"] for c in self.coco["categories"]} - set(self.categories.ids))
        if unknown:
            raise DataError(
                f"{self.annotation_file}: category ids {unknown} are not among the training categories "
                f"{list(self.categories.ids)}"
            )
        self.images = self.coco["images"]
        self._anns: dict[Any, list[dict]] = {image["id"]: [] for image in self.images}
        for ann in self.coco["annotations"]:
            self._anns[ann["image_id"]].append(ann)
        self.transforms = transforms
        self.skip_bad_images = skip_bad_images
        self.substitute_bad = substitute_bad
        self.num_skipped = 0

    def __len__(self) -> int:
        return len(self.images)

    def aspect_ratio(self, index: int) -> float:
        """Width / height of image ``index`` from the annotation file (no image read)."""
        image = self.images[index]
        return float(image.get("width", 1)) / max(float(image.get("height", 1)), 1.0)

    def __getitem__(self, index: int):
        for attempt in range(len(self)):
            i = (index + attempt) % len(self)
            try:
                return self._load(i)
            except DataError as e:
                if not self.skip_bad_images:
                    raise
                self.num_skipped += 1
                message = f"skipped bad image: {e} ({self.num_skipped} skipped so far in this process)"
                warnings.warn(message, stacklevel=2)
                if not self.substitute_bad:
                    return None
        raise DataError(f"{self.image_dir}: no readable image left in the dataset")

    def _load(self, index: int):
        info = self.images[index]
        path = self.image_dir / info["file_name"]
        size = (info["width"], info["height"]) if "width" in info and "height" in info else None
        image = read_rgb(path, expected_size=size)
        anns = [a for a in self._anns[info["id"]] if not a["iscrowd"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        target = {
            "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(image.height, image.width)),
            "labels": torch.tensor([self.categories.to_label(a["category_id"]) for a in anns], dtype=torch.int64),
            "image_id": info["id"],
        }
        if self.transforms is not None:
            return self.transforms(image, target)
        return image, target
