"""Weight compatibility: timm's GhostNet state dicts load strictly into ours and give the same logits."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

import ghost_backbones  # noqa: F401  (registers the models)
from ghost_backbones.bench import torch_threads

# (timm reference, our model, width)
PAIRS = [
    ("ghostnet_100", "ghostnet", 1.0),
    ("ghostnetv2_100", "ghostnetv2", 1.0),
    ("ghostnetv2_130", "ghostnetv2", 1.3),
    ("ghostnetv3_100", "ghostnetv3", 1.0),
    ("ghostnet_050", "ghostnet", 0.5),
]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: with other jobs on the cores, OpenMP's spin-waiting makes 2 threads 10x slower."""
    with torch_threads(1):
        yield


def perturb_norms(model: nn.Module, seed: int = 0) -> None:
    """Random BN statistics and affine parameters, so a wrongly wired norm changes the logits."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)


@pytest.fixture(scope="module", params=PAIRS, ids=[p[0] for p in PAIRS])
def reference_pair(request):
    timm_name, ours, width = request.param
    torch.manual_seed(0)
    ref = timm.create_model(timm_name)
    perturb_norms(ref)
    return ref.eval(), ours, width


def test_state_dict_keys_identical(reference_pair) -> None:
    ref, ours, width = reference_pair
    model = timm.create_model(ours, width=width)
    ref_sd, our_sd = ref.state_dict(), model.state_dict()
    assert list(ref_sd) == list(our_sd)
    assert all(ref_sd[k].shape == our_sd[k].shape for k in ref_sd)


def test_same_logits_with_timm_weights(reference_pair) -> None:
    ref, ours, width = reference_pair
    model = timm.create_model(ours, width=width)
    model.load_state_dict(ref.state_dict(), strict=True)
    model.eval()
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), model(x)
        expected_feats, got_feats = ref.forward_features(x), model.forward_features(x)
    assert expected.abs().max() > 0.05  # logits are not trivially zero
    assert (got - expected).abs().max().item() <= 1e-5
    assert (got_feats - expected_feats).abs().max().item() <= 1e-5


def test_meta_built_model_takes_timm_weights(reference_pair) -> None:
    """Built on the meta device (no memory, no init), then given timm's tensors: timm's logits."""
    ref, ours, width = reference_pair
    model = timm.create_model(ours, width=width, device="meta")
    model.load_state_dict(ref.state_dict(), strict=True, assign=True)
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (model.eval()(x) - ref(x)).abs().max().item() <= 1e-5


def test_perturbation_is_detectable() -> None:
    """Sanity check of the test itself: one wrong BN variance moves logits and features beyond the tolerance."""
    torch.manual_seed(0)
    ref = timm.create_model("ghostnet_100")
    perturb_norms(ref)
    model = timm.create_model("ghostnet")
    model.load_state_dict(ref.state_dict())
    model.eval()
    ref.eval()
    with torch.no_grad():
        model.blocks[3][0].ghost1.primary_conv[1].running_var.mul_(4.0)
        x = torch.randn(1, 3, 128, 128)
        assert (model(x) - ref(x)).abs().max().item() > 2e-5
        assert (model.forward_features(x) - ref.forward_features(x)).abs().max().item() > 1e-4


@pytest.mark.parametrize("norm_layer", ["frozenbn", "syncbn"])
def test_timm_weights_load_into_other_norms(norm_layer: str) -> None:
    torch.manual_seed(0)
    ref = timm.create_model("ghostnet_100")
    perturb_norms(ref)
    model = timm.create_model("ghostnet", norm_layer=norm_layer)
    model.load_state_dict(ref.state_dict(), strict=True)
    model.eval()
    ref.eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected, got = ref(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------- checkpoints and hub
def _huawei_format(state_dict: dict) -> dict:
    """Write a timm state dict the way Huawei's training scripts saved theirs (DDP prefix, ``bn`` in V3 branches)."""
    out = {}
    for key, value in state_dict.items():
        if "_rpr_" in key:
            key = key.replace(".bn1.", ".bn.")
        out["module." + key] = value
    out["module.total_ops"] = torch.zeros(1)
    out["module.total_params"] = torch.zeros(1)
    return {"state_dict": out, "epoch": 450, "best_acc1": 77.1}


