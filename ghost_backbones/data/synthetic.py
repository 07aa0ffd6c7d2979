"""Synthetic shapes datasets written in the real COCO and Pascal VOC on-disk layouts.

Offline there is no dataset to download, so the demo, the tests and users' smoke tests train on generated shapes
(circles, squares, triangles) drawn with PIL on a lightly textured background. The files are byte-for-byte the
formats the real loaders read, so the same ``--data-path`` code path serves both real and synthetic data:

* COCO (``make_shapes_coco``), the torchvision ``references/detection`` layout::

      ROOT/annotations/instances_{train,val}2017.json
      ROOT/{train,val}2017/000000000001.jpg ...

  Category ids are deliberately not contiguous (``circle=1, square=3, triangle=7``, like COCO's gaps), a few val
  images hold no object, and ``crowd=True`` adds ``iscrowd=1`` regions with an uncompressed-RLE segmentation.
  Every annotation describes the *full* shape (amodal): ``bbox`` is the tight box of the polygon in
  ``segmentation`` and ``area`` is the pixel area of that polygon, also where a later shape partly covers it.
* Pascal VOC (``make_shapes_voc``), the layout ``torchvision.datasets.VOCSegmentation(ROOT, year="2012")`` reads::

      ROOT/VOCdevkit/VOC2012/JPEGImages/shapes_000000.jpg ...
      ROOT/VOCdevkit/VOC2012/SegmentationClass/shapes_000000.png ...   (mode 'P', VOC colour map)
      ROOT/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

  Mask index 0 is background, ``1..N`` the classes in ``classes`` order, 255 (void) a thin band straddling each
  object's outline as in real VOC. Overlapping objects: the later one is drawn on top.

Generation is deterministic for a seed (each image has its own random stream keyed by seed, split and index) and
uses PIL and numpy only. Command line::

    python -m ghost_backbones.data.synthetic coco --output data/shapes_coco --num-train 200 --num-val 50
    python -m ghost_backbones.data.synthetic voc --output data/shapes_voc --image-size 192,320
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .palette import voc_palette

__all__ = [
    "AVAILABLE_SHAPES",
    "SHAPE_CATEGORY_IDS",
    "SHAPE_CLASSES",
    "main",
    "make_shapes_coco",
    "make_shapes_voc",
]

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
"""The default classes, in label order (VOC mask index ``i + 1``)."""

SHAPE_CATEGORY_IDS: dict[str, int] = {"circle": 1, "square": 3, "triangle": 7, "star": 13}
"""COCO ``category_id`` of each shape: fixed per name and not contiguous, so id -> label mapping is exercised."""

AVAILABLE_SHAPES: tuple[str, ...] = tuple(SHAPE_CATEGORY_IDS)
"""Every shape the generator can draw (``classes`` must be taken from these)."""

_MIN_SIDE = 32  # smallest image side: the smallest object (12% of it) still spans a few pixels
_OBJECT_SCALE = (0.12, 0.45)  # object extent as a fraction of the shorter image side
_MIN_VISIBLE = 0.6  # placement keeps at least this fraction of every earlier object visible
_PLACEMENT_TRIES = 30
_VOID_INDEX = 255
_SPLIT_STREAMS = {("coco", "train"): 0, ("coco", "val"): 1, ("voc", "train"): 2, ("voc", "val"): 3}


@dataclass
class _Shape:
    """One drawn object: its class, polygon (COCO pixel coordinates) and full rasterised mask."""

    class_index: int
    polygon: list[tuple[float, float]]
    mask: np.ndarray
    iscrowd: bool = False
    parts: tuple[list[tuple[float, float]], ...] = ()  # crowd only: the small shapes making up the region


def _shape_outline(name: str, extent: float, rng: np.random.Generator) -> np.ndarray:
    """Vertices (V, 2) of ``name`` centred on the origin, ``extent`` pixels across, randomly rotated."""
    radius = extent / 2
    if name == "circle":
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        radii = np.full_like(angles, radius)
    elif name == "square":
        angles = np.linspace(0, 2 * math.pi, 4, endpoint=False) + math.pi / 4 + rng.uniform(-0.3, 0.3)
        radii = np.full_like(angles, radius * math.sqrt(2))  # side == extent before rotation
    elif name == "triangle":
        angles = np.linspace(0, 2 * math.pi, 3, endpoint=False) + rng.uniform(0, 2 * math.pi / 3)
        radii = np.full_like(angles, radius * 1.15)
    else:  # star
        angles = np.linspace(0, 2 * math.pi, 10, endpoint=False) + rng.uniform(0, 2 * math.pi / 5)
        radii = np.where(np.arange(10) % 2 == 0, radius * 1.1, radius * 0.45)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _rasterise(polygon: Sequence[tuple[float, float]], size: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the pixels whose centre ``(x + 0.5, y + 0.5)`` lies inside ``polygon`` (even-odd rule).

    This is the convention of COCO coordinates and of pycocotools' polygon rasterisation, so the image, the VOC
    mask, ``area`` and ``bbox`` all agree with ``COCO.annToMask``.
    """
    width, height = size
    points = np.asarray(polygon, dtype=np.float64)
    x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0)).astype(int), (width, height))
    px, py = np.arange(x0, x1)[None, :] + 0.5, np.arange(y0, y1)[:, None] + 0.5
    inside = np.zeros((py.shape[0], px.shape[1]), dtype=bool)
    for (ax, ay), (bx, by) in zip(points, np.roll(points, -1, axis=0)):
        if ay == by:
            continue
        crosses = (ay > py) != (by > py)
        inside ^= crosses & (px < ax + (py - ay) * (bx - ax) / (by - ay))
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = inside
    return mask


