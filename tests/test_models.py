"""Our options on the ``ghostnet`` / ``ghostnetv2`` / ``ghostnetv3`` timm models (what detection/segmentation use).

timm's own model contract (device/dtype, TorchScript, FX, intermediates, feature wrappers) is in test_timm_contract.py.
"""

import ast
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import timm
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

import ghost_backbones
from ghost_backbones.bench import count_macs, count_params, torch_threads
from ghost_backbones.models.ghostnet import GhostNet

VERSIONS = ["ghostnet", "ghostnetv2", "ghostnetv3"]
MODELS_DIR = Path(ghost_backbones.__file__).parent / "models"
X = torch.rand(2, 3, 64, 64)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: with other jobs on the cores, OpenMP's spin-waiting makes 2 threads 10x slower."""
    with torch_threads(1):
        yield


def _features(name: str, **kwargs):
    return timm.create_model(name, features_only=True, **kwargs)


# ----------------------------------------------------------------------------------------------- registry
def test_registered_without_touching_timm_names() -> None:
    code = (
        "import warnings, timm; warnings.simplefilter('error');"
        "before = {n: timm.models._registry._model_entrypoints[n] for n in timm.list_models('ghostnet*')};"
        "import ghost_backbones;"
        "after = timm.models._registry._model_entrypoints;"
        "assert all(after[n] is fn for n, fn in before.items()), 'timm entrypoint replaced';"
        "assert {'ghostnet', 'ghostnetv2', 'ghostnetv3'} <= set(timm.list_models('ghostnet*'));"
        "assert type(timm.create_model('ghostnet_100')).__module__ == 'timm.models.ghostnet';"
        "assert type(timm.create_model('ghostnet')).__module__ == 'ghost_backbones.models.ghostnet'"
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_entrypoints_importable() -> None:
    from ghost_backbones import ghostnet, ghostnetv2, ghostnetv3

    for fn, name in ((ghostnet, "ghostnet"), (ghostnetv2, "ghostnetv2"), (ghostnetv3, "ghostnetv3")):
        assert fn is timm.models.model_entrypoint(name)
    assert ghostnet(width=0.5, num_classes=2).num_classes == 2


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module)
    return found


def test_model_files_import_only_public_timm_and_no_tasks() -> None:
    imports = set().union(*(_imports(path) for path in MODELS_DIR.glob("*.py")))
    private_timm = {name for name in imports if name.startswith("timm") and "._" in name}
    # no public equivalent: SqueezeExcite with timm's GhostNet key names, the FeatureGetterNet base class
    assert private_timm == {"timm.models._efficientnet_blocks", "timm.models._features"}
    assert not {name for name in imports if name.startswith(("ghost_backbones", "detection", "segmentation"))}
    for path in MODELS_DIR.glob("*.py"):  # relative imports stay inside ghost_backbones.models
        levels = {node.level for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)}
        assert levels <= {0, 1}, path.name


# -------------------------------------------------------------------------------------------- classification
@pytest.mark.parametrize("name", VERSIONS)
def test_classifier_api(name: str) -> None:
    model = timm.create_model(name, width=0.5, num_classes=7).eval()
    assert model(X).shape == (2, 7)
    feats = model.forward_features(X)
    assert feats.shape == (2, model.num_features, 2, 2)
    assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_hidden_size)
    assert model.pretrained_cfg["mean"] == (0.485, 0.456, 0.406)
    assert model.pretrained_cfg["std"] == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("global_pool", ["avg", "max", "avgmax"])
