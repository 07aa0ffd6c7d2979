"""PASCAL VOC detection data: ``VOCdevkit/VOC<year>`` XML annotations, one or several years ("07+12").

The devkit's boxes are 1-based and inclusive (``xmin = 1`` is the first column, ``xmax`` the last covered one);
torchvision's are 0-based ``[x1, x2)`` pixels, so ``x1 = xmin - 1`` and ``x2 = xmax`` (same for y).
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torchvision import tv_tensors

from ghost_backbones.data.images import read_rgb
from ghost_backbones.engine import DataError

from .base import register_format
from .categories import CategoryMap
from .skipping import SkippingDataset

__all__ = ["VOC_CLASSES", "VocDetection", "VocImage", "parse_voc_xml", "build_voc", "read_voc_split", "voc_categories"]

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
"""The 20 PASCAL VOC classes, in the devkit's order (labels 1..20)."""


class VocImage(NamedTuple):
    """One annotated image: its file, ``(width, height)``, 0-based XYXY boxes, class names and difficult flags.

    ``other_filename`` is the ``<filename>`` of the XML when it names another image than the file's id (``""``
    when it agrees or is missing); the image is the id's all the same.
    """

    image_path: Path
    size: tuple[int, int]
    boxes: list[tuple[float, float, float, float]]
    names: list[str]
    difficult: list[bool]
    other_filename: str = ""


def voc_categories(class_names: Sequence[str] = ()) -> CategoryMap:
    """The `CategoryMap` of VOC class names: ids (and labels) 1..N in the given order; empty: the 20 VOC classes.

    Examples::

        >>> cats = voc_categories(["circle", "square"])
        >>> cats.ids, cats.names, cats.num_classes
        ((1, 2), ('circle', 'square'), 3)
    """
    names = tuple(class_names) or VOC_CLASSES
    return CategoryMap(tuple(range(1, len(names) + 1)), names)


def _text(element: ET.Element, path: str, xml_path: Path) -> str:
    found = element.findtext(path)
    if found is None or not found.strip():
        raise DataError(f"{xml_path}: no <{path}> in the annotation")
    return found.strip()


def _number(element: ET.Element, path: str, xml_path: Path) -> float:
    text = _text(element, path, xml_path)
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{xml_path}: <{path}> must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{xml_path}: <{path}> must be a finite number, got {text!r}")
    return value


def parse_voc_xml(xml_path: str | Path, image_dir: str | Path, class_names: Sequence[str]) -> VocImage:
    """Read one ``Annotations/<id>.xml``; every problem is a `DataError` naming the file.

    Errors: not well-formed XML, no positive ``<size>``, an ``<object>`` whose ``<name>`` is not in ``class_names``,
    a box with ``xmin > xmax`` or ``ymin > ymax`` (``xmin == xmax`` is a 1-pixel box: the devkit's boxes are
    inclusive), a box reaching outside the image (``xmin < 1`` or ``xmax > width``).

    Args:
        xml_path: the annotation file.
        image_dir: the ``JPEGImages`` folder. The image is ``<id>.jpg``, ``<id>`` being the XML's name, as the devkit
            and torchvision read it (``<id>.png`` when ``<filename>`` says so); a ``<filename>`` naming another image is
            kept in ``other_filename``, not followed.
        class_names: the known class names.

    Examples::

        >>> image = parse_voc_xml("VOCdevkit/VOC2007/Annotations/000001.xml", "VOCdevkit/VOC2007/JPEGImages",
        ...                       VOC_CLASSES)  # doctest: +SKIP
        >>> image.boxes[0], image.names[0], image.difficult[0]  # doctest: +SKIP
        ((47.0, 239.0, 195.0, 371.0), 'dog', False)
    """
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise DataError(f"{xml_path}: not a well-formed XML file ({e})") from e
    except OSError as e:
        raise DataError(f"{xml_path}: cannot read the annotation file ({e})") from e
    width, height = (int(_number(root, f"size/{key}", xml_path)) for key in ("width", "height"))
    if width <= 0 or height <= 0:
        raise DataError(f"{xml_path}: <size> must be positive, got width {width}, height {height}")
    recorded = (root.findtext("filename") or "").strip()
    image_id = xml_path.stem
    agrees = not recorded or Path(recorded).stem == image_id
    filename = recorded if agrees and Path(recorded).suffix else f"{image_id}.jpg"
    boxes, names, difficult = [], [], []
    for index, obj in enumerate(root.iter("object")):
        name = _text(obj, "name", xml_path)
        if name not in class_names:
            raise DataError(f"{xml_path}: object #{index} has class {name!r}, which is not one of {list(class_names)}")
        x0, y0, x1, y1 = (_number(obj, f"bndbox/{key}", xml_path) for key in ("xmin", "ymin", "xmax", "ymax"))
        if x0 > x1 or y0 > y1:
            raise DataError(
                f"{xml_path}: object #{index} ({name}) has an empty box: xmin={x0:g} > xmax={x1:g} or "
                f"ymin={y0:g} > ymax={y1:g}"
            )
        if x0 < 1 or y0 < 1 or x1 > width or y1 > height:
            raise DataError(
                f"{xml_path}: object #{index} ({name}) box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) reaches outside the "
                f"{width}x{height} image (1-based inclusive pixels: 1 <= xmin, xmax <= width)"
            )
        boxes.append((x0 - 1, y0 - 1, x1, y1))
        names.append(name)
        difficult.append(obj.findtext("difficult", "0").strip() == "1")
    other = "" if agrees else recorded
    return VocImage(Path(image_dir) / filename, (width, height), boxes, names, difficult, other)