@pytest.mark.parametrize(("timm_name", "ours"), [("ghostnetv3_100", "ghostnetv3"), ("ghostnet_100", "ghostnet")])
def test_huawei_checkpoint_through_pretrained_cfg_overlay(tmp_path, timm_name: str, ours: str) -> None:
    torch.manual_seed(0)
    ref = timm.create_model(timm_name)
    perturb_norms(ref)
    ref.eval()
    path = tmp_path / "huawei.pth.tar"
    torch.save(_huawei_format(ref.state_dict()), path)
    model = timm.create_model(ours, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()
    features = timm.create_model(
        ours, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), features_only=True, out_indices=(4,)
    ).eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max().item() <= 1e-5
        torch.testing.assert_close(features(x)[0], ref.forward_features(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd},
        lambda sd: {"model": sd, "optimizer": {}},
        lambda sd: _huawei_format(sd),
    ],
    ids=["plain", "state_dict", "model", "huawei"],
)
def test_checkpoint_filter_formats(wrap) -> None:
    model = timm.create_model("ghostnetv3", width=0.5)
    expected = model.state_dict()
    filtered = ghost_backbones.checkpoint_filter_fn(wrap(dict(expected)), model)
    assert list(filtered) == list(expected)
    model.load_state_dict(filtered, strict=True)


def test_pretrained_cfg_resolves_published_weights() -> None:
    cases = [("ghostnet", 1.0, "timm/ghostnet_100.in1k"), ("ghostnetv2", 1.3, "timm/ghostnetv2_130.in1k")]
    cases += [("ghostnetv2", 1.6, "timm/ghostnetv2_160.in1k"), ("ghostnetv3", 1.0, "timm/ghostnetv3_100.in1k")]
    for name, width, hub_id in cases:
        cfg = timm.create_model(name, width=width).pretrained_cfg
        assert cfg["hf_hub_id"] == hub_id
        assert cfg["mean"] == (0.485, 0.456, 0.406) and cfg["std"] == (0.229, 0.224, 0.225)
    tagged = timm.create_model("ghostnetv2.w160_in1k")
    assert tagged.num_features == 1536  # the tag implies width 1.6
    untrained = timm.create_model("ghostnet", width=0.5).pretrained_cfg
    assert untrained.get("hf_hub_id") is None and untrained["tag"] == "untrained"


MISSING_FILE = dict(file="/no/such.pth")


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("ghostnet", dict(width=0.5, pretrained=True), ValueError, r"no published ImageNet weights for width 0.5 "),
        ("ghostnetv3", dict(width=1.3, pretrained=True), ValueError, r"published widths: \[1.0\]"),
        ("ghostnetv2.w130_in1k", dict(width=1.0), ValueError, "weights are for width 1.3, got width=1.0"),
        ("ghostnet.in22k", {}, ValueError, "unknown pretrained tag 'in22k'"),
        (
            "ghostnet",
            dict(pretrained=True, pretrained_cfg_overlay=dict(file="/no/such.pth")),
            FileNotFoundError,
            "/no/such.pth",
        ),
    ],
)
def test_pretrained_errors(name: str, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        timm.create_model(name, **kwargs)


def test_offline_pretrained_error_names_hub_id_and_file_option(tmp_path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(Path.cwd()))
    code = "import timm, ghost_backbones; timm.create_model('ghostnetv2', width=1.3, pretrained=True)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("RuntimeError: ghostnetv2: could not fetch")
    assert "'timm/ghostnetv2_130.in1k'" in message
    assert "pretrained_cfg_overlay=dict(file=" in message
