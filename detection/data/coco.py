"""COCO-format detection data: annotation file checks and the dataset (the ``coco`` data format)."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torchvision import tv_tensors

from ghost_backbones.data.images import read_rgb
from ghost_backbones.engine import DataError

from .base import register_format
from .categories import CategoryMap
from .masks import check_segmentations, segmentation_masks
from .skipping import SkippingDataset

__all__ = ["CategoryMap", "CocoDetection", "build_coco", "check_coco_annotations", "load_coco_annotations"]


def load_coco_annotations(path: str | Path, *, allow_duplicate_annotation_ids: bool = False) -> dict[str, Any]:
    """Read and check a COCO instances file; return it cleaned (boxes checked, defaults filled in).

    Errors (`DataError` naming the file and the ids): not JSON, a top level that is not an object, a missing
    ``images`` / ``annotations`` / ``categories`` list, category ids that are not integers or repeat, image ids that
    repeat, annotation ids that repeat (unless ``allow_duplicate_annotation_ids``: then a warning), an annotation
    without an ``id``, a ``bbox`` that is not 4 numbers (``true`` is no number), a NaN or infinite ``bbox`` value, a
    ``category_id`` that is not an integer listed in ``categories``, an ``image_id`` not listed in ``images``.

    Warnings, one per kind with the count and the first ids; the box is then dropped or clipped, so training and
    evaluation see the same objects: zero or negative width / height (dropped), a box entirely outside its image
    (dropped), a box reaching more than 1 pixel past the image edge (clipped). ``iscrowd`` defaults to 0 and
    ``area`` to the box area.

    Args:
        path: the annotation file (e.g. ``ROOT/annotations/instances_val2017.json``).
        allow_duplicate_annotation_ids: warn instead of failing on repeated annotation ids (harmless in training;
            pycocotools' evaluation would silently keep one of them).

    Examples::

        >>> data = load_coco_annotations("data/annotations/instances_val2017.json")  # doctest: +SKIP
        >>> sorted(data)  # doctest: +SKIP
        ['annotations', 'categories', 'images']
    """
    path = Path(path)
    return check_coco_annotations(path, _read_json(path), allow_duplicate_annotation_ids=allow_duplicate_annotation_ids)


def check_coco_annotations(
    path: Path, data: dict[str, Any], *, allow_duplicate_annotation_ids: bool = False
) -> dict[str, Any]:
    """:func:`load_coco_annotations`' checks on a COCO instances dict already in memory (a converted format);
    ``path`` is the file named in the messages."""
    category_ids = _check_categories(path, data["categories"])
    sizes = _check_images(path, data["images"])
    _check_annotation_ids(path, data["annotations"], allow_duplicate_annotation_ids)
    dropped: dict[str, list[Any]] = {"zero or negative box width/height": [], "box entirely outside its image": []}
    clipped: list[Any] = []
    kept = []
    for ann in data["annotations"]:
        bbox = _checked_bbox(path, ann, category_ids, sizes)
        if bbox[2] <= 0 or bbox[3] <= 0:
            dropped["zero or negative box width/height"].append(ann["id"])
            continue
        inside = _clip(bbox, sizes[ann["image_id"]])
        if inside is None:
            dropped["box entirely outside its image"].append(ann["id"])
            continue
        if max(abs(a - b) for a, b in zip(inside, bbox)) > 1.0:
            clipped.append(ann["id"])
        area = ann.get("area", inside[2] * inside[3])
        kept.append({**ann, "bbox": inside, "iscrowd": int(ann.get("iscrowd", 0)), "area": float(area)})
    for reason, ids in dropped.items():
        if ids:
            warnings.warn(
                f"{path}: dropped {len(ids)} annotation(s) with {reason} (first ids: {ids[:5]})", stacklevel=2
            )
    if clipped:
        warnings.warn(
            f"{path}: clipped {len(clipped)} box(es) reaching more than 1 pixel past their image's edge to the image "
            f"(first ids: {clipped[:5]})",
            stacklevel=2,
        )
    return {"images": data["images"], "annotations": kept, "categories": data["categories"]}


def _as_in_the_file(data: dict[str, Any]) -> dict[str, Any]:
    """The annotations of a checked COCO file as they are, ``iscrowd`` (0) and ``area`` (the box's) filled in where
    missing, for pycocotools (which needs both)."""
    annotations = [
        {**ann, "iscrowd": int(ann.get("iscrowd", 0)), "area": float(ann.get("area", ann["bbox"][2] * ann["bbox"][3]))}
        for ann in data["annotations"]
    ]
    return {"images": data["images"], "annotations": annotations, "categories": data["categories"]}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a valid JSON file ({e})") from e
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: a COCO instances file is a JSON object with 'images', 'annotations' and 'categories'; this "
            f"one's top level is a {type(data).__name__}"
        )
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data.get(key), list)]
    if missing:
        raise DataError(f"{path}: not a COCO instances file, missing list(s) {missing}")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: Any) -> bool:
    """An image or annotation id: an integer (COCO), or a string as some converters write."""
    return _is_int(value) or isinstance(value, str)


def _first_repeated(values: list[Any]) -> list[Any]:
    return [value for value, count in Counter(values).items() if count > 1]


def _check_categories(path: Path, categories: list[Any]) -> set[int]:
    if not categories:
        raise DataError(f"{path}: 'categories' is empty")
    for cat in categories:
        if not isinstance(cat, dict) or "id" not in cat:
            raise DataError(f"{path}: every category needs an 'id', got {cat!r}")
        if not _is_int(cat["id"]):
            raise DataError(f"{path}: category {cat!r} has id {cat['id']!r}; COCO category ids are integers")
    repeated = _first_repeated([cat["id"] for cat in categories])
    if repeated:
        raise DataError(f"{path}: category id {repeated[0]} is listed twice")
    return {cat["id"] for cat in categories}


def _check_images(path: Path, images: list[Any]) -> dict[Any, tuple[float, float] | None]:
    """``{image id: (width, height) or None}``; repeated ids are an error."""
    for image in images:
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataError(f"{path}: every image needs an 'id' and a 'file_name', got {image!r}")
        if not _is_id(image["id"]):
            raise DataError(f"{path}: image {image['file_name']!r} has id {image['id']!r}; ids are integers")
    repeated = _first_repeated([image["id"] for image in images])
    if repeated:
        raise DataError(
            f"{path}: {len(repeated)} image id(s) are listed more than once in 'images' (first: {repeated[:5]}); "
            "each image needs its own id"
        )
    sizes = {}
    for image in images:
        width, height = image.get("width"), image.get("height")
        known = all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (width, height))
        sizes[image["id"]] = (float(width), float(height)) if known else None
    return sizes


def _check_annotation_ids(path: Path, annotations: list[Any], allow_duplicates: bool) -> None:
    for index, ann in enumerate(annotations):
        if not isinstance(ann, dict) or "id" not in ann:
            raise DataError(f"{path}: annotation #{index} has no 'id' (COCO annotations need one), got {ann!r}")
        if not _is_id(ann["id"]):
            raise DataError(f"{path}: annotation #{index} has id {ann['id']!r}; ids are integers")
    repeated = _first_repeated([ann["id"] for ann in annotations])
    if not repeated:
        return
    message = f"{path}: {len(repeated)} annotation id(s) are used more than once (first: {repeated[:5]})"
    if not allow_duplicates:
        raise DataError(f"{message}; the evaluation needs one id per annotation")
    warnings.warn(message, stacklevel=3)


def _checked_bbox(
    path: Path, ann: dict[str, Any], category_ids: set[int], sizes: dict[Any, tuple[float, float] | None]
) -> list[float]:
    """The annotation's ``bbox`` as 4 finite floats, or a `DataError` naming the annotation."""
    ann_id, bbox = ann["id"], ann.get("bbox")
    numbers = isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)
    if not numbers or any(isinstance(v, bool) for v in bbox):
        raise DataError(f"{path}: annotation id {ann_id} has no valid 'bbox' [x, y, width, height], got {bbox!r}")
    if not all(math.isfinite(v) for v in bbox):
        raise DataError(f"{path}: annotation id {ann_id} has a non-finite 'bbox' value (NaN or infinity): {bbox!r}")
    category = ann.get("category_id")
    if not _is_int(category):
        raise DataError(
            f"{path}: annotation id {ann_id} has category_id {category!r} ({type(category).__name__}); COCO "
            f"category ids are integers, one of {sorted(category_ids)}"
        )
    if category not in category_ids:
        raise DataError(
            f"{path}: annotation id {ann_id} has category_id {category!r}, "
            f"which is not in 'categories' {sorted(category_ids)}"
        )
    if ann.get("image_id") not in sizes:
        raise DataError(
            f"{path}: annotation id {ann_id} refers to image_id {ann.get('image_id')!r}, which is not in 'images'"
        )
    return [float(v) for v in bbox]


def _clip(bbox: list[float], size: tuple[float, float] | None) -> list[float] | None:
    """``bbox`` (x, y, w, h) clipped to an image of ``size`` (unknown: as is); ``None`` when nothing is inside."""
    if size is None:
        return bbox
    x0, y0 = max(bbox[0], 0.0), max(bbox[1], 0.0)
    x1, y1 = min(bbox[0] + bbox[2], size[0]), min(bbox[1] + bbox[3], size[1])
    if x1 <= x0 or y1 <= y0:
        return None
    return [x0, y0, x1 - x0, y1 - y0]


class CocoDetection(SkippingDataset):
    """COCO-format detection dataset giving ``(image, target)`` pairs for torchvision's detectors.

    ``target`` holds ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY pixels), ``labels`` (contiguous, see
    :class:`CategoryMap`), ``image_id`` and, with ``masks``, ``masks`` (``tv_tensors.Mask``, ``(N, H, W)`` uint8 0/1,
    one per box). Crowd regions are left out of the targets (the evaluator reads them from :attr:`coco`); images
    without annotations are kept.

    Args:
        image_dir: folder holding the ``file_name`` of every image.
        annotation_file: the COCO instances JSON (checked by :func:`load_coco_annotations`).
        transforms: callable on ``(PIL image, target)`` (see :func:`detection.data.transforms.detection_transforms`).
        categories: the label mapping; ``None`` builds it from the file's categories.
        skip_bad_images: an unreadable image gives a warning with a count instead of an error; in training another
            image is returned in its place, in evaluation ``None`` (the collate function drops it).
        substitute_bad: return another image for a bad one (training) rather than ``None`` (evaluation).
        allow_duplicate_annotation_ids: warn about repeated annotation ids instead of failing (training; the
            evaluation needs unique ids).
        masks: instance masks too (Mask R-CNN): every annotation's ``segmentation`` (polygons, compressed or
            uncompressed RLE) is checked when the file is read (:func:`detection.data.masks.check_segmentations`)
            and decoded with each image. Box detectors leave it off and never decode a mask.
        coco: the ground truth already in memory, checked (another format converted, see
            :class:`detection.data.yolo.YoloDetection`); ``annotation_file`` is then only named in messages.

    Attributes:
        coco: the ground truth cleaned for training (boxes clipped to the image, empty ones dropped).
        evaluation_coco: the ground truth the COCO evaluation reads: the file's annotations as they are (only a
            missing ``iscrowd`` / ``area`` filled in), as pycocotools run on the file sees them.

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
        allow_duplicate_annotation_ids: bool = False,
        masks: bool = False,
        coco: dict[str, Any] | None = None,
    ):
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.image_dir}")
        self.annotation_file = Path(annotation_file)
        self.evaluation_coco = coco  # another format converted: the ground truth is what was converted
        if coco is None:
            raw = _read_json(self.annotation_file)
            coco = check_coco_annotations(
                self.annotation_file, raw, allow_duplicate_annotation_ids=allow_duplicate_annotation_ids
            )
            self.evaluation_coco = _as_in_the_file(raw)
        self.coco = coco
        if masks:
            check_segmentations(self.annotation_file, self.coco)
            if self.evaluation_coco is not self.coco:
                with warnings.catch_warnings():  # said once, above
                    warnings.simplefilter("ignore")
                    check_segmentations(self.annotation_file, self.evaluation_coco)
        self.masks = masks
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

    def image_path(self, index: int) -> Path:
        """The file of image ``index``."""
        return self.image_dir / self.images[index]["file_name"]

    def _load(self, index: int):
        info = self.images[index]
        path = self.image_path(index)
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
        if self.masks:
            target["masks"] = tv_tensors.Mask(segmentation_masks(anns, image.height, image.width))
        if self.transforms is not None:
            return self.transforms(image, target)
        return image, target


@register_format("coco", masks=True)
def build_coco(
    data: Any, *, train: bool, transforms: Callable | None, categories: CategoryMap | None, masks: bool = False
) -> CocoDetection:
    """The ``data.train_*`` or ``data.val_*`` split (images, annotation file under ``data.root``; an absolute path
    stays as it is). Training tolerates repeated annotation ids (a warning) and returns another image for an
    unreadable one (with ``data.skip_bad_images``)."""
    images, annotations = (
        (data.train_images, data.train_annotations) if train else (data.val_images, data.val_annotations)
    )
    root = Path(data.root)
    return CocoDetection(root / images, root / annotations, transforms, categories=categories,
                         skip_bad_images=data.skip_bad_images, substitute_bad=train,
                         allow_duplicate_annotation_ids=train, masks=masks)  # fmt: skip
