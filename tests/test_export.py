"""Export: ``torch.export`` and ONNX (run in onnxruntime) for the classifier and the feature extractor."""

import warnings

import numpy as np
import pytest
import timm
import torch
from timm.utils import reparameterize_model

import ghost_backbones  # noqa: F401  (registers the models)
from ghost_backbones.bench import torch_threads

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

CASES = [
    ("ghostnet", dict(num_classes=10), False),
    ("ghostnetv2", dict(features_only=True), False),
    ("ghostnetv3", dict(features_only=True, output_stride=16), True),
]
IDS = ["v1-classifier", "v2-features", "v3-features-os16-fused"]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: with other jobs on the cores, OpenMP's spin-waiting makes 2 threads 10x slower."""
    with torch_threads(1):
        yield


def _build(name: str, kwargs: dict, fused: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, width=0.5, **kwargs).eval()
    return reparameterize_model(model) if fused else model


def _as_list(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


# torch.export takes ~10 s a model on our 2-core machines: the fused V3 feature extractor (the hardest case: rep
# branches merged, DFC attention, dilation) runs by default, the other two with -m slow.
EXPORT_CASES = [pytest.param(*case, marks=[] if i == 2 else [pytest.mark.slow]) for i, case in enumerate(CASES)]


@pytest.mark.parametrize(("name", "kwargs", "fused"), EXPORT_CASES, ids=IDS)
def test_torch_export_dynamic_shapes(name: str, kwargs: dict, fused: bool) -> None:
    model = _build(name, kwargs, fused)
    batch, height, width = torch.export.Dim("batch", max=64), torch.export.Dim.AUTO, torch.export.Dim.AUTO
    program = torch.export.export(model, (torch.rand(2, 3, 64, 64),), dynamic_shapes=({0: batch, 2: height, 3: width},))
    x = torch.rand(3, 3, 96, 80)
    with torch.no_grad():
        expected = _as_list(model(x))
    got = _as_list(program.module()(x))
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "kwargs", "fused"), CASES, ids=IDS)
def test_onnx_export_runs_in_onnxruntime(tmp_path, name: str, kwargs: dict, fused: bool) -> None:
    model = _build(name, kwargs, fused)
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (torch.rand(1, 3, 64, 64),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}},
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 96, 80)
    got = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        expected = _as_list(model(x))
    assert [g.shape for g in got] == [tuple(e.shape) for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-4, atol=1e-5)


def test_full_width_ghost_modules_export_without_slices(tmp_path) -> None:
    """A Ghost module cuts its concat only when it exceeds out_chs: a full-width Slice is a copy in onnxruntime."""
    onnx = pytest.importorskip("onnx")
    from ghost_backbones.models.blocks import GhostModule

    model = timm.create_model("ghostnet", width=0.5).eval()
    torch.onnx.export(model, (torch.rand(1, 3, 64, 64),), str(tmp_path / "g.onnx"), dynamo=False)
    ops = [node.op_type for node in onnx.load(str(tmp_path / "g.onnx")).graph.node]
    assert ops.count("Concat") >= 16 and "Slice" not in ops
    odd, even = GhostModule(8, 5).eval(), GhostModule(8, 6).eval()
    assert (odd.trim, even.trim) == (True, False)
    assert odd(torch.rand(1, 8, 4, 4)).shape[1] == 5 and even(torch.rand(1, 8, 4, 4)).shape[1] == 6


def test_a_failed_check_names_the_first_layer_that_differs(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from ghost_backbones.export.locate import first_divergent_layer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1), torch.nn.ReLU())
    model = torch.nn.Sequential()
    model.add_module("body", net.eval())
    image = torch.rand(1, 3, 16, 16)
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (image,), str(path), dynamo=False, input_names=["image"], output_names=["out"])
    assert first_divergent_layer(model, path, image) is None  # a faithful file: nothing to name
    broken = onnx.load(str(path))  # the second convolution's weights changed in the file only
    weight = next(i for i in broken.graph.initializer if i.name == "body.2.weight")
    weight.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weight) * 1.5, weight.name))
    onnx.save(broken, str(path))
    found = first_divergent_layer(model, path, image)
    assert found is not None and found.startswith("'body.2' (max abs difference")
