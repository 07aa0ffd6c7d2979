"""SSD's post-processing written for tracing: one ``TopK`` over all classes instead of a loop unrolled per class.

torchvision's ``SSD.postprocess_detections`` loops over the classes in Python (threshold, ``topk`` of each class's
scores, gather): traced, that is ~10 operators per class, 900 for COCO's 91, and onnxruntime spent 24 of an exported
SSDLite's 33 ms in them (docs/benchmarks.md, issue 12). `traceable_ssd` swaps in the same computation on the
``(classes, anchors)`` score matrix at once, for the export only (eager PyTorch keeps torchvision's code):

- torchvision: per class, the scores above ``score_thresh``, then their ``topk_candidates`` best;
- here: per class, the ``topk_candidates`` best scores, then those above ``score_thresh``: the same boxes (the
  best ``k`` of those above a threshold are the best ``k`` cut at the threshold), in the same order (class by
  class, best first), so ``batched_nms`` and ``detections_per_img`` see the same candidates.

The export check still compares the file with eager PyTorch on sample images.

Examples::

    >>> import torchvision
    >>> ssd = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    >>> with traceable_ssd(ssd):
    ...     ssd.postprocess_detections.__func__ is ssd_postprocess_detections
    True
    >>> ssd.postprocess_detections.__func__ is SSD.postprocess_detections
    True
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.ssd import SSD
from torchvision.ops import boxes as box_ops

__all__ = ["ssd_postprocess_detections", "traceable_ssd"]


def ssd_postprocess_detections(
    self: SSD, head_outputs: dict[str, Tensor], image_anchors: list[Tensor], image_shapes: list[tuple[int, int]]
) -> list[dict[str, Tensor]]:
    """``SSD.postprocess_detections`` with the classes handled together (same arguments and results)."""
    pred_scores = F.softmax(head_outputs["cls_logits"], dim=-1)
    detections: list[dict[str, Tensor]] = []
    for boxes, scores, anchors, image_shape in zip(head_outputs["bbox_regression"], pred_scores, image_anchors,
                                                   image_shapes):  # fmt: skip
        boxes = box_ops.clip_boxes_to_image(self.box_coder.decode_single(boxes, anchors), image_shape)
        class_scores = scores[:, 1:].t()  # (classes without background, anchors)
        top, index = class_scores.topk(det_utils._topk_min(class_scores, self.topk_candidates, 1), dim=1)
        keep = top > self.score_thresh
        labels = torch.arange(1, scores.shape[1], device=scores.device)[:, None].expand_as(top)[keep]
        image_boxes, image_scores = boxes[index[keep]], top[keep]
        kept = box_ops.batched_nms(image_boxes, image_scores, labels, self.nms_thresh)[: self.detections_per_img]
        detections.append({"boxes": image_boxes[kept], "scores": image_scores[kept], "labels": labels[kept]})
    return detections


@contextlib.contextmanager
def traceable_ssd(model: nn.Module) -> Iterator[None]:
    """While active, every torchvision ``SSD`` in ``model`` post-processes with :func:`ssd_postprocess_detections`."""
    ssds = [m for m in model.modules() if isinstance(m, SSD)]
    for ssd in ssds:
        ssd.postprocess_detections = types.MethodType(ssd_postprocess_detections, ssd)
    try:
        yield
    finally:
        for ssd in ssds:
            del ssd.postprocess_detections  # torchvision's method again