def test_global_pool(global_pool: str) -> None:
    model = timm.create_model("ghostnet", width=0.5, num_classes=4, global_pool=global_pool).eval()
    assert model(X).shape == (2, 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(global_pool="catavgmax"), ValueError, "global_pool must keep the channel count"),
        (dict(width=0), ValueError, "width must be a number > 0, got 0"),
        (dict(width="wide"), ValueError, "width must be a number > 0"),
        (dict(drop_rate=1.0), ValueError, r"drop_rate must be in \[0, 1\), got 1.0"),
        (dict(drop_path_rate=-0.1), ValueError, r"drop_path_rate must be in \[0, 1\), got -0.1"),
        (dict(output_stride=4), ValueError, r"output_stride must be one of \(8, 16, 32\), got 4"),
        (dict(frozen_stages=6), ValueError, r"frozen_stages must be in \[-1, 5\], got 6"),
        (dict(frozen_stages=-2), ValueError, r"frozen_stages must be in \[-1, 5\], got -2"),
        (dict(norm_layer="layernorm"), ValueError, "norm_layer must be one of"),
        (dict(norm_layer=3), TypeError, "norm_layer must be a str or a callable"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        timm.create_model("ghostnet", **kwargs)


def test_bad_version_and_stages() -> None:
    with pytest.raises(ValueError, match=r"version must be one of \['v1', 'v2', 'v3'\], got 'v4'"):
        GhostNet(version="v4")
    spec = ghost_backbones.BlockSpec
    with pytest.raises(ValueError, match="only the first block of a stage may downsample"):
        GhostNet(stages=[[spec(3, 16, 16, 0, 1), spec(3, 48, 24, 0, 2)]])
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 3"):
        GhostNet(stages=[[spec(3, 16, 16, 0, 3)]])
    with pytest.raises(ValueError, match="non-empty"):
        GhostNet(stages=[[]])


def test_facts_params_and_macs() -> None:
    model = timm.create_model("ghostnet").eval()
    assert round(count_params(model) / 1e6, 2) == 5.18
    macs = count_macs(model, torch.rand(1, 3, 224, 224))
    assert 139e6 <= macs <= 143e6, macs


@pytest.mark.parametrize(
    ("name", "width", "params_m"),
    [("ghostnet", 0.5, 2.59), ("ghostnetv2", 1.0, 6.16), ("ghostnetv2", 1.6, 12.39), ("ghostnetv3", 1.0, 8.13)],
)
def test_width_changes_params(name: str, width: float, params_m: float) -> None:
    timm_name = f"{name}_{round(width * 100):03d}"
    assert round(count_params(timm.create_model(name, width=width)) / 1e6, 2) == params_m
    assert count_params(timm.create_model(name, width=width)) == count_params(timm.create_model(timm_name))


# ---------------------------------------------------------------------------------------------- features
@pytest.mark.parametrize("name", VERSIONS)
def test_features_only_default(name: str) -> None:
    model = _features(name).eval()
    info = model.feature_info
    assert info.channels() == [16, 24, 40, 112, 960]
    assert info.reduction() == [2, 4, 8, 16, 32]
    assert info.module_name() == ["blocks.0", "blocks.2", "blocks.4", "blocks.6", "blocks.9"]
    with torch.no_grad():
        feats = model(X)
    assert [tuple(f.shape) for f in feats] == [
        (2, c, 64 // r, 64 // r) for c, r in zip(info.channels(), info.reduction())
    ]


@pytest.mark.parametrize(
    ("out_indices", "reductions"), [((1, 2, 3, 4), [4, 8, 16, 32]), ((3, 4), [16, 32]), ((0,), [2]), ((-1,), [32])]
)
def test_out_indices(out_indices, reductions) -> None:
    model = _features("ghostnet", width=0.5, out_indices=out_indices).eval()
    assert model.feature_info.reduction() == reductions
    with torch.no_grad():
        feats = model(X)
    assert [f.shape[-1] for f in feats] == [64 // r for r in reductions]
    assert [f.shape[1] for f in feats] == model.feature_info.channels()


def test_out_indices_prune_unused_blocks() -> None:
    model = _features("ghostnet", out_indices=(1, 2))
    assert len(model.model.blocks) == 5  # stages after blocks.4 are dropped
    assert isinstance(model.model.conv_head, nn.Identity)


@pytest.mark.parametrize("out_indices", [(5,), (0, 7), (-6,)])
def test_out_indices_out_of_range(out_indices) -> None:
    with pytest.raises(ValueError, match=r"out_indices\) must be in \[-5, 4\]"):
        _features("ghostnet", out_indices=out_indices)


# ------------------------------------------------------------------------------------------ output_stride
@pytest.mark.parametrize("name", VERSIONS)
@pytest.mark.parametrize(
    ("output_stride", "reductions"), [(32, [2, 4, 8, 16, 32]), (16, [2, 4, 8, 16, 16]), (8, [2, 4, 8, 8, 8])]
)
def test_output_stride(name: str, output_stride: int, reductions: list) -> None:
    model = _features(name, width=0.5, output_stride=output_stride).eval()
    assert model.feature_info.reduction() == reductions
    with torch.no_grad():
        feats = model(X)
    assert [f.shape[-1] for f in feats] == [64 // r for r in reductions]


def test_output_stride_keeps_weights_and_dilates() -> None:
    dense = timm.create_model("ghostnetv3", output_stride=32)
    dilated = timm.create_model("ghostnetv3", output_stride=8)
    dilated.load_state_dict(dense.state_dict(), strict=True)  # same parameters, only strides/dilations change
    down16 = dilated.blocks[5][0]  # the downsampling block of stride 16: stride replaced by dilation
    assert down16.dw_rpr_conv[0].conv.stride == (1, 1)
    assert down16.dw_rpr_conv[0].conv.dilation == (1, 1)
    assert down16.ghost2.cheap_rpr_conv[0].conv.dilation == (2, 2)
    follow = dilated.blocks[8][0]  # after the stride-32 downsampling: dilation 4
    assert follow.ghost1.cheap_rpr_conv[0].conv.dilation == (4, 4)
    assert follow.ghost1.short_conv[2].dilation == (1, 4)
    v1 = timm.create_model("ghostnet", output_stride=16)
    assert v1.blocks[7][0].conv_dw.stride == (1, 1) and v1.blocks[7][0].shortcut[0].stride == (1, 1)
    assert v1.blocks[8][1].ghost1.cheap_operation[0].dilation == (2, 2)


# ----------------------------------------------------------------------------------------- frozen_stages
@pytest.mark.parametrize(("frozen_stages", "frozen_blocks"), [(-1, 0), (0, 0), (1, 1), (2, 3), (3, 5), (5, 10)])
def test_frozen_stages(frozen_stages: int, frozen_blocks: int) -> None:
    model = timm.create_model("ghostnet", width=0.5, frozen_stages=frozen_stages)
    model.train()
    stem_frozen = frozen_stages >= 0
    assert all(p.requires_grad != stem_frozen for p in model.conv_stem.parameters())
    assert model.bn1.training != stem_frozen
    for i, stage in enumerate(model.blocks):
        frozen = i < frozen_blocks
        assert all(p.requires_grad != frozen for p in stage.parameters()), i
        assert all(m.training != frozen for m in stage.modules()), i
    assert model.classifier.weight.requires_grad


def test_frozen_stages_keep_bn_stats_in_features_model() -> None:
    model = _features("ghostnetv2", width=0.5, frozen_stages=2)
    model.train()
    before = model.model.blocks[2][0].ghost1.primary_conv[1].running_mean.clone()
    trainable_before = model.model.blocks[3][0].ghost1.primary_conv[1].running_mean.clone()
    model(X)
    torch.testing.assert_close(model.model.blocks[2][0].ghost1.primary_conv[1].running_mean, before)
    assert not torch.equal(model.model.blocks[3][0].ghost1.primary_conv[1].running_mean, trainable_before)


# --------------------------------------------------------------------------------------------- norm_layer
@pytest.mark.parametrize(
    ("norm_layer", "norm_type"),
    [
        ("batchnorm", nn.BatchNorm2d),
        ("frozenbn", FrozenBatchNorm2d),
        ("groupnorm", nn.GroupNorm),
        ("syncbn", nn.SyncBatchNorm),
        (partial(nn.GroupNorm, 2), nn.GroupNorm),
    ],
)
@pytest.mark.parametrize("name", VERSIONS)
def test_norm_layer(name: str, norm_layer, norm_type: type) -> None:
    model = timm.create_model(name, width=0.5, num_classes=3, norm_layer=norm_layer)
    norms = [
        m for m in model.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, FrozenBatchNorm2d, nn.GroupNorm))
    ]
    assert norms and all(isinstance(m, norm_type) for m in norms)
    reference = timm.create_model(name, width=0.5, num_classes=3)
    ours, ref = set(model.state_dict()), set(reference.state_dict())
    if norm_type is nn.GroupNorm:
        assert ours == {k for k in ref if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    elif norm_type is FrozenBatchNorm2d:
        assert ours == {k for k in ref if not k.endswith("num_batches_tracked")}
    else:
        assert ours == ref
    model.train()
    loss = model(X).sum()
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)


def test_groupnorm_groups_divide_channels() -> None:
    model = timm.create_model("ghostnetv2", width=1.3, norm_layer="groupnorm")
    for m in model.modules():
        if isinstance(m, nn.GroupNorm):
            assert m.num_channels % m.num_groups == 0 and m.num_groups > 1


def test_syncbn_conversion_keeps_keys() -> None:
    model = timm.create_model("ghostnet", width=0.5)
    keys = list(model.state_dict())
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert not any(type(m) is nn.BatchNorm2d for m in synced.modules())
    assert list(synced.state_dict()) == keys
    assert synced.eval()(X).shape == (2, 1000)


# ------------------------------------------------------------------------------------------------ drop_path
def test_drop_path_schedule_and_effect() -> None:
    model = timm.create_model("ghostnet", width=0.5, drop_path_rate=0.2)
    rates = [b.drop_path.drop_prob for stage in model.blocks[:-1] for b in stage if hasattr(b.drop_path, "drop_prob")]
    assert len(rates) == 15 and rates == sorted(rates) and rates[-1] == pytest.approx(0.2 * 15 / 16)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(X), model(X))
    model.train()
    torch.manual_seed(0)
    a = model.forward_features(X)
    b = model.forward_features(X)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("name", ["ghostnetv2", "ghostnetv3"])
def test_too_small_input_for_dfc_attention(name: str) -> None:
    model = timm.create_model(name, width=0.5).eval()
    with pytest.raises(ValueError, match=r"DFC attention needs feature maps of at least 2x2, got \(1, 1\)"):
        model(torch.rand(1, 3, 32, 32))
