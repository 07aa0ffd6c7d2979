"""COCO instance masks: ``segmentation`` checks (polygons, compressed and uncompressed RLE) and mask targets.

Decoding is pycocotools' own (``frPyObjects``, ``merge``, ``decode``), so the training targets are the masks the
``segm`` evaluation measures against.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ghost_backbones.engine import DataError

__all__ = ["check_segmentations", "segmentation_masks", "segmentation_to_mask"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _checked_polygons(path: Path, ann_id: Any, polygons: list[Any]) -> tuple[list[list[float]], int]:
    """The polygon parts with an area (3+ points), and how many were dropped (fewer points: no area)."""
    kept = []
    for part in polygons:
        if not isinstance(part, list) or not all(_is_number(v) for v in part) or len(part) % 2:
            raise DataError(
                f"{path}: annotation id {ann_id} has a 'segmentation' polygon that is not a flat list of x, y "
                f"numbers (an even count), got {str(part)[:80]}"
            )
        if len(part) >= 6:
            kept.append([float(v) for v in part])
    return kept, len(polygons) - len(kept)


def _check_rle(path: Path, ann_id: Any, rle: dict[str, Any], size: tuple[int, int]) -> None:
    counts, rle_size = rle.get("counts"), rle.get("size")
    if not (isinstance(rle_size, list) and len(rle_size) == 2 and all(_is_count(v) for v in rle_size)):
        raise DataError(f"{path}: annotation id {ann_id} has an RLE 'segmentation' without a [height, width] 'size'")
    if tuple(rle_size) != size:
        raise DataError(
            f"{path}: annotation id {ann_id} has an RLE 'segmentation' of size {rle_size} (height, width), but its "
            f"image is {list(size)}"
        )
    if isinstance(counts, list):  # uncompressed: run lengths covering every pixel
        if not all(_is_count(v) for v in counts) or sum(counts) != size[0] * size[1]:
            raise DataError(
                f"{path}: annotation id {ann_id} has an uncompressed RLE whose 'counts' are not non-negative integers "
                f"summing to height x width = {size[0] * size[1]}"
            )
    elif not isinstance(counts, str) or not counts:
        raise DataError(
            f"{path}: annotation id {ann_id} has an RLE 'segmentation' whose 'counts' is neither a list of run "
            f"lengths nor a compressed string, got {type(counts).__name__}"
        )


def check_segmentations(path: str | Path, coco: dict[str, Any]) -> None:
    """Check every annotation's ``segmentation`` of a COCO instances dict (cleaned by ``load_coco_annotations``).

    Each annotation (crowd regions too: the ``segm`` evaluation reads them) needs polygons ``[[x, y, ...], ...]``
    or an RLE ``{"size": [h, w], "counts": ...}`` of its image's size, and each image its ``width`` and ``height``.
    Polygon parts with fewer than 3 points have no area: they are dropped from ``coco`` with one warning (a count
    and the first ids), as pycocotools would misread a 2-point part as a box; an annotation left without a part gets
    an empty mask (an uncompressed RLE of zeros), which training and the ``segm`` evaluation both read.

    Raises:
        DataError: naming the file and the annotation (or image) id.

    Examples::

        >>> coco = {"images": [{"id": 1, "width": 4, "height": 3}], "annotations": [
        ...     {"id": 5, "image_id": 1, "segmentation": {"size": [3, 4], "counts": [2, 9]}}]}
        >>> check_segmentations("instances.json", coco)
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.DataError: instances.json: annotation id 5 has an uncompressed RLE whose 'counts' are \
not non-negative integers summing to height x width = 12
    """
    path = Path(path)
    sizes = {}
    for image in coco["images"]:
        height, width = image.get("height"), image.get("width")
        if not (_is_count(height) and _is_count(width)):
            raise DataError(
                f"{path}: image id {image['id']} has no integer 'width' and 'height'; instance masks need them"
            )
        sizes[image["id"]] = (height, width)
    degenerate = []
    for ann in coco["annotations"]:
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, list) and segmentation:
            ann["segmentation"], dropped = _checked_polygons(path, ann["id"], segmentation)
            if dropped:
                degenerate.append(ann["id"])
            if not ann["segmentation"]:  # no part left: an empty mask (pycocotools cannot read an empty list)
                height, width = sizes[ann["image_id"]]
                ann["segmentation"] = {"size": [height, width], "counts": [height * width]}
        elif isinstance(segmentation, dict):
            _check_rle(path, ann["id"], segmentation, sizes[ann["image_id"]])
        else:
            raise DataError(
                f"{path}: annotation id {ann['id']} has no 'segmentation' (polygons [[x, y, ...]] or an RLE "
                f"{{'size', 'counts'}}), got {str(segmentation)[:80]}; instance masks need one per object"
            )
    if degenerate:
        warnings.warn(
            f"{path}: dropped polygon parts with fewer than 3 points (no area) from {len(degenerate)} annotation(s) "
            f"(first ids: {degenerate[:5]}); an annotation left without a part has an empty mask",
            stacklevel=2,
        )


def segmentation_to_mask(segmentation: list | dict[str, Any], height: int, width: int) -> np.ndarray:
    """A checked ``segmentation`` (see :func:`check_segmentations`) as a ``uint8`` ``(height, width)`` 0/1 mask.

    Examples::

        >>> segmentation_to_mask([[1, 0, 3, 0, 3, 2, 1, 2]], 3, 4).tolist()  # a 2 x 2 square
        [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
        >>> segmentation_to_mask({"size": [2, 2], "counts": [1, 2, 1]}, 2, 2).tolist()  # column-major runs
        [[0, 1], [1, 0]]
    """
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        if not segmentation:  # every part was degenerate
            return np.zeros((height, width), dtype=np.uint8)
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle)


def segmentation_masks(annotations: list[dict[str, Any]], height: int, width: int) -> torch.Tensor:
    """The ``(N, height, width)`` ``uint8`` masks of ``annotations``, in their order.

    Examples::

        >>> segmentation_masks([{"segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}], 3, 3).sum().item()
        4
    """
    masks = [segmentation_to_mask(ann["segmentation"], height, width) for ann in annotations]
    if not masks:
        return torch.zeros((0, height, width), dtype=torch.uint8)
    return torch.from_numpy(np.stack(masks))