def _warn_other_filenames(split_file: Path, images: Sequence[VocImage]) -> None:
    """One warning with a count for the annotations whose ``<filename>`` names another image than their id."""
    other = [image for image in images if image.other_filename]
    if other:
        first = ", ".join(f"{image.image_path.stem}.xml names {image.other_filename!r}" for image in other[:3])
        warnings.warn(
            f"{split_file}: {len(other)} annotation(s) of {len(images)} name another image in <filename> than their "
            f"id (first: {first}); each is read with the image of its id (JPEGImages/<id>.jpg), as the devkit does",
            UserWarning,
            stacklevel=3,
        )


def read_voc_split(voc_dir: str | Path, split: str) -> list[str]:
    """The image ids of ``VOC<year>/ImageSets/Main/<split>.txt``, in order; repeated ids are kept once (a warning).

    Raises ``FileNotFoundError`` naming the split file when it is missing, `DataError` when it is empty.

    Examples::

        >>> read_voc_split("data/voc/VOCdevkit/VOC2007", "trainval")[:2]  # doctest: +SKIP
        ['000005', '000007']
    """
    path = Path(voc_dir) / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"VOC split file not found: {path}")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{path}: the split lists no image")
    repeated = [image_id for image_id, count in Counter(ids).items() if count > 1]
    if repeated:
        warnings.warn(
            f"{path}: {len(repeated)} image id(s) are listed more than once (first: {repeated[:5]}); each is read once",
            stacklevel=2,
        )
    return list(dict.fromkeys(ids))


