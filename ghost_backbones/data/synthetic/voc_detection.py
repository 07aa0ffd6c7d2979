"""Shapes detection dataset in the Pascal VOC detection layout (``torchvision.datasets.VOCDetection``).

The tree is the one the VOC devkit ships, so VOC2007 and VOC2012 can share one ``VOCdevkit`` ("07+12")::

    ROOT/VOCdevkit/VOC2007/Annotations/000001.xml ...
    ROOT/VOCdevkit/VOC2007/JPEGImages/000001.jpg ...
    ROOT/VOCdevkit/VOC2007/ImageSets/Main/{train,val,trainval}.txt
    ROOT/VOCdevkit/VOC2007/ImageSets/Main/<class>_{train,val,trainval}.txt   (" 1" / " 0" difficult only / "-1")
    ROOT/VOCdevkit/VOC2012/...  (ids 2012_000001 ...)

No ``test.txt`` is written: the val split is the held-out set.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from .checks import SceneOptions, check_options, prepare_output
from .scenes import SHAPE_CLASSES, Scene, draw_scene, image_rng

__all__ = ["VOC_DETECTION_YEARS", "VocObject", "make_shapes_voc_detection", "voc_annotation_xml"]

VOC_DETECTION_YEARS: tuple[str, ...] = ("2007", "2012")
"""The ``year`` values ``make_shapes_voc_detection`` writes (``VOCdevkit/VOC<year>``)."""

_SPLITS = ("train", "val")


class VocObject(NamedTuple):
    """One ``<object>``: class name, ``(xmin, ymin, xmax, ymax)`` in 1-based inclusive pixels, pixel area, flag."""

    name: str
    box: tuple[int, int, int, int]
    area: int
    difficult: bool = False


class _Image(NamedTuple):
    image_id: str
    size: tuple[int, int]
    objects: list[VocObject]


def voc_annotation_xml(image_id: str, *, year: str, size: tuple[int, int], objects: Sequence[VocObject]) -> str:
    """The ``Annotations/<image_id>.xml`` text, element for element as in the VOC devkit (tab-indented).

    Args:
        image_id: file stem; ``<filename>`` is ``<image_id>.jpg``.
        year: ``"2007"`` or ``"2012"`` (``<folder>VOC<year></folder>``).
        size: ``(width, height)`` of the image.
        objects: the boxes, written in order.

    Examples::

        >>> circle = VocObject("circle", box=(3, 5, 20, 22), area=227)
        >>> xml = voc_annotation_xml("000001", year="2007", size=(64, 48), objects=[circle])
        >>> print(xml.expandtabs(4))  # the file is tab-indented
        <annotation>
            <folder>VOC2007</folder>
            <filename>000001.jpg</filename>
            <source>
                <database>ghost-backbones synthetic shapes</database>
                <annotation>PASCAL VOC2007</annotation>
                <image>synthetic</image>
            </source>
            <size>
                <width>64</width>
                <height>48</height>
                <depth>3</depth>
            </size>
            <segmented>0</segmented>
            <object>
                <name>circle</name>
                <pose>Unspecified</pose>
                <truncated>0</truncated>
                <difficult>0</difficult>
                <bndbox>
                    <xmin>3</xmin>
                    <ymin>5</ymin>
                    <xmax>20</xmax>
                    <ymax>22</ymax>
                </bndbox>
            </object>
        </annotation>
        <BLANKLINE>
    """

    def add(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
        child = ET.SubElement(parent, tag)
        if text is not None:
            child.text = str(text)
        return child

    annotation = ET.Element("annotation")
    add(annotation, "folder", f"VOC{year}")
    add(annotation, "filename", f"{image_id}.jpg")
    source = add(annotation, "source")
    add(source, "database", "ghost-backbones synthetic shapes")
    add(source, "annotation", f"PASCAL VOC{year}")
    add(source, "image", "synthetic")
    size_element = add(annotation, "size")
    for tag, value in zip(("width", "height", "depth"), (*size, 3)):
        add(size_element, tag, value)
    add(annotation, "segmented", 0)
    for obj in objects:
        element = add(annotation, "object")
        add(element, "name", obj.name)
        add(element, "pose", "Unspecified")
        add(element, "truncated", 0)  # shapes lie fully inside the image
        add(element, "difficult", int(obj.difficult))
        box = add(element, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box):
            add(box, tag, value)
    ET.indent(annotation, space="\t")
    return ET.tostring(annotation, encoding="unicode") + "\n"


def _objects(scene: Scene, classes: Sequence[str]) -> list[VocObject]:
    """One object per drawn shape: the tight box of its full (amodal) mask in VOC's 1-based inclusive pixels."""
    objects = []
    for shape in scene.shapes:
        rows, cols = np.nonzero(shape.mask)
        if rows.size:  # a shape too thin to cover a pixel centre is not in the image
            box = (int(cols.min()) + 1, int(rows.min()) + 1, int(cols.max()) + 1, int(rows.max()) + 1)
            objects.append(VocObject(classes[shape.class_index], box, int(rows.size)))
    return objects


