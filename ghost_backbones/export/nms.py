"""NMS in exported detectors that stops at the detections the model keeps (ONNX ``max_output_boxes_per_class``).

Traced, torchvision's ``batched_nms`` runs as one ``torchvision::nms`` over every class's candidates (the
coordinate trick: boxes of different classes moved apart so they never overlap), and torchvision's ONNX symbolic
writes it as ``NonMaxSuppression`` with an unbounded ``max_output_boxes_per_class``: onnxruntime's greedy loop
then compares each of the candidates with every box kept so far (the 27k candidates of an untrained 91-class
SSDLite: 234 of the file's 264 ms; docs/benchmarks.md, issue 12). Every torchvision detector
keeps only the first ``K`` boxes NMS returns (``keep[:detections_per_img]``; the RPN ``keep[:post_nms_top_n]``),
and greedy NMS returns them in score order, each decided by higher-scored boxes only, so stopping after the
model's largest ``K`` gives exactly the boxes the model keeps. `bounded_nms` writes that bound into the file;
the export check still compares the file with eager PyTorch.

Examples::

    >>> import torchvision
    >>> nms_limit(torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None))
    300
    >>> nms_limit(torch.nn.Conv2d(3, 8, 3)) is None
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["bounded_nms", "nms_limit"]


def nms_limit(model: nn.Module) -> int | None:
    """The most boxes any NMS of ``model`` has kept from it at inference (``None``: ``model`` runs no torchvision NMS).

    The largest ``detections_per_img`` (``SSD``, ``RetinaNet``, ``FCOS``, ``RoIHeads``) and RPN test-time
    ``post_nms_top_n`` among ``model``'s modules.
    """
    limits = []
    for module in model.modules():
        if isinstance(getattr(module, "detections_per_img", None), int):
            limits.append(module.detections_per_img)
        post_nms = getattr(module, "_post_nms_top_n", None)
        if isinstance(post_nms, dict) and isinstance(post_nms.get("testing"), int):
            limits.append(post_nms["testing"])
    return max(limits) if limits else None


def _symbolic(limit: int):  # noqa: ANN202 - an ONNX symbolic function
    from torch.onnx import symbolic_helper
    from torch.onnx import symbolic_opset11 as opset11

    to_float = torch.onnx.TensorProtoDataType.FLOAT

    @symbolic_helper.parse_args("v", "v", "f")
    def nms(g, boxes, scores, iou_threshold):  # noqa: ANN001, ANN202 - torchvision's symbolic with a bound
        out = g.op(
            "NonMaxSuppression",
            g.op("Cast", opset11.unsqueeze(g, boxes, 0), to_i=to_float),
            g.op("Cast", opset11.unsqueeze(g, opset11.unsqueeze(g, scores, 0), 0), to_i=to_float),
            g.op("Constant", value_t=torch.tensor([limit], dtype=torch.long)),
            g.op("Constant", value_t=torch.tensor([iou_threshold], dtype=torch.float)),
        )
        column = opset11.select(g, out, 1, g.op("Constant", value_t=torch.tensor([2], dtype=torch.long)))
        return opset11.squeeze(g, column, 1)

    return nms


@contextlib.contextmanager
def bounded_nms(limit: int | None) -> Iterator[None]:
    """While active, ``torch.onnx.export`` writes ``torchvision::nms`` keeping at most ``limit`` boxes.

    ``None`` changes nothing. torchvision's own symbolic is registered again on exit.

    Examples::

        >>> with bounded_nms(300):
        ...     pass  # torch.onnx.export(DetectionGraph(detector, ids), ...)
    """
    if limit is None:
        yield
        return
    from torchvision.ops import _register_onnx_ops  # torchvision's symbolic, to put back

    opset = _register_onnx_ops.BASE_ONNX_OPSET_VERSION
    torch.onnx.register_custom_op_symbolic("torchvision::nms", _symbolic(limit), opset)
    try:
        yield
    finally:
        torch.onnx.register_custom_op_symbolic("torchvision::nms", _register_onnx_ops.symbolic_multi_label_nms, opset)