def _place(outline: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> list[tuple[float, float]] | None:
    """Translate ``outline`` to a random spot fully inside the image (1 px margin), or None if it cannot fit."""
    width, height = size
    low, high = outline.min(axis=0), outline.max(axis=0)
    x_range, y_range = (1 - low[0], width - 1 - high[0]), (1 - low[1], height - 1 - high[1])
    if x_range[0] > x_range[1] or y_range[0] > y_range[1]:
        return None
    centre = np.array([rng.uniform(*x_range), rng.uniform(*y_range)])
    return [(round(float(x), 2), round(float(y), 2)) for x, y in outline + centre]


def _crowd(class_index: int, name: str, size: tuple[int, int], rng: np.random.Generator) -> _Shape | None:
    """A cluster of 6-10 small same-class shapes annotated as one ``iscrowd=1`` region."""
    side = min(size)
    cluster = _place(_shape_outline("square", rng.uniform(0.28, 0.4) * side, rng), size, rng)
    if cluster is None:
        return None
    x0, y0 = min(x for x, _ in cluster), min(y for _, y in cluster)
    x1, y1 = max(x for x, _ in cluster), max(y for _, y in cluster)
    parts, mask = [], np.zeros(size[::-1], dtype=bool)
    for _ in range(int(rng.integers(6, 11))):
        outline = _shape_outline(name, rng.uniform(0.25, 0.4) * (x1 - x0), rng)
        part = _place(outline, (int(x1 - x0), int(y1 - y0)), rng)
        if part is not None:
            part = [(round(x + x0, 2), round(y + y0, 2)) for x, y in part]
            parts.append(part)
            mask |= _rasterise(part, size)
    if not mask.any():
        return None
    return _Shape(class_index, [], mask, iscrowd=True, parts=tuple(parts))


def _scene_shapes(
    size: tuple[int, int], classes: Sequence[str], num_objects: int, crowd: bool, rng: np.random.Generator
) -> list[_Shape]:
    """Random shapes for one image, bottom to top; each placement keeps every earlier shape 60% visible."""
    shapes: list[_Shape] = []
    if crowd:
        class_index = int(rng.integers(len(classes)))
        region = _crowd(class_index, classes[class_index], size, rng)
        shapes += [region] if region is not None else []
    owner = np.full(size[::-1], -1, dtype=np.int64)  # index of the topmost shape covering each pixel
    for index, shape in enumerate(shapes):
        owner[shape.mask] = index
    for _ in range(num_objects):
        for _ in range(_PLACEMENT_TRIES):
            class_index = int(rng.integers(len(classes)))
            extent = rng.uniform(*_OBJECT_SCALE) * min(size)
            polygon = _place(_shape_outline(classes[class_index], extent, rng), size, rng)
            if polygon is None:
                continue
            mask = _rasterise(polygon, size)
            areas = np.array([shape.mask.sum() for shape in shapes], dtype=np.int64)
            visible = np.bincount(owner[owner >= 0], minlength=len(shapes))
            covered = np.bincount(owner[mask & (owner >= 0)], minlength=len(shapes))
            if np.all(visible - covered >= _MIN_VISIBLE * areas):
                owner[mask] = len(shapes)
                shapes.append(_Shape(class_index, polygon, mask))
                break
    return shapes


def _render(size: tuple[int, int], shapes: Sequence[_Shape], rng: np.random.Generator) -> Image.Image:
    """Draw ``shapes`` in distinct saturated colours on a light, noisy, slightly graded background."""
    width, height = size
    tilt = rng.uniform(-20, 20, size=(2, 3))
    pixels = (
        rng.uniform(170, 235, size=3)
        + np.linspace(-0.5, 0.5, width)[None, :, None] * tilt[0]
        + np.linspace(-0.5, 0.5, height)[:, None, None] * tilt[1]
        + rng.normal(0, 5, size=(height, width, 3))
    )
    first_hue = rng.uniform()
    for index, shape in enumerate(shapes):
        hue = (first_hue + 0.618 * index) % 1.0  # golden-ratio steps keep neighbours' hues apart
        pixels[shape.mask] = 255 * np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.55, 1.0), rng.uniform(0.3, 0.8)))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _rle(mask: np.ndarray) -> dict[str, list[int]]:
    """Uncompressed COCO RLE of a boolean mask: run lengths in column-major order, starting with a 0-run."""
    flat = mask.ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"counts": [0, *runs] if flat[0] else runs, "size": list(mask.shape)}


