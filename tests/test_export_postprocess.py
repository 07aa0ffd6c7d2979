"""Detection post-processing as the export traces it: NMS bounded by the detections a model keeps
(`ghost_backbones.export.nms`: the same boxes as eager PyTorch, the bound in the file, torchvision's own symbolic
back after the export) and SSD's classes in one ``TopK`` (`ghost_backbones.export.ssd_postprocess`: the same
detections as torchvision's per-class loop)."""

import sys

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from detection.config import model_config
from detection.models import build_model
from ghost_backbones.engine import BackboneConfig
from ghost_backbones.export.nms import bounded_nms, nms_limit
from ghost_backbones.export.ssd_postprocess import traceable_ssd

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


class KeepFirst(nn.Module):
    """What every torchvision detector does after NMS: ``batched_nms`` over all classes, then ``keep[:K]``."""

    detections_per_img = 6

    def forward(self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torchvision.ops.batched_nms(boxes, scores, labels, 0.5)[: self.detections_per_img]


def _inputs(seed: int, n: int = 300) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 30], 1)
    return boxes, torch.rand(n, generator=g), torch.randint(0, 3, (n,), generator=g)


def _export(model: nn.Module, path, limit: int | None) -> list[int]:
    """Export ``model``; return the ``max_output_boxes_per_class`` values of its ``NonMaxSuppression`` nodes."""
    with bounded_nms(limit):
        torch.onnx.export(model, _inputs(0), str(path), dynamo=False, opset_version=17,
                          input_names=["boxes", "scores", "labels"], output_names=["keep"],
                          dynamic_axes={"boxes": {0: "n"}, "scores": {0: "n"}, "labels": {0: "n"}})  # fmt: skip
    graph = onnx.load(str(path)).graph
    nodes = [*graph.node, *(inner for node in graph.node for a in node.attribute if a.g for inner in a.g.node)]
    constants = {n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t) for n in nodes if n.op_type == "Constant"}
    return [int(constants[n.input[2]][0]) for n in nodes if n.op_type == "NonMaxSuppression"]


def test_bounded_nms_keeps_what_the_model_keeps(tmp_path):
    model = KeepFirst()
    assert _export(model, tmp_path / "bounded.onnx", nms_limit(model)) == [6]
    session = onnxruntime.InferenceSession(str(tmp_path / "bounded.onnx"), providers=["CPUExecutionProvider"])
    for seed in range(5):  # other boxes than the traced ones, many more survivors than the 6 kept
        boxes, scores, labels = _inputs(seed, n=200 + 50 * seed)
        assert len(torchvision.ops.batched_nms(boxes, scores, labels, 0.5)) > 20
        (got,) = session.run(None, {"boxes": boxes.numpy(), "scores": scores.numpy(), "labels": labels.numpy()})
        np.testing.assert_array_equal(got, model(boxes, scores, labels).numpy())


def test_torchvision_symbolic_is_back_after_the_export(tmp_path):
    _export(KeepFirst(), tmp_path / "bounded.onnx", 6)
    assert _export(KeepFirst(), tmp_path / "plain.onnx", None) == [sys.maxsize]


def test_limit_is_the_most_any_stage_keeps():
    backbone = BackboneConfig(width=0.5, pretrained=False)
    cfg = model_config("faster_rcnn", num_classes=3, backbone=backbone, rpn_post_nms_top_n_test=700,
                      box_detections_per_img=50)  # fmt: skip
    assert nms_limit(build_model(cfg)) == 700
    cfg = model_config("ssdlite", num_classes=3, backbone=backbone, out_indices=[3, 4], min_size=96, max_size=96,
                      box_detections_per_img=40)  # fmt: skip
    assert nms_limit(build_model(cfg)) == 40
    assert nms_limit(nn.Conv2d(3, 3, 1)) is None


def test_ssd_classes_in_one_topk_give_torchvision_detections():
    cfg = model_config("ssdlite", num_classes=6, backbone=BackboneConfig(width=0.5, pretrained=False),
                      out_indices=[3, 4], min_size=96, max_size=96, ssd_extra_channels=[32, 16, 16, 16])  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for m in model.modules():  # untrained statistics give every anchor the same scores: spread them
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
    images = [torch.rand(3, 96, 96) for _ in range(3)]
    with torch.no_grad():
        scores = torch.softmax(
            model.head(list(model.backbone(model.transform(images)[0].tensors).values()))["cls_logits"], -1
        )
    # few candidates per class, and a threshold some classes have fewer anchors above than that
    model.topk_candidates, model.score_thresh = 7, float(scores[..., 1:].flatten().quantile(0.98))
    above = (scores[..., 1:] > model.score_thresh).sum(1)  # (image, class)
    assert above.min() < 7 < above.max()
    with torch.no_grad():
        expected = model(images)
        with traceable_ssd(model):
            got = model(images)
    assert any(0 < len(e["boxes"]) for e in expected)
    for e, g in zip(expected, got):
        for key in ("boxes", "labels", "scores"):
            torch.testing.assert_close(g[key], e[key], rtol=0, atol=0)
