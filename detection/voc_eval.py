"""PASCAL VOC box mAP@0.5, as the devkit computes it: per-class AP, 11-point (VOC2007) and area (VOC2010+).

The ground truth and the detections come in the COCO formats the rest of ``detection`` uses (a COCO instances
dict, and results ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``) with 0-based ``[x1, x2)`` pixel
boxes; an annotation with ``difficult`` (or, without that key, ``iscrowd``) set is a difficult object.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["voc_ap", "voc_evaluate"]


def voc_ap(recall: np.ndarray, precision: np.ndarray, *, use_07_metric: bool = False) -> float:
    """Average precision from the cumulative recall / precision of detections sorted by decreasing score.

    ``use_07_metric``: the VOC2007 11-point method (the mean of the best precision at recall >= 0, 0.1, ..., 1);
    otherwise the area under the precision envelope (VOC2010 and later), as the devkit's ``VOCap``.

    Examples::

        >>> recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
        >>> round(voc_ap(recall, precision), 4), round(voc_ap(recall, precision, use_07_metric=True), 4)
        (0.8333, 0.8485)
    """
    if use_07_metric:
        points = [precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]
        return float(np.mean(points))
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the precision envelope: best precision at any higher recall
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one XYXY box with ``boxes``. The devkit adds 1 to widths of inclusive boxes; ours are half-open."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return inter / np.maximum(union, np.finfo(np.float64).eps)


def _xyxy(bbox: list[float]) -> list[float]:
    return [bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]]


def _class_pr(
    gt: dict[Any, tuple[np.ndarray, np.ndarray]], dets: list[dict[str, Any]], iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Recall, precision and the number of non-difficult objects for one class (the devkit's greedy matching).

    ``gt``: ``{image id: (boxes (N, 4), difficult (N,))}``. Detections are taken by decreasing score (stable for
    ties); each goes to the object it overlaps most in its image. Above the threshold: a difficult object makes
    it neither a true nor a false positive, a free object a true positive (then taken), a taken one a false
    positive (a duplicate). Below: a false positive.
    """
    num_objects = int(sum((~hard).sum() for _, hard in gt.values()))
    order = sorted(range(len(dets)), key=lambda k: -dets[k]["score"])
    taken = {image_id: np.zeros(len(hard), dtype=bool) for image_id, (_, hard) in gt.items()}
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, k in enumerate(order):
        det = dets[k]
        boxes, hard = gt.get(det["image_id"], (np.zeros((0, 4)), np.zeros(0, dtype=bool)))
        overlaps = _iou(np.asarray(_xyxy(det["bbox"]), dtype=np.float64), boxes) if len(boxes) else np.zeros(0)
        best = int(overlaps.argmax()) if len(overlaps) else -1
        if best < 0 or overlaps[best] <= iou_threshold:
            fp[rank] = 1
        elif hard[best]:
            continue  # ignored
        elif not taken[det["image_id"]][best]:
            tp[rank], taken[det["image_id"]][best] = 1, True
        else:
            fp[rank] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / max(num_objects, 1)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return recall, precision, num_objects


def _by_class(
    ground_truth: dict[str, Any], results: list[dict[str, Any]], image_ids: set[Any]
) -> tuple[dict[Any, dict[Any, tuple[np.ndarray, np.ndarray]]], dict[Any, list[dict[str, Any]]]]:
    """``({category: {image: (boxes, difficult)}}, {category: [detection, ...]})`` over ``image_ids``."""
    lists: dict[Any, dict[Any, tuple[list, list]]] = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for ann in ground_truth["annotations"]:
        if ann["image_id"] in image_ids:
            boxes, hard = lists[ann["category_id"]][ann["image_id"]]
            boxes.append(_xyxy(ann["bbox"]))
            hard.append(bool(ann.get("difficult", ann.get("iscrowd", 0))))
    objects: dict[Any, dict[Any, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for category, images in lists.items():
        for image_id, (boxes, hard) in images.items():
            objects[category][image_id] = (np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(hard, bool))
    detections: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for det in results:
        if det["image_id"] in image_ids:
            detections[det["category_id"]].append(det)
    return objects, detections


def voc_evaluate(
    ground_truth: dict[str, Any],
    results: list[dict[str, Any]],
    image_ids: Iterable[Any],
    *,
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """VOC mAP@``iou_threshold`` of ``results`` on ``image_ids``: per-class AP by both VOC methods, and their means.

    Difficult objects are neither true nor false positives (a detection on one is ignored) and do not count in
    the recall. A class without any non-difficult object in the evaluated images has AP -1 and is left out of the
    means (the devkit would divide by zero).

    Args:
        ground_truth: a COCO instances dict; ``difficult`` (or ``iscrowd``) marks difficult objects.
        results: detections in the COCO results format.
        image_ids: the images evaluated (detections and objects of other images are left out).
        iou_threshold: a detection matches an object with an IoU above it (the devkit's 0.5).

    Returns:
        ``{"voc": {"mAP50_11pt", "mAP50_area", "iou_threshold", "per_class": [{"id", "name", "AP50_11pt",
        "AP50_area", "num_objects", "num_detections"}, ...]}}``; values are fractions in [0, 1].

    Examples::

        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "dog"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0}]}
        >>> det = [{"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.9}]
        >>> voc = voc_evaluate(gt, det, [1])["voc"]
        >>> voc["mAP50_area"], voc["mAP50_11pt"], voc["per_class"][0]["num_objects"]
        (1.0, 1.0, 1)
    """
    image_ids = set(image_ids)
    if not image_ids:
        raise ValueError("no image to evaluate: the evaluation set is empty (or every image was skipped)")
    objects, detections = _by_class(ground_truth, results, image_ids)
    per_class = []
    for cat in ground_truth["categories"]:
        recall, precision, num_objects = _class_pr(objects[cat["id"]], detections[cat["id"]], iou_threshold)
        aps = [voc_ap(recall, precision, use_07_metric=m) if num_objects else -1.0 for m in (True, False)]
        per_class.append({"id": cat["id"], "name": cat.get("name", str(cat["id"])), "AP50_11pt": aps[0],
                          "AP50_area": aps[1], "num_objects": num_objects,
                          "num_detections": len(detections[cat["id"]])})  # fmt: skip
    measured = [c for c in per_class if c["num_objects"]]
    means = {key: float(np.mean([c[key] for c in measured])) if measured else 0.0 for key in ("AP50_11pt", "AP50_area")}
    return {
        "voc": {
            "mAP50_11pt": means["AP50_11pt"],
            "mAP50_area": means["AP50_area"],
            "iou_threshold": iou_threshold,
            "per_class": per_class,
        }
    }