def _coco_annotation(shape: _Shape, annotation_id: int, image_id: int, category_id: int) -> dict:
    """COCO annotation of the full shape: polygon (or RLE for a crowd), tight bbox, pixel area."""
    if shape.iscrowd:
        rows, cols = np.nonzero(shape.mask)
        x0, y0, x1, y1 = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
        segmentation: list | dict = _rle(shape.mask)
    else:
        xs, ys = [x for x, _ in shape.polygon], [y for _, y in shape.polygon]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        segmentation = [[coord for point in shape.polygon for coord in point]]
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)],
        "area": float(shape.mask.sum()),
        "iscrowd": int(shape.iscrowd),
        "segmentation": segmentation,
    }


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


def _voc_mask(size: tuple[int, int], shapes: Sequence[_Shape]) -> Image.Image:
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


def _image_rng(seed: int, dataset: str, split: str, index: int) -> np.random.Generator:
    """Independent stream per image: changing ``num_val`` never changes a train image."""
    return np.random.default_rng([seed, _SPLIT_STREAMS[dataset, split], index])


def _sample_size(size_range: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """(width, height), each drawn independently from the inclusive range, so aspect ratios vary too."""
    low, high = size_range
    return int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """Normalise ``image_size`` (a side or a (min, max) side range) to an inclusive range."""
    if isinstance(image_size, (int, np.integer)):
        pair: tuple = (image_size, image_size)
    else:
        pair = tuple(image_size) if isinstance(image_size, Sequence) and not isinstance(image_size, str) else ()
    if (
        len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair)
        or pair[0] < _MIN_SIDE
        or pair[0] > pair[1]
    ):
        raise ValueError(
            f"image_size must be an int >= {_MIN_SIDE} or a (min, max) pair of ints with "
            f"{_MIN_SIDE} <= min <= max, got {image_size!r}"
        )
    return int(pair[0]), int(pair[1])


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    classes = (classes,) if isinstance(classes, str) else tuple(classes)
    unknown = [name for name in classes if name not in SHAPE_CATEGORY_IDS]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ValueError(
            f"classes must be distinct names from {AVAILABLE_SHAPES}, got {classes!r}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    return classes


def _prepare_output(root: str | Path, written: Sequence[Path], overwrite: bool) -> None:
    """Refuse a file as ``root`` and, unless ``overwrite``, an existing dataset (its split files)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output root {root} exists and is not a directory")
    for path in written:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to regenerate the dataset")


def make_shapes_coco(
    root: str | Path,
    *,
    num_train: int = 64,
    num_val: int = 16,
    image_size: int | Sequence[int] = (256, 256),
    max_objects: int = 4,
    seed: int = 0,
    classes: Sequence[str] = SHAPE_CLASSES,
    crowd: bool = False,
    num_empty_val: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a shapes detection dataset in the COCO 2017 layout of torchvision's detection references.

    Files: ``root/annotations/instances_{train,val}2017.json`` and ``root/{train,val}2017/<image id:012d>.jpg``.
    Each image holds 1..``max_objects`` shapes (12%..45% of its shorter side, overlapping at most 40% of any earlier
    one); the last ``num_empty_val`` val images hold none. Annotations describe the full shape: polygon
    ``segmentation``, its tight ``bbox`` ``[x, y, w, h]`` and its pixel ``area``. Category ids come from
    ``SHAPE_CATEGORY_IDS`` (1, 3, 7: not contiguous).

    Args:
        root: output directory (created if missing).
        num_train: number of train images (>= 1).
        num_val: number of val images (>= 1).
        image_size: side of square images, or a ``(min, max)`` range from which width and height are drawn
            independently (varied sizes and aspect ratios). Sides must be >= 32.
        max_objects: most shapes per image (>= 1).
        seed: non-negative seed; the same seed gives the same files.
        classes: shapes to draw, names from ``AVAILABLE_SHAPES``.
        crowd: also add an ``iscrowd=1`` region (a cluster of small shapes, uncompressed RLE) to every 4th image.
        num_empty_val: val images without objects; default ``max(1, num_val // 8)`` (0 when ``num_val == 1``).
        overwrite: regenerate over an existing dataset instead of raising ``FileExistsError``.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a ``Path`` (pass it as ``--data-path``).

    Examples::

        >>> import tempfile
        >>> root = make_shapes_coco(f"{tempfile.mkdtemp()}/shapes_coco", num_train=8, num_val=4, image_size=(128, 192))
        >>> val = json.loads((root / "annotations" / "instances_val2017.json").read_text())
        >>> print(len(val["images"]), [(c["id"], c["name"]) for c in val["categories"]])
        4 [(1, 'circle'), (3, 'square'), (7, 'triangle')]
    """
    num_train = _check_count("num_train", num_train, 1)
    num_val = _check_count("num_val", num_val, 1)
    max_objects = _check_count("max_objects", max_objects, 1)
    seed = _check_count("seed", seed, 0)
    size_range, classes = _check_size(image_size), _check_classes(classes)
    if num_empty_val is None:
        num_empty_val = max(1, num_val // 8) if num_val > 1 else 0
    elif _check_count("num_empty_val", num_empty_val, 0) >= num_val:
        raise ValueError(f"num_empty_val must be < num_val ({num_val}), got {num_empty_val}")
    root = Path(root)
    annotation_files = {split: root / "annotations" / f"instances_{split}2017.json" for split in ("train", "val")}
    _prepare_output(root, list(annotation_files.values()), overwrite)

    categories = [{"id": SHAPE_CATEGORY_IDS[name], "name": name, "supercategory": "shape"} for name in classes]
    image_id = annotation_id = 0
    with tqdm(total=num_train + num_val, desc="shapes (COCO)", unit="img", disable=not progress) as bar:
        for split, count in (("train", num_train), ("val", num_val)):
            image_dir = root / f"{split}2017"
            image_dir.mkdir(parents=True, exist_ok=True)
            images, annotations = [], []
            for index in range(count):
                rng = _image_rng(seed, "coco", split, index)
                size = _sample_size(size_range, rng)
                empty = split == "val" and index >= count - num_empty_val
                num_objects = 0 if empty else int(rng.integers(1, max_objects + 1))
                shapes = _scene_shapes(size, classes, num_objects, crowd and not empty and index % 4 == 0, rng)
                image_id += 1
                file_name = f"{image_id:012d}.jpg"
                _render(size, shapes, rng).save(image_dir / file_name, quality=92)
                images.append({"id": image_id, "file_name": file_name, "width": size[0], "height": size[1]})
                for shape in shapes:
                    annotation_id += 1
                    category_id = SHAPE_CATEGORY_IDS[classes[shape.class_index]]
                    annotations.append(_coco_annotation(shape, annotation_id, image_id, category_id))
                bar.update()
            dataset = {
                "info": {"description": f"ghost-backbones synthetic shapes ({split}, seed {seed})", "version": "1.0"},
                "licenses": [],
                "images": images,
                "annotations": annotations,
                "categories": categories,
            }
            annotation_files[split].parent.mkdir(parents=True, exist_ok=True)
            annotation_files[split].write_text(json.dumps(dataset))
    return root


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
    num_train = _check_count("num_train", num_train, 1)
    num_val = _check_count("num_val", num_val, 1)
    max_objects = _check_count("max_objects", max_objects, 1)
    seed = _check_count("seed", seed, 0)
    size_range, classes = _check_size(image_size), _check_classes(classes)
    root = Path(root)
    voc = root / "VOCdevkit" / "VOC2012"
    split_dir = voc / "ImageSets" / "Segmentation"
    _prepare_output(root, [split_dir / f"{split}.txt" for split in ("train", "val", "trainval")], overwrite)
    for directory in (voc / "JPEGImages", voc / "SegmentationClass", split_dir):
        directory.mkdir(parents=True, exist_ok=True)

    names: dict[str, list[str]] = {"train": [], "val": []}
    with tqdm(total=num_train + num_val, desc="shapes (VOC)", unit="img", disable=not progress) as bar:
        for split, count in (("train", num_train), ("val", num_val)):
            for index in range(count):
                rng = _image_rng(seed, "voc", split, index)
                size = _sample_size(size_range, rng)
                shapes = _scene_shapes(size, classes, int(rng.integers(1, max_objects + 1)), False, rng)
                name = f"shapes_{num_train * (split == 'val') + index:06d}"
                _render(size, shapes, rng).save(voc / "JPEGImages" / f"{name}.jpg", quality=92)
                _voc_mask(size, shapes).save(voc / "SegmentationClass" / f"{name}.png")
                names[split].append(name)
                bar.update()
    names["trainval"] = names["train"] + names["val"]
    for split, split_names in names.items():
        (split_dir / f"{split}.txt").write_text("".join(f"{name}\n" for name in split_names))
    return root


def _parse_image_size(text: str) -> int | tuple[int, int]:
    """``"256"`` -> 256, ``"192,320"`` -> (192, 320)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected SIDE or MIN,MAX (integers), got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m ghost_backbones.data.synthetic {coco,voc} --output ROOT [options]``.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The dataset root that was written.

    Examples::

        >>> import tempfile
        >>> out = f"{tempfile.mkdtemp()}/cli_coco"
        >>> root = main(["coco", "--output", out, "--num-train", "8", "--crowd"])  # doctest: +ELLIPSIS
        wrote shapes dataset in COCO layout (8 train + 16 val images) to .../cli_coco
    """
    parser = argparse.ArgumentParser(
        prog="python -m ghost_backbones.data.synthetic",
        description="Write a synthetic shapes dataset in the COCO (detection) or Pascal VOC (segmentation) layout.",
    )
    parser.add_argument("format", choices=("coco", "voc"), help="on-disk layout to write")
    parser.add_argument("--output", required=True, type=Path, help="dataset root (use it as --data-path)")
    parser.add_argument("--num-train", type=int, default=64, help="train images (default: 64)")
    parser.add_argument("--num-val", type=int, default=16, help="val images (default: 16)")
    parser.add_argument(
        "--image-size", type=_parse_image_size, default=256, help="SIDE or MIN,MAX side range (default: 256)"
    )
    parser.add_argument("--max-objects", type=int, default=4, help="most shapes per image (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--classes", default=",".join(SHAPE_CLASSES), help=f"comma-separated names from {','.join(AVAILABLE_SHAPES)}"
    )
    parser.add_argument("--crowd", action="store_true", help="coco only: add iscrowd=1 regions")
    parser.add_argument("--overwrite", action="store_true", help="regenerate over an existing dataset")
    args = parser.parse_args(argv)
    if args.crowd and args.format != "coco":
        parser.error("--crowd applies to the coco format only")
    options = {
        "num_train": args.num_train,
        "num_val": args.num_val,
        "image_size": args.image_size,
        "max_objects": args.max_objects,
        "seed": args.seed,
        "classes": tuple(name.strip() for name in args.classes.split(",")),
        "overwrite": args.overwrite,
        "progress": True,
    }
    try:
        if args.format == "coco":
            root = make_shapes_coco(args.output, crowd=args.crowd, **options)
        else:
            root = make_shapes_voc(args.output, **options)
    except (ValueError, FileExistsError, NotADirectoryError) as error:
        parser.error(str(error))
    layout = args.format.upper()
    print(f"wrote shapes dataset in {layout} layout ({args.num_train} train + {args.num_val} val images) to {root}")
    return root


if __name__ == "__main__":
    main()
