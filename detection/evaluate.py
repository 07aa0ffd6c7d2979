"""COCO box and mask evaluation with pycocotools (imported here only, when an evaluation runs or masks are encoded),
and its PR curves' data."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .data.coco import CategoryMap

__all__ = ["MASK_THRESHOLD", "STAT_NAMES", "coco_evaluate", "coco_evaluation", "encode_masks", "to_coco_results"]

# The order of pycocotools' COCOeval.stats.
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
#: A predicted mask pixel belongs to the object above this probability (torchvision's references use 0.5).
MASK_THRESHOLD = 0.5


def encode_masks(masks: Tensor, threshold: float = MASK_THRESHOLD) -> list[dict[str, Any]]:
    """Mask R-CNN's ``masks`` (``(N, 1, H, W)`` probabilities or ``bool`` masks, or ``(N, H, W)``) as COCO RLEs.

    Args:
        masks: one mask per detection, in the image's pixels.
        threshold: pixels above it are the object.

    Returns:
        ``[{"size": [H, W], "counts": str}, ...]``: JSON-ready (``counts`` decoded from pycocotools' bytes), what
        ``pycocotools.mask.decode`` reads back.

    Examples::

        >>> masks = torch.zeros(1, 1, 4, 3)
        >>> masks[0, 0, 1:3, 1] = 0.9
        >>> encode_masks(masks)
        [{'size': [4, 3], 'counts': '525'}]
    """
    from pycocotools import mask as mask_utils

    masks = masks.detach().cpu().reshape(-1, *masks.shape[-2:])
    encoded = []
    for mask in masks:  # one at a time: a photo-sized copy of one mask, not of all
        binary = mask if mask.dtype == torch.bool else mask.float() > threshold
        (rle,) = mask_utils.encode(np.asfortranarray(binary.numpy().astype(np.uint8)[:, :, None]))
        encoded.append({"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")})
    return encoded


def to_coco_results(
    image_id: int, output: dict[str, Tensor], categories: CategoryMap, *, decimals: int | None = None
) -> list[dict[str, Any]]:
    """One image's detections in the COCO results format, with the original category ids.

    Args:
        image_id: the image's id in the annotation file.
        output: a torchvision detector's output for it (``boxes`` XYXY in original pixels, ``labels``, ``scores``;
            Mask R-CNN's ``masks`` too: each result then gets its ``segmentation``, see :func:`encode_masks`).
        categories: the label -> category id mapping used in training.
        decimals: round the boxes to this many decimals (a file for people: ``detections.json``); ``None``: the
            model's boxes as they are, what an evaluation reads.

    Detections labelled 0 (the background: torchvision's FCOS, untrained, can output it) are dropped.

    Examples::

        >>> out = {"boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0]]), "labels": torch.tensor([2]),
        ...        "scores": torch.tensor([0.75])}
        >>> to_coco_results(5, out, CategoryMap((1, 3), ("a", "b")))
        [{'image_id': 5, 'category_id': 3, 'bbox': [10.0, 20.0, 20.0, 40.0], 'score': 0.75}]
        >>> out["boxes"] += 0.123
        >>> to_coco_results(5, out, CategoryMap((1, 3), ("a", "b")), decimals=2)[0]["bbox"]
        [10.12, 20.12, 20.0, 40.0]
    """
    keep = output["labels"].detach().cpu() != 0  # background (an untrained FCOS can output it): not a detection
    boxes = output["boxes"].detach().float().cpu()[keep]
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()
    labels = output["labels"].detach().cpu()[keep].tolist()
    scores = output["scores"].detach().float().cpu()[keep].tolist()
    results = [
        {
            "image_id": image_id,
            "category_id": categories.to_id(label),
            "bbox": box if decimals is None else [round(v, decimals) for v in box],
            "score": s,
        }
        for box, label, s in zip(xywh, labels, scores)
    ]
    if "masks" in output:
        for result, rle in zip(results, encode_masks(output["masks"][keep.to(output["masks"].device)])):
            result["segmentation"] = rle
    return results


def coco_evaluate(
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    image_ids: Iterable[int],
    *,
    iou_types: Sequence[str] = ("bbox",),
    verbose: bool = True,
) -> dict[str, Any]:
    """COCO box AP/AR of ``results`` against ``ground_truth`` on ``image_ids``, plus the AP of each category.

    The metrics of :func:`coco_evaluation` (which also returns the precision-recall array the plots draw).

    Args:
        ground_truth: a COCO instances dict (``images``, ``annotations`` with ``iscrowd``/``area``, ``categories``).
        results: detections in the COCO results format (original category ids).
        image_ids: the images that were evaluated (others, e.g. skipped unreadable ones, are left out).
        iou_types: ``("bbox",)``, or ``("bbox", "segm")`` for Mask R-CNN (the results then carry ``segmentation``
            RLEs and the ground truth ``segmentation`` polygons or RLEs, with the images' ``width`` / ``height``).
        verbose: print pycocotools' summary table.

    Returns:
        ``{"bbox": {"AP": ..., ..., "ARl": ..., "per_category": [{"id", "name", "AP"}, ...]}}`` (and the same
        under ``"segm"``); values are fractions in [0, 1] (-1 where pycocotools has nothing to measure, e.g. no
        small objects).

    Raises:
        ValueError: no image to evaluate (an AP of 0 would look like a result).

    Examples::

        >>> gt = {"images": [{"id": 1, "width": 8, "height": 8}], "categories": [{"id": 3, "name": "square"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "area": 16,
        ...                        "iscrowd": 0}]}
        >>> det = [{"image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "score": 0.9}]
        >>> round(coco_evaluate(gt, det, [1], verbose=False)["bbox"]["AP"], 6)
        1.0
    """
    return coco_evaluation(ground_truth, results, image_ids, iou_types=iou_types, verbose=verbose)[0]


def coco_evaluation(
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    image_ids: Iterable[int],
    *,
    iou_types: Sequence[str] = ("bbox",),
    verbose: bool = True,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """:func:`coco_evaluate`'s metrics and COCOeval's accumulated precision, for the precision-recall curves.

    Args:
        ground_truth, results, image_ids, iou_types, verbose: as :func:`coco_evaluate`.

    Returns:
        ``(metrics, precision)``: ``precision`` is the box COCOeval's ``eval["precision"]``, ``[10 IoUs 0.50:0.95,
        101 recall points, K categories, 4 areas, 3 max-dets]`` (-1: no ground truth), its categories in the order
        of ``metrics["bbox"]["per_category"]``; ``None`` when there is no detection at all (nothing accumulated).
        The array stays out of ``metrics``, which goes to ``metrics.json``.

    Examples::

        >>> gt = {"images": [{"id": 1, "width": 8, "height": 8}], "categories": [{"id": 3, "name": "square"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "area": 16,
        ...                        "iscrowd": 0}]}
        >>> det = [{"image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "score": 0.9}]
        >>> metrics, precision = coco_evaluation(gt, det, [1], verbose=False)
        >>> precision.shape, round(float(precision[0, :, 0, 0, -1].min()), 6)
        ((10, 101, 1, 4, 3), 1.0)
    """
    image_ids = sorted(set(image_ids))
    if not image_ids:
        raise ValueError("no image to evaluate: the evaluation set is empty (or every image was skipped)")
    unknown = sorted(set(iou_types) - {"bbox", "segm"})
    if unknown or not iou_types:
        raise ValueError(f"iou_types must be among ['bbox', 'segm'], got {list(iou_types)}")
    metrics: dict[str, Any] = {}
    precision = None
    for iou_type in iou_types:
        # Each type sees only its own geometry: pycocotools' loadRes reads a result's bbox first when it has one.
        drop = "segmentation" if iou_type == "bbox" else "bbox"
        typed = [{k: v for k, v in r.items() if k != drop} for r in results]
        metrics[iou_type], type_precision = _evaluate(ground_truth, typed, image_ids, iou_type, verbose)
        precision = type_precision if iou_type == "bbox" else precision
    return metrics, precision


def _evaluate(
    ground_truth: dict[str, Any], results: list[dict[str, Any]], image_ids: list[int], iou_type: str, verbose: bool
) -> tuple[dict[str, Any], np.ndarray | None]:
    """One ``COCOeval`` run (``iou_type`` ``bbox`` or ``segm``): its metrics and its precision, categories ordered."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    per_category = [{"id": c["id"], "name": c.get("name", str(c["id"])), "AP": 0.0} for c in ground_truth["categories"]]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(ground_truth)  # pycocotools writes into it ("ignore", polygons -> RLE)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results)) if results else _no_detections(coco_gt)
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    if verbose:
        print(f"IoU metric: {iou_type}\n{summary.getvalue()}", end="")  # as torchvision's references
    metrics: dict[str, Any] = {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
    # precision: [IoU thresholds, recall points, categories, area ranges, max detections]; area "all", 100 dets.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    for k, cat_id in enumerate(evaluator.params.catIds):
        valid = precision[:, :, k][precision[:, :, k] > -1]
        entry = next(e for e in per_category if e["id"] == cat_id)
        entry["AP"] = float(valid.mean()) if valid.size else -1.0
    metrics["per_category"] = per_category
    if not results:  # pycocotools' metrics (0, or -1 where nothing is to be found), but no curve to draw
        return metrics, None
    order = [evaluator.params.catIds.index(entry["id"]) for entry in per_category]
    return metrics, evaluator.eval["precision"][:, :, order]


def _no_detections(coco_gt: Any) -> Any:
    """An empty results object for ``coco_gt`` (``loadRes`` cannot read an empty list)."""
    from pycocotools.coco import COCO

    empty = COCO()
    empty.dataset = {**{key: coco_gt.dataset[key] for key in ("images", "categories")}, "annotations": []}
    empty.createIndex()
    return empty
