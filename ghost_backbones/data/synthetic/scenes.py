"""Scenes shared by every layout: shape outlines, placement, rasterisation, rendering and per-image random streams.

A scene is one image's content: its size, its shapes bottom to top (class, polygon, full rasterised mask) and the
rendered RGB image. The COCO, VOC segmentation, VOC detection and YOLO writers all draw scenes here and differ only in
how they write the annotations.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "AVAILABLE_SHAPES",
    "MIN_SIDE",
    "SHAPE_CATEGORY_IDS",
    "SHAPE_CLASSES",
    "Scene",
    "Shape",
    "draw_scene",
    "image_rng",
    "place",
    "rasterise",
    "shape_outline",
]

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
"""The default classes, in label order (VOC mask index ``i + 1``)."""

SHAPE_CATEGORY_IDS: dict[str, int] = {"circle": 1, "square": 3, "triangle": 7, "star": 13}
"""COCO ``category_id`` of each shape: fixed per name and not contiguous, so id -> label mapping is exercised."""

AVAILABLE_SHAPES: tuple[str, ...] = tuple(SHAPE_CATEGORY_IDS)
"""Every shape the generator can draw (``classes`` must be taken from these)."""

MIN_SIDE = 32
"""Smallest image side: the smallest object (12% of it) still spans a few pixels."""

_OBJECT_SCALE = (0.12, 0.45)  # object extent as a fraction of the shorter image side
_MIN_VISIBLE = 0.6  # placement keeps at least this fraction of every earlier object visible
_PLACEMENT_TRIES = 30
# One independent stream per (layout, split): adding a layout never changes another layout's images.
_SPLIT_STREAMS = {
    ("coco", "train"): 0,
    ("coco", "val"): 1,
    ("voc", "train"): 2,
    ("voc", "val"): 3,
    ("voc2007-det", "train"): 4,
    ("voc2007-det", "val"): 5,
    ("voc2012-det", "train"): 6,
    ("voc2012-det", "val"): 7,
    ("yolo", "train"): 8,
    ("yolo", "val"): 9,
}


@dataclass
class Shape:
    """One drawn object: its class, polygon (COCO pixel coordinates) and full rasterised mask."""

    class_index: int
    polygon: list[tuple[float, float]]
    mask: np.ndarray
    iscrowd: bool = False
    parts: tuple[list[tuple[float, float]], ...] = ()  # crowd only: the small shapes making up the region


@dataclass
class Scene:
    """One generated image: ``size`` is ``(width, height)``, ``shapes`` are listed bottom to top."""

    size: tuple[int, int]
    shapes: list[Shape]
    image: Image.Image


def shape_outline(name: str, extent: float, rng: np.random.Generator) -> np.ndarray:
    """Vertices (V, 2) of ``name`` centred on the origin, ``extent`` pixels across, randomly rotated.

    Examples::

        >>> outline = shape_outline("circle", 20.0, np.random.default_rng(0))
        >>> print(outline.shape, round(float(np.hypot(*outline.T).max()), 6))
        (48, 2) 10.0
    """
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


def rasterise(polygon: Sequence[tuple[float, float]], size: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the pixels whose centre ``(x + 0.5, y + 0.5)`` lies inside ``polygon`` (even-odd rule).

    This is the convention of COCO coordinates and of pycocotools' polygon rasterisation, so the image, the VOC
    mask, ``area`` and ``bbox`` all agree with ``COCO.annToMask``.

    Examples::

        >>> mask = rasterise([(1, 2), (5, 2), (5, 4), (1, 4)], (8, 6))  # a 4 x 2 rectangle in an 8 x 6 image
        >>> print(mask.shape, int(mask.sum()), np.argwhere(mask).min(0).tolist(), np.argwhere(mask).max(0).tolist())
        (6, 8) 8 [2, 1] [3, 4]
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


def place(outline: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> list[tuple[float, float]] | None:
    """Translate ``outline`` to a random spot fully inside the image (1 px margin), or None if it cannot fit.

    Examples::

        >>> rng = np.random.default_rng(0)
        >>> polygon = place(shape_outline("square", 10.0, rng), (32, 24), rng)
        >>> print(len(polygon), all(1 <= x <= 31 and 1 <= y <= 23 for x, y in polygon))
        4 True
        >>> print(place(shape_outline("square", 30.0, rng), (32, 24), rng))
        None
    """
    width, height = size
    low, high = outline.min(axis=0), outline.max(axis=0)
    x_range, y_range = (1 - low[0], width - 1 - high[0]), (1 - low[1], height - 1 - high[1])
    if x_range[0] > x_range[1] or y_range[0] > y_range[1]:
        return None
    centre = np.array([rng.uniform(*x_range), rng.uniform(*y_range)])
    return [(round(float(x), 2), round(float(y), 2)) for x, y in outline + centre]


def _crowd(class_index: int, name: str, size: tuple[int, int], rng: np.random.Generator) -> Shape | None:
    """A cluster of 6-10 small same-class shapes annotated as one ``iscrowd=1`` region."""
    side = min(size)
    cluster = place(shape_outline("square", rng.uniform(0.28, 0.4) * side, rng), size, rng)
    if cluster is None:
        return None
    x0, y0 = min(x for x, _ in cluster), min(y for _, y in cluster)
    x1, y1 = max(x for x, _ in cluster), max(y for _, y in cluster)
    parts, mask = [], np.zeros(size[::-1], dtype=bool)
    for _ in range(int(rng.integers(6, 11))):
        outline = shape_outline(name, rng.uniform(0.25, 0.4) * (x1 - x0), rng)
        part = place(outline, (int(x1 - x0), int(y1 - y0)), rng)
        if part is not None:
            part = [(round(x + x0, 2), round(y + y0, 2)) for x, y in part]
            parts.append(part)
            mask |= rasterise(part, size)
    if not mask.any():
        return None
    return Shape(class_index, [], mask, iscrowd=True, parts=tuple(parts))


def _scene_shapes(
    size: tuple[int, int], classes: Sequence[str], num_objects: int, crowd: bool, rng: np.random.Generator
) -> list[Shape]:
    """Random shapes for one image, bottom to top; each placement keeps every earlier shape 60% visible."""
    shapes: list[Shape] = []
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
            polygon = place(shape_outline(classes[class_index], extent, rng), size, rng)
            if polygon is None:
                continue
            mask = rasterise(polygon, size)
            areas = np.array([shape.mask.sum() for shape in shapes], dtype=np.int64)
            visible = np.bincount(owner[owner >= 0], minlength=len(shapes))
            covered = np.bincount(owner[mask & (owner >= 0)], minlength=len(shapes))
            if np.all(visible - covered >= _MIN_VISIBLE * areas):
                owner[mask] = len(shapes)
                shapes.append(Shape(class_index, polygon, mask))
                break
    return shapes


def _render(size: tuple[int, int], shapes: Sequence[Shape], rng: np.random.Generator) -> Image.Image:
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


def image_rng(seed: int, layout: str, split: str, index: int) -> np.random.Generator:
    """Independent stream per image, keyed by seed, layout, split and index: changing ``num_val`` never changes a
    train image, and no layout shares another's images.

    Examples::

        >>> def first(*key):
        ...     return int(image_rng(*key).integers(1_000_000))
        >>> same = first(0, "coco", "train", 3) == first(0, "coco", "train", 3)
        >>> print(same, first(0, "coco", "val", 3) == first(0, "coco", "train", 3))
        True False
    """
    return np.random.default_rng([seed, _SPLIT_STREAMS[layout, split], index])


def draw_scene(
    rng: np.random.Generator,
    size_range: tuple[int, int],
    classes: Sequence[str],
    max_objects: int,
    *,
    crowd: bool = False,
) -> Scene:
    """Draw one image: its size, then 1..``max_objects`` shapes (none when ``max_objects == 0``), then the pixels.

    Width and height are drawn independently from the inclusive ``size_range``; shapes are 12%..45% of the shorter
    side, fully inside the image (1 px margin), and each keeps at least 60% of its pixels visible. ``crowd`` first
    adds an ``iscrowd`` cluster of small same-class shapes.

    Args:
        rng: the image's random stream (``image_rng``); the same stream gives the same scene.
        size_range: inclusive ``(min, max)`` image side.
        classes: shape names; ``Shape.class_index`` indexes this sequence.
        max_objects: most shapes (>= 0).
        crowd: add a crowd region below the other shapes.

    Examples::

        >>> scene = draw_scene(image_rng(0, "coco", "train", 0), (64, 96), SHAPE_CLASSES, 3)
        >>> print(scene.size, scene.image.size, len(scene.shapes), scene.shapes[0].mask.shape)
        (92, 85) (92, 85) 2 (85, 92)
    """
    low, high = size_range
    size = int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))
    num_objects = int(rng.integers(1, max_objects + 1)) if max_objects > 0 else 0
    shapes = _scene_shapes(size, classes, num_objects, crowd, rng)
    return Scene(size, shapes, _render(size, shapes, rng))