class VocDetection(SkippingDataset):
    """PASCAL VOC detection over one or several years, giving what :class:`CocoDetection` gives.

    ``target`` holds ``boxes`` (``tv_tensors.BoundingBoxes``, 0-based XYXY pixels), ``labels`` (1..N for the class
    names, see :func:`voc_categories`) and ``image_id`` (the index in this dataset). Difficult objects are left out
    of the targets, as the VOC protocol trains without them; with ``keep_difficult`` (evaluation) they are kept,
    flagged by ``target["difficult"]`` (a bool mask) so the metric ignores them. :attr:`coco` is the same ground
    truth as a COCO instances dict (difficult objects as ``iscrowd=1``, which COCO's evaluation ignores too).

    Args:
        root: the folder holding ``VOCdevkit/``.
        years: the years read, concatenated in order (``["2007", "2012"]``: "07+12").
        split: ``ImageSets/Main/<split>.txt`` of every year (``train``, ``val``, ``trainval``, ``test``).
        transforms: callable on ``(PIL image, target)`` (see :func:`detection.data.transforms.detection_transforms`).
        categories: the label mapping (its names are the class names); ``None``: the 20 VOC classes.
        keep_difficult: keep difficult objects in the targets with a ``difficult`` mask (evaluation).
        skip_bad_images: an unreadable image gives a warning with a count instead of an error; in training another
            image is returned in its place, in evaluation ``None`` (the collate function drops it).
        substitute_bad: return another image for a bad one (training) rather than ``None`` (evaluation).

    Examples::

        >>> ds = VocDetection("data/voc", ["2007", "2012"], "trainval")  # doctest: +SKIP
        >>> image, target = ds[0]  # doctest: +SKIP
        >>> sorted(target)  # doctest: +SKIP
        ['boxes', 'image_id', 'labels']
    """

    def __init__(
        self,
        root: str | Path,
        years: Sequence[str],
        split: str,
        transforms: Callable | None = None,
        *,
        categories: CategoryMap | None = None,
        keep_difficult: bool = False,
        skip_bad_images: bool = False,
        substitute_bad: bool = False,
    ):
        self.image_dir = Path(root) / "VOCdevkit"  # named in errors, as CocoDetection's image folder
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"VOCdevkit folder not found: {self.image_dir}")
        if not years:
            raise ValueError("years must name at least one VOC year, got []")
        self.categories = categories or voc_categories()
        year_dirs = f"VOC{years[0]}" if len(years) == 1 else "VOC{" + ",".join(years) + "}"
        self.annotation_file = self.image_dir / year_dirs / "ImageSets" / "Main" / f"{split}.txt"  # named in errors
        self.images: list[VocImage] = []
        for year in years:
            voc_dir = self.image_dir / f"VOC{year}"
            for image_id in read_voc_split(voc_dir, split):
                xml_path = voc_dir / "Annotations" / f"{image_id}.xml"
                if not xml_path.is_file():
                    raise DataError(f"{voc_dir / 'ImageSets' / 'Main' / f'{split}.txt'}: lists {image_id!r}, but "
                                    f"{xml_path} does not exist")  # fmt: skip
                self.images.append(parse_voc_xml(xml_path, voc_dir / "JPEGImages", self.categories.names))
        _warn_other_filenames(self.annotation_file, self.images)
        self._label_of = {name: i + 1 for i, name in enumerate(self.categories.names)}
        self.transforms = transforms
        self.keep_difficult = keep_difficult
        self.skip_bad_images = skip_bad_images
        self.substitute_bad = substitute_bad
        self.num_skipped = 0
        self._coco: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def evaluation_coco(self) -> dict[str, Any]:
        """The ground truth COCO AP reads: :attr:`coco` (the XML's boxes are checked, never clipped)."""
        return self.coco

    def aspect_ratio(self, index: int) -> float:
        """Width / height of image ``index`` from its annotation (no image read)."""
        width, height = self.images[index].size
        return width / height

    @property
    def coco(self) -> dict[str, Any]:
        """The ground truth as a COCO instances dict (image ids = indices; difficult objects ``iscrowd=1``)."""
        if self._coco is None:
            images, annotations = [], []
            for index, image in enumerate(self.images):
                images.append({"id": index, "file_name": str(image.image_path), "width": image.size[0],
                               "height": image.size[1]})  # fmt: skip
                for (x0, y0, x1, y1), name, hard in zip(image.boxes, image.names, image.difficult):
                    annotations.append({
                        "id": len(annotations) + 1, "image_id": index, "category_id": self._label_of[name],
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": int(hard),
                        "difficult": hard,
                    })  # fmt: skip
            self._coco = {"images": images, "annotations": annotations, "categories": self.categories.as_categories()}
        return self._coco

    def image_path(self, index: int) -> Path:
        """The file of image ``index``."""
        return self.images[index].image_path

    def _load(self, index: int):
        info = self.images[index]
        image = read_rgb(info.image_path, expected_size=info.size)
        keep = [k for k, hard in enumerate(info.difficult) if self.keep_difficult or not hard]
        boxes = torch.tensor([info.boxes[k] for k in keep], dtype=torch.float32).reshape(-1, 4)
        target = {
            "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(image.height, image.width)),
            "labels": torch.tensor([self._label_of[info.names[k]] for k in keep], dtype=torch.int64),
            "image_id": index,
        }
        if self.keep_difficult:
            target["difficult"] = torch.tensor([info.difficult[k] for k in keep], dtype=torch.bool)
        if self.transforms is not None:
            return self.transforms(image, target)
        return image, target


@register_format("voc", voc_metric=True)
def build_voc(
    data: Any, *, train: bool, transforms: Callable | None, categories: CategoryMap | None, masks: bool = False
) -> VocDetection:
    """``data.voc_years`` / ``data.train_split`` (training) or ``data.voc_val_years`` / ``data.val_split`` under
    ``data.root/VOCdevkit``; the evaluation split keeps the difficult objects, flagged, for the metric to ignore.
    ``masks`` is refused by the config (VOC detection XML has none)."""
    years, split = (data.voc_years, data.train_split) if train else (data.voc_val_years, data.val_split)
    categories = categories or voc_categories(data.class_names)
    return VocDetection(data.root, years, split, transforms, categories=categories, keep_difficult=not train,
                        skip_bad_images=data.skip_bad_images, substitute_bad=train)  # fmt: skip
