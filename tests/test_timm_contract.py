"""timm's model contract for ``ghostnet`` / ``ghostnetv2`` / ``ghostnetv3``, checked with our own small tests.

What timm's own ``tests/test_models.py`` asks of a model (default cfg, ``device``/``dtype`` factory arguments,
TorchScript, FX, ``forward_intermediates``, pruning, ``reset_classifier``, feature wrappers, ``local-dir:``
loading), on width-0.5 models and 64x64 inputs where a forward pass is needed.
"""

from functools import partial
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models import (
    FeatureDictNet,
    FeatureHookNet,
    FeatureListNet,
    GraphExtractNet,
    get_notrace_functions,
    save_for_hf,
)
from torch import nn

from ghost_backbones.bench import torch_threads
from ghost_backbones.models.blocks import GhostModuleV2
from ghost_backbones.models.dfc import apply_dfc_gate, dfc_gate, dfc_pool
from ghost_backbones.models.ghostnet import UnsupportedPoolError

NAMES = ["ghostnet", "ghostnetv2", "ghostnetv3"]
TAGGED = timm.list_models(["ghostnet.*", "ghostnetv2.*", "ghostnetv3.*"], pretrained=True)
X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: with other jobs on the cores, OpenMP's spin-waiting makes 2 threads 10x slower."""
    with torch_threads(1):
        yield


def _small(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, width=0.5, **kwargs)


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return dict(module.named_parameters()) | dict(module.named_buffers())


def _as_list(out) -> list[torch.Tensor]:
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, (list, tuple)) else [out]


# -------------------------------------------------------------------------------------------- default cfg
def test_tagged_names_listed() -> None:
    published = ["ghostnet.w100", "ghostnetv2.w100", "ghostnetv2.w130", "ghostnetv2.w160", "ghostnetv3.w100"]
    assert TAGGED == [f"{name}_in1k" for name in published]


@pytest.mark.parametrize("name", NAMES + TAGGED)
def test_default_cfg_matches_model(name: str) -> None:
    model = timm.create_model(name, device="meta").eval()  # meta: full 224 px shapes without compute
    cfg = model.default_cfg
    assert cfg is model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["pool_size"] == (7, 7)
    assert (cfg["mean"], cfg["std"]) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (cfg["num_classes"], cfg["crop_pct"], cfg["interpolation"]) == (1000, 0.875, "bicubic")
    assert cfg["architecture"] == name.split(".")[0]
    keys = model.state_dict().keys()
    assert f"{cfg['first_conv']}.weight" in keys and f"{cfg['classifier']}.weight" in keys
    assert model.in_chans == cfg["input_size"][0] and model.num_classes == cfg["num_classes"]
    features = model.forward_features(torch.empty(1, *cfg["input_size"], device="meta"))
    assert tuple(features.shape[1:]) == (model.num_features, *cfg["pool_size"])
    assert tuple(model.forward_head(features, pre_logits=True).shape) == (1, model.head_hidden_size)
    assert tuple(model.forward_head(features).shape) == (1, cfg["num_classes"])


