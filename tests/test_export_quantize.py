"""INT8 calibration: every calibration image counts, whatever their number (onnxruntime merges chunks of them);
the first and the last convolution stay in float; by default only the heavy convolutions are quantized."""

import numpy as np
import pytest
import torch

from ghost_backbones.errors import ExportError
from ghost_backbones.export.quantize import CALIBRATION_CHUNK, HEAVY_FAN_IN, quantize_int8

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _input_scale(path) -> float:
    """The scale of the QuantizeLinear fed by the graph input (its activation range / 255)."""
    model = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    node = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "image")
    return float(inits[node.input[1]])


@pytest.mark.parametrize("count", [1, CALIBRATION_CHUNK, CALIBRATION_CHUNK + 1, 2 * CALIBRATION_CHUNK])
def test_every_calibration_image_sets_the_ranges(tmp_path, count: int) -> None:
    fp32 = tmp_path / "conv.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 4, 3).eval(), (torch.rand(1, 3, 8, 8),), str(fp32), dynamo=False,
                      input_names=["image"], output_names=["out"])  # fmt: skip
    images = [np.full((1, 3, 8, 8), 1.0, np.float32) for _ in range(count)]
    images[0] = images[0] * 100.0  # only the first image reaches 100: its range must survive the later chunks
    info = quantize_int8(fp32, tmp_path / "int8.onnx", images, keep_edges_float=False)  # its one conv is an edge
    assert info["calibration_images"] == count
    assert _input_scale(tmp_path / "int8.onnx") == pytest.approx(100.0 / 255.0, rel=1e-3)


def test_first_and_last_convolutions_stay_float(tmp_path) -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1)
    ).eval()
    fp32 = tmp_path / "three.onnx"
    torch.onnx.export(model, (torch.rand(1, 3, 16, 16),), str(fp32), dynamo=False,
                      input_names=["image"], output_names=["out"])  # fmt: skip
    images = [np.random.default_rng(i).random((1, 3, 16, 16), dtype=np.float32) for i in range(4)]
    info = quantize_int8(fp32, tmp_path / "int8.onnx", images)
    convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv"]
    assert info["float_nodes"] == [convs[0], convs[2]]
    quantized = onnx.load(str(tmp_path / "int8.onnx"))
    dequantized = {n.output[0] for n in quantized.graph.node if n.op_type == "DequantizeLinear"}
    int8_weights = {n.name: n.input[1] in dequantized for n in quantized.graph.node if n.op_type == "Conv"}
    assert int8_weights == {convs[0]: False, convs[1]: True, convs[2]: False}
    everything = quantize_int8(fp32, tmp_path / "all.onnx", images, keep_edges_float=False)
    assert everything["float_nodes"] == []


def _int8_convs(path) -> set[str]:
    """The Conv nodes of a QDQ model whose weights come through a DequantizeLinear."""
    quantized = onnx.load(str(path))
    dequantized = {n.output[0] for n in quantized.graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in quantized.graph.node if n.op_type == "Conv" and n.input[1] in dequantized}


def test_default_quantizes_only_the_heavy_convolutions(tmp_path) -> None:
    wide = HEAVY_FAN_IN // 9 + 1  # a 3x3 convolution over this many channels is heavy, one over 8 is not
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),  # the stem (an edge)
        torch.nn.Conv2d(8, wide, 3), torch.nn.ReLU(),  # fan-in 72: light
        torch.nn.Conv2d(wide, wide, 3, groups=wide), torch.nn.ReLU(),  # depthwise: never heavy
        torch.nn.Conv2d(wide, wide, 3), torch.nn.ReLU(),  # heavy
        torch.nn.Conv2d(wide, 2, 1),  # the classifier (an edge)
    ).eval()  # fmt: skip
    fp32 = tmp_path / "five.onnx"
    torch.onnx.export(model, (torch.rand(1, 3, 24, 24),), str(fp32), dynamo=False,
                      input_names=["image"], output_names=["out"])  # fmt: skip
    convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv"]
    images = [np.random.default_rng(i).random((1, 3, 24, 24), dtype=np.float32) for i in range(2)]
    info = quantize_int8(fp32, tmp_path / "heavy.onnx", images)
    assert _int8_convs(tmp_path / "heavy.onnx") == {convs[3]}
    assert info["convolutions"] == f"heavy (dense, fan-in >= {HEAVY_FAN_IN}): 1" and info["operators"] == ["Conv"]
    every = quantize_int8(fp32, tmp_path / "all.onnx", images, convs="all")
    assert _int8_convs(tmp_path / "all.onnx") == set(convs[1:4]) and every["convolutions"] == "all"
    with pytest.raises(ExportError, match="convs must be one of"):
        quantize_int8(fp32, tmp_path / "bad.onnx", images, convs="some")


def test_a_model_without_heavy_convolutions_is_quantized_whole_with_a_warning(tmp_path, caplog) -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3),
                                torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1)).eval()  # fmt: skip
    fp32 = tmp_path / "light.onnx"
    torch.onnx.export(model, (torch.rand(1, 3, 16, 16),), str(fp32), dynamo=False,
                      input_names=["image"], output_names=["out"])  # fmt: skip
    images = [np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)]
    with caplog.at_level("WARNING", logger="ghost_backbones.export.quantize"):
        info = quantize_int8(fp32, tmp_path / "q.onnx", images)
    assert info["convolutions"] == "all" and len(_int8_convs(tmp_path / "q.onnx")) == 1  # the middle one
    assert any("no convolution is heavy enough" in r.getMessage() for r in caplog.records)


def test_int8_one_stage_detector_runs_on_an_image_without_candidates(tmp_path) -> None:
    """The quantizer's shape annotations made onnxruntime's ReshapeFusion crash on empty levels ({0, -1})."""
    ort = pytest.importorskip("onnxruntime")
    from detection.config import model_config
    from detection.models import build_model
    from ghost_backbones.engine import BackboneConfig
    from ghost_backbones.export import DetectionGraph, write_model

    torch.manual_seed(0)
    small = dict(backbone=BackboneConfig(width=0.5), fpn_channels=32)
    cfg = model_config("retinanet", num_classes=3, min_size=160, max_size=160, extra_blocks="p6p7",
                      out_indices=[3, 4], anchor_scales=[2.0], **small)  # fmt: skip
    graph = DetectionGraph(build_model(cfg).eval(), [1, 2]).eval()
    image = torch.randint(0, 256, (3, 160, 160), dtype=torch.uint8)
    assert len(graph(image)[0]) == 0  # untrained: no score passes 0.05, every level keeps no candidate
    write_model(graph, image, tmp_path / "m.onnx", fmt="onnx", spec=graph.spec, meta={})
    calibration = [np.random.default_rng(i).integers(0, 256, (3, 160, 160), dtype=np.uint8) for i in range(2)]
    quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", calibration)
    assert len(onnx.load(str(tmp_path / "q.onnx")).graph.value_info) == 0
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    boxes, labels, scores = session.run(None, {session.get_inputs()[0].name: image.numpy()})
    assert boxes.shape == (0, 4) and labels.shape == (0,) and scores.shape == (0,)