def _mark_difficult(images: list[_Image], fraction: float) -> list[_Image]:
    """Flag the ``ceil(fraction * N)`` smallest of the split's N objects (by pixel area, then order) as difficult."""
    order = [(obj.area, i, j) for i, image in enumerate(images) for j, obj in enumerate(image.objects)]
    count = math.ceil(fraction * len(order) - 1e-9)
    difficult = {(i, j) for _, i, j in sorted(order)[:count]}
    return [
        image._replace(objects=[obj._replace(difficult=(i, j) in difficult) for j, obj in enumerate(image.objects)])
        for i, image in enumerate(images)
    ]


def _check_year_and_fraction(year: str, difficult_fraction: float) -> None:
    if year not in VOC_DETECTION_YEARS:
        raise ValueError(f"year must be one of {VOC_DETECTION_YEARS}, got {year!r}")
    if (
        isinstance(difficult_fraction, bool)
        or not isinstance(difficult_fraction, (int, float, np.integer, np.floating))
        or not 0 <= difficult_fraction <= 1
    ):
        raise ValueError(f"difficult_fraction must be a number in [0, 1], got {difficult_fraction!r}")


def _write_image_sets(main_dir: Path, splits: dict[str, list[_Image]], classes: Sequence[str]) -> None:
    """``Main/<split>.txt`` (one id a line) and ``Main/<class>_<split>.txt`` (``id  1`` / ``id  0`` / ``id -1``)."""
    splits = {**splits, "trainval": splits["train"] + splits["val"]}
    for split, images in splits.items():
        (main_dir / f"{split}.txt").write_text("".join(f"{image.image_id}\n" for image in images))
        for name in classes:
            lines = []
            for image in images:
                flags = [obj.difficult for obj in image.objects if obj.name == name]
                flag = -1 if not flags else 0 if all(flags) else 1  # 0: only difficult instances
                lines.append(f"{image.image_id} {flag:2d}\n")
            (main_dir / f"{name}_{split}.txt").write_text("".join(lines))


def _draw_split(voc: Path, year: str, split: str, options: SceneOptions, bar: tqdm) -> list[_Image]:
    """Draw and save one split's JPEGs; return their ids, sizes and objects (none flagged difficult yet)."""
    first = 1 + options.num_train * (split == "val")  # ids run on from train to val
    prefix = "" if year == "2007" else f"{year}_"  # 000001 as in VOC2007, 2012_000001 like VOC2012's 2008_000002
    images = []
    for index in range(options.num_train if split == "train" else options.num_val):
        rng = image_rng(options.seed, f"voc{year}-det", split, index)
        scene = draw_scene(rng, options.size_range, options.classes, options.max_objects)
        image_id = f"{prefix}{first + index:06d}"
        scene.image.save(voc / "JPEGImages" / f"{image_id}.jpg", quality=92)
        images.append(_Image(image_id, scene.size, _objects(scene, options.classes)))
        bar.update()
    return images


