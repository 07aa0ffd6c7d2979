"""Shapes detection dataset in the COCO 2017 layout of torchvision's ``references/detection``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .checks import SceneOptions, check_count, check_options, prepare_output
from .scenes import SHAPE_CATEGORY_IDS, SHAPE_CLASSES, Shape, draw_scene, image_rng

__all__ = ["make_shapes_coco"]


def _rle(mask: np.ndarray) -> dict[str, list[int]]:
    """Uncompressed COCO RLE of a boolean mask: run lengths in column-major order, starting with a 0-run."""
    flat = mask.ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"counts": [0, *runs] if flat[0] else runs, "size": list(mask.shape)}


def _coco_annotation(shape: Shape, annotation_id: int, image_id: int, category_id: int) -> dict:
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


def _write_split(
    root: Path,
    split: str,
    count: int,
    options: SceneOptions,
    crowd: bool,
    num_empty_val: int,
    first_ids: tuple[int, int],
    bar: tqdm,
) -> tuple[list[dict], list[dict]]:
    """Draw and save one split's images; return its COCO ``images`` and ``annotations`` entries."""
    image_dir = root / f"{split}2017"
    image_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    annotations: list[dict] = []
    for index in range(count):
        empty = split == "val" and index >= count - num_empty_val
        scene = draw_scene(
            image_rng(options.seed, "coco", split, index),
            options.size_range,
            options.classes,
            0 if empty else options.max_objects,
            crowd=crowd and not empty and index % 4 == 0,
        )
        image_id = first_ids[0] + index
        file_name = f"{image_id:012d}.jpg"
        scene.image.save(image_dir / file_name, quality=92)
        images.append({"id": image_id, "file_name": file_name, "width": scene.size[0], "height": scene.size[1]})
        for shape in scene.shapes:
            category_id = SHAPE_CATEGORY_IDS[options.classes[shape.class_index]]
            annotation_id = first_ids[1] + len(annotations)
            annotations.append(_coco_annotation(shape, annotation_id, image_id, category_id))
        bar.update()
    return images, annotations


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
    options = check_options(
        num_train=num_train, num_val=num_val, image_size=image_size, max_objects=max_objects, seed=seed, classes=classes
    )
    num_val, classes = options.num_val, options.classes
    if num_empty_val is None:
        num_empty_val = max(1, num_val // 8) if num_val > 1 else 0
    elif check_count("num_empty_val", num_empty_val, 0) >= num_val:
        raise ValueError(f"num_empty_val must be < num_val ({num_val}), got {num_empty_val}")
    root = Path(root)
    annotation_files = {split: root / "annotations" / f"instances_{split}2017.json" for split in ("train", "val")}
    prepare_output(root, list(annotation_files.values()), overwrite)

    categories = [{"id": SHAPE_CATEGORY_IDS[name], "name": name, "supercategory": "shape"} for name in classes]
    first_ids = (1, 1)  # image and annotation ids run on across the splits, as in COCO
    with tqdm(total=options.num_train + num_val, desc="shapes (COCO)", unit="img", disable=not progress) as bar:
        for split, count in (("train", options.num_train), ("val", num_val)):
            images, annotations = _write_split(root, split, count, options, crowd, num_empty_val, first_ids, bar)
            first_ids = (first_ids[0] + len(images), first_ids[1] + len(annotations))
            dataset = {
                "info": {
                    "description": f"ghost-backbones synthetic shapes ({split}, seed {options.seed})",
                    "version": "1.0",
                },
                "licenses": [],
                "images": images,
                "annotations": annotations,
                "categories": categories,
            }
            annotation_files[split].parent.mkdir(parents=True, exist_ok=True)
            annotation_files[split].write_text(json.dumps(dataset))
    return root