# ------------------------------------------------------------------------------------------ device, dtype
@pytest.mark.parametrize("features_only", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_meta_device_construction(name: str, features_only: bool) -> None:
    model = timm.create_model(name, device="meta", features_only=features_only)
    tensors = _tensors(model)
    assert tensors and all(t.is_meta for t in tensors.values())
    out = _as_list(model(torch.empty(2, 3, 64, 64, device="meta")))
    expected = [(2, 16, 32, 32), (2, 24, 16, 16), (2, 40, 8, 8), (2, 112, 4, 4), (2, 960, 2, 2)]
    assert [tuple(o.shape) for o in out] == (expected if features_only else [(2, 1000)])


def test_meta_device_context_manager() -> None:
    with torch.device("meta"):
        model = timm.create_model("ghostnetv3", norm_layer="frozenbn")
    assert all(t.is_meta for t in _tensors(model).values())


@pytest.mark.parametrize("features_only", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_construction_and_forward(name: str, features_only: bool) -> None:
    model = _small(name, dtype=torch.bfloat16, features_only=features_only).eval()
    floating = [t for t in _tensors(model).values() if t.is_floating_point()]
    assert floating and all(t.dtype == torch.bfloat16 for t in floating)
    with torch.no_grad():
        out = _as_list(model(X.bfloat16()))
    assert all(o.dtype == torch.bfloat16 and torch.isfinite(o).all() for o in out)


@pytest.mark.parametrize(
    "norm_layer",
    ["batchnorm", "frozenbn", "groupnorm", "syncbn", partial(nn.GroupNorm, 2), lambda c: nn.GroupNorm(2, c)],
    ids=["batchnorm", "frozenbn", "groupnorm", "syncbn", "partial", "lambda-without-device-dtype"],
)
def test_norm_layers_follow_device_and_dtype(norm_layer) -> None:
    meta = timm.create_model("ghostnetv2", norm_layer=norm_layer, device="meta")
    assert all(t.is_meta for t in _tensors(meta).values())
    half = _small("ghostnetv3", norm_layer=norm_layer, dtype=torch.bfloat16)
    assert all(t.dtype == torch.bfloat16 for t in _tensors(half).values() if t.is_floating_point())


# ------------------------------------------------------------------------------------------- torchscript
@pytest.mark.parametrize("name", NAMES)
def test_torchscript_matches_eager(name: str) -> None:
    model = _small(name, num_classes=10).eval()
    scripted = torch.jit.script(model)
    with torch.no_grad():
        expected = model(X)
        torch.testing.assert_close(scripted(X), expected, rtol=1e-5, atol=1e-5)
        deployed = timm.utils.reparameterize_model(model)  # the fused form (V3: merged branches) scripts too
        torch.testing.assert_close(torch.jit.script(deployed)(X), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_torchscript_feature_getter(name: str) -> None:
    model = _small(name, features_only=True, out_indices=(1, 3)).eval()
    scripted = torch.jit.script(model)
    with torch.no_grad():
        for got, expected in zip(scripted(X), model(X), strict=True):
            torch.testing.assert_close(got, expected)


# ---------------------------------------------------------------------------------------------------- FX
@pytest.mark.parametrize("name", NAMES)
def test_fx_graph_of_classifier_matches_eager(name: str) -> None:
    model = _small(name, num_classes=10).eval()
    graph = GraphExtractNet(model, return_nodes=["classifier"])
    with torch.no_grad():
        torch.testing.assert_close(graph(X), model(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_fx_features_match_getter_and_train(name: str) -> None:
    getter = _small(name, features_only=True)
    fx = _small(name, features_only=True, feature_cls="fx")  # same seed, same weights
    assert fx.feature_info.channels() == getter.feature_info.channels()
    with torch.no_grad():
        for got, expected in zip(fx.eval()(X), getter.eval()(X), strict=True):
            torch.testing.assert_close(got, expected)
    # backward through the traced graph: the same gradients as eager
    grads = []
    for model in (getter.train(), fx.train()):
        model.zero_grad()
        sum(f.square().mean() for f in model(X)).backward()
        grads.append({n.split(".", 1)[1]: p.grad for n, p in model.named_parameters()})  # no model./graph_module.
    assert grads[0].keys() == grads[1].keys() and all(g is not None for g in grads[1].values())
    for key, grad in grads[0].items():
        torch.testing.assert_close(grads[1][key], grad, rtol=1e-4, atol=1e-6, msg=key)


def test_fx_features_script() -> None:
    model = _small("ghostnetv2", features_only=True, feature_cls="fx").eval()
    with torch.no_grad():
        expected = model(X)
        got = torch.jit.script(model)(X)
    assert len(got) == len(expected) == 5
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)


def test_dfc_fast_path_in_place_only_in_eager_inference() -> None:
    out, res = torch.rand(1, 2, 6, 4), torch.randn(1, 2, 3, 2)
    expected, fresh = dfc_gate(out, res), out.clone()
    gated = apply_dfc_gate(fresh, res.clone())  # autograd on: the reference ops, a new tensor
    assert gated.data_ptr() != fresh.data_ptr() and torch.equal(fresh, out)
    with torch.no_grad():
        gated = apply_dfc_gate(fresh, res.clone())
    assert gated.data_ptr() == fresh.data_ptr() and torch.equal(gated, expected)  # in place, same values
    with torch.no_grad():  # traced under no_grad: the proxy still takes the reference path
        graph = torch.fx.Tracer(autowrap_functions=get_notrace_functions()).trace(GhostModuleV2(4, 8).eval())
    targets = [node.target for node in graph.nodes]
    assert dfc_pool in targets  # a leaf: its size check needs concrete shapes
    assert F.interpolate in targets and "mul_" not in targets and "sigmoid_" not in targets


# ----------------------------------------------------------------------------- forward_intermediates, prune
@pytest.mark.parametrize("name", NAMES)
def test_forward_intermediates(name: str) -> None:
    model = _small(name).eval()
    with torch.no_grad():
        final, taps = model.forward_intermediates(X)
        torch.testing.assert_close(final, model.forward_features(X))
        assert [t.shape[1] for t in taps] == [8, 12, 20, 56, 480]
        assert [t.shape[-1] for t in taps] == [32, 16, 8, 4, 2]
        last2 = model.forward_intermediates(X, indices=2, intermediates_only=True)
        picked = model.forward_intermediates(X, indices=[1, -2], intermediates_only=True)
        early, early_taps = model.forward_intermediates(X, indices=[2], stop_early=True)
    for got, expected in zip(last2 + picked, [taps[3], taps[4], taps[1], taps[3]], strict=True):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(early, taps[2])  # stopped at the last requested level
    torch.testing.assert_close(early_taps[0], taps[2])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(indices=0), r"indices as last-n must be in \[1, 5\], got 0"),
        (dict(indices=[5]), r"feature indices \(out_indices\) must be in \[-5, 4\], got \[5\]"),
        (dict(indices=[]), "must not be empty"),
        (dict(output_fmt="NHWC"), "output_fmt must be 'NCHW', got 'NHWC'"),
    ],
)
def test_forward_intermediates_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _small("ghostnet").forward_intermediates(X, **kwargs)


@pytest.mark.parametrize("index", [0, 2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_prune_intermediate_layers(name: str, index: int) -> None:
    model = _small(name).eval()
    with torch.no_grad():
        taps = model.forward_intermediates(X, intermediates_only=True)
    assert model.prune_intermediate_layers([index]) == [index]
    assert len(model.blocks) == model.stage_ends[index] + 1
    assert model.num_features == model.head_hidden_size == taps[index].shape[1]
    assert isinstance(model.conv_head, nn.Identity) and model.num_classes == 0
    with torch.no_grad():
        torch.testing.assert_close(
            model.forward_intermediates(X, indices=[index], intermediates_only=True)[0], taps[index]
        )
        torch.testing.assert_close(model.forward_features(X), taps[index])
        assert model(X).shape == (2, taps[index].shape[1], *taps[index].shape[-2:])  # '' pool after pruning
    model.train()
    sum(t.sum() for t in model.forward_intermediates(X, indices=[index], intermediates_only=True)).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []  # DDP: no unused parameters


def test_prune_last_level_keeps_head_only_when_asked() -> None:
    model = _small("ghostnetv2").eval()
    with torch.no_grad():
        expected = model(X)
        model.prune_intermediate_layers([4], prune_head=False)
        torch.testing.assert_close(model(X), expected)
        model.prune_intermediate_layers([4])
    assert isinstance(model.conv_head, nn.Identity) and model.num_features == model.head_hidden_size == 480


# ----------------------------------------------------------------------------------------- head and classifier
@pytest.mark.parametrize("name", NAMES)
def test_forward_head_pre_logits(name: str) -> None:
    model = _small(name, num_classes=7).eval()
    with torch.no_grad():
        features = model.forward_features(X)
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape == (2, model.head_hidden_size) == (2, 1280)
        torch.testing.assert_close(model.classifier(pre), model(X))
        model.reset_classifier(0)
        torch.testing.assert_close(model(X), pre)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_reset_classifier_keeps_device_dtype_and_mode(dtype: torch.dtype) -> None:
    model = _small("ghostnetv3", global_pool="max").to(dtype).eval()
    model.reset_classifier(5)
    assert model.classifier.weight.dtype == dtype and model.classifier.out_features == 5
    assert model.global_pool.pool_type == "max"  # kept when global_pool is None
    assert not any(m.training for m in model.modules())
    meta = timm.create_model("ghostnet", device="meta").train()
    meta.reset_classifier(3)
    assert meta.classifier.weight.is_meta and meta.classifier.training


def test_reset_classifier_without_pool() -> None:
    model = _small("ghostnet").eval()
    model.reset_classifier(0, "")
    with torch.no_grad():
        assert model(X).shape == (2, 1280, 2, 2)


def test_unsupported_pool_is_value_and_assertion_error() -> None:
    with pytest.raises(UnsupportedPoolError, match="global_pool must keep the channel count"):
        timm.create_model("ghostnet", global_pool="catavgmax")
    model = _small("ghostnet", num_classes=4)
    for error in (ValueError, AssertionError):  # ours, and what timm's callers catch
        with pytest.raises(error):
            model.reset_classifier(7, "catavgmax")
    assert model.num_classes == 4 and model.classifier.out_features == 4  # unchanged


# ------------------------------------------------------------------------------------ grad checkpointing
@pytest.mark.parametrize("features_only", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_grad_checkpointing_same_gradients(name: str, features_only: bool) -> None:
    kwargs = dict(features_only=True) if features_only else dict(num_classes=5, drop_rate=0.0)
    model = _small(name, **kwargs).train()

    def grads(checkpointing: bool) -> list[torch.Tensor]:
        model.set_grad_checkpointing(checkpointing)
        model.zero_grad()
        sum(o.square().mean() for o in _as_list(model(X))).backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads(False)
    checkpointed = grads(True)
    assert (model.model if features_only else model).grad_checkpointing
    for a, b in zip(plain, checkpointed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# -------------------------------------------------------------------------------------------- feature_cls
@pytest.mark.parametrize(
    ("feature_cls", "wrapper"), [("list", FeatureListNet), ("dict", FeatureDictNet), ("hook", FeatureHookNet)]
)
@pytest.mark.parametrize("name", NAMES)
def test_feature_cls_list_dict_hook(name: str, feature_cls: str, wrapper: type) -> None:
    getter = _small(name, features_only=True, out_indices=(1, 2, 4)).eval()
    model = _small(name, features_only=True, out_indices=(1, 2, 4), feature_cls=feature_cls).eval()  # same weights
    assert isinstance(model, wrapper)
    assert model.feature_info.module_name() == ["blocks.2", "blocks.4", "blocks.9"]
    with torch.no_grad():
        out = model(X)
        expected = getter(X)
    if feature_cls == "dict":
        assert list(out) == ["1", "2", "4"]  # timm keys the dict by feature index
    for got, ref in zip(_as_list(out), expected, strict=True):
        torch.testing.assert_close(got, ref)


def test_user_feature_cfg_is_merged() -> None:
    model = _small("ghostnet", features_only=True, feature_cfg=dict(feature_cls="dict", out_indices=(3,)))
    assert isinstance(model, FeatureDictNet) and model.feature_info.channels() == [56]


# -------------------------------------------------------------------------------------------- local-dir
@pytest.mark.parametrize(
    ("name", "kwargs", "safe"),
    [("ghostnet", dict(width=0.5, num_classes=3), False), ("ghostnetv2.w130_in1k", dict(num_classes=4), True)],
    ids=["bin-width-arg", "safetensors-tag-width"],
)
def test_local_dir_roundtrip(tmp_path: Path, name: str, kwargs: dict, safe: bool) -> None:
    torch.manual_seed(0)
    model = timm.create_model(name, **kwargs).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)  # weights that differ from a fresh init
    save_for_hf(model, tmp_path / "saved", safe_serialization=safe)
    assert (tmp_path / "saved" / ("model.safetensors" if safe else "pytorch_model.bin")).is_file()
    loaded = timm.create_model(f"local-dir:{tmp_path / 'saved'}", pretrained=True).eval()
    assert loaded.num_features == model.num_features and loaded.num_classes == model.num_classes
    features = timm.create_model(f"local-dir:{tmp_path / 'saved'}", pretrained=True, features_only=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), model(X), rtol=0, atol=0)
        torch.testing.assert_close(features(X)[-1], model.forward_features(X), rtol=0, atol=0)


def test_missing_local_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pretrained_cfg_overlay file not found"):
        timm.create_model("ghostnet", pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path)))  # a folder
    missing = dict(source="local-dir", file=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="local-dir model folder not found: .*missing"):
        timm.create_model("ghostnet", pretrained=True, pretrained_cfg_overlay=missing)