def make_shapes_voc_detection(
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
    year: str = "2007",
    difficult_fraction: float = 0.1,
) -> Path:
    """Write a shapes detection dataset in the Pascal VOC detection layout (``VOCDetection(root, year=year)``).

    Files under ``root/VOCdevkit/VOC<year>``: ``JPEGImages/<id>.jpg``, ``Annotations/<id>.xml`` (see
    ``voc_annotation_xml``) and ``ImageSets/Main/{train,val,trainval}.txt`` plus the per-class
    ``<class>_{train,val,trainval}.txt``; no ``test.txt``. Ids are ``000001 ...`` for 2007 and ``2012_000001 ...``
    for 2012, train first. The scenes are those of ``make_shapes_coco`` (1..``max_objects`` shapes, fully inside the
    image: ``truncated`` is 0); each box is the tight box of the full shape in 1-based inclusive pixels, so
    ``xmin - 1`` is the 0-based left column. In each split the ``ceil(difficult_fraction * N)`` smallest of its N
    objects (by pixel area) are ``<difficult>1</difficult>``. Writing both years into one ``root`` gives "07+12".

    Args:
        root: output directory (created if missing); ``VOCdevkit/VOC<year>`` is written inside it.
        num_train: number of train images (>= 1).
        num_val: number of val images (>= 1).
        image_size: side of square images, or a ``(min, max)`` range from which width and height are drawn
            independently. Sides must be >= 32.
        max_objects: most shapes per image (>= 1).
        seed: non-negative seed; the same seed gives the same files (and different images for each year).
        classes: shapes to draw, names from ``AVAILABLE_SHAPES``; ``<name>`` is the shape's name.
        overwrite: regenerate over an existing dataset of this year instead of raising ``FileExistsError``.
        progress: show a tqdm progress bar.
        year: ``"2007"`` or ``"2012"``.
        difficult_fraction: fraction of each split's objects flagged difficult, in [0, 1].

    Returns:
        ``root`` as a ``Path`` (the parent of ``VOCdevkit``: pass it as ``--data-path``).

    Examples::

        >>> import tempfile
        >>> root = make_shapes_voc_detection(f"{tempfile.mkdtemp()}/shapes_voc", num_train=8, num_val=4, image_size=96)
        >>> from torchvision.datasets import VOCDetection
        >>> image, target = VOCDetection(str(root), year="2007", image_set="val")[0]
        >>> print(image.size, target["annotation"]["filename"], sorted(target["annotation"]["object"][0]))
        (96, 96) 000009.jpg ['bndbox', 'difficult', 'name', 'pose', 'truncated']
    """
    options = check_options(
        num_train=num_train, num_val=num_val, image_size=image_size, max_objects=max_objects, seed=seed, classes=classes
    )
    _check_year_and_fraction(year, difficult_fraction)
    root = Path(root)
    voc = root / "VOCdevkit" / f"VOC{year}"
    main_dir = voc / "ImageSets" / "Main"
    prepare_output(root, [main_dir / f"{split}.txt" for split in (*_SPLITS, "trainval")], overwrite)
    for directory in (voc / "Annotations", voc / "JPEGImages", main_dir):
        directory.mkdir(parents=True, exist_ok=True)

    splits: dict[str, list[_Image]] = {}
    total = options.num_train + options.num_val
    with tqdm(total=total, desc=f"shapes (VOC{year} detection)", unit="img", disable=not progress) as bar:
        for split in _SPLITS:
            splits[split] = _mark_difficult(_draw_split(voc, year, split, options, bar), difficult_fraction)
            for image in splits[split]:
                xml = voc_annotation_xml(image.image_id, year=year, size=image.size, objects=image.objects)
                (voc / "Annotations" / f"{image.image_id}.xml").write_text(xml)
    _write_image_sets(main_dir, splits, options.classes)
    return root
