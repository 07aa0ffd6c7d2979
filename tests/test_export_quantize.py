"""INT8 calibration: every calibration image counts, whatever their number (onnxruntime merges chunks of them);
the first and the last convolution stay in float."""

import numpy as np
import pytest
import torch

from ghost_backbones.export.quantize import CALIBRATION_CHUNK, quantize_int8

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
