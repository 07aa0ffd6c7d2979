"""Deploy fusion: ``timm.utils.reparameterize_model`` folds every norm, merges GhostNetV3's branches and splits the
bottlenecks' expansions (``SplitHidden``: same outputs, no expanded concat, only where it is exact)."""

import io

import onnx
import pytest
import timm
import torch
from timm.utils import reparameterize_model
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

import ghost_backbones
from ghost_backbones.bench import count_macs, count_params, torch_threads
from ghost_backbones.models.blocks import GhostBottleneck, GhostModule, GhostModuleV2
from ghost_backbones.models.dfc import dfc_gate, dfc_gate_
from ghost_backbones.models.norm import fuse_conv_norm
from ghost_backbones.models.rep_blocks import GhostBottleneckV3, GhostModuleV3
from ghost_backbones.models.split_hidden import SplitHidden, conv_part

VERSIONS = ["ghostnet", "ghostnetv2", "ghostnetv3"]
X = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: with other jobs on the cores, OpenMP's spin-waiting makes 2 threads 10x slower."""
    with torch_threads(1):
        yield


def randomize_norms(model: nn.Module) -> nn.Module:
    """Non-trivial statistics in every BN / FrozenBN, so that folding them is actually exercised."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)):
                n = m.running_mean.numel()
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("name", VERSIONS)
@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(features_only=True), dict(features_only=True, output_stride=16)],
    ids=["cls", "feat", "os16"],
)
def test_fused_model_same_outputs_no_norms_left(name: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    model = randomize_norms(timm.create_model(name, **kwargs)).eval()
    fused = reparameterize_model(model)
    assert fused is not model
    leftovers = [n for n, m in fused.named_modules() if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d))]
    assert leftovers == []
    # every conv absorbed a norm (SE convs and conv_head had a bias), but the second part of a split projection,
    # whose sum with the first part takes the bias once (SplitHidden)
    biasless = [n for n, m in fused.named_modules() if isinstance(m, nn.Conv2d) and m.bias is None]
    assert all(n.endswith("hidden.project2") for n in biasless)
    for got, expected in zip(_outputs(fused, X), _outputs(model, X)):
        assert _rel_err(got, expected) <= 1e-4
    # the source model is untouched (reparameterize_model deep-copies)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_v3_branches_merged_into_single_convs() -> None:
    model = randomize_norms(timm.create_model("ghostnetv3")).eval()
    fused = reparameterize_model(model)
    names = [n for n, _ in fused.named_modules()]
    assert not any("_rpr_" in n for n in names)
    for block in fused.modules():
        if isinstance(block, GhostModuleV3):
            assert block.infer_mode and isinstance(block.primary_conv, nn.Conv2d)
            assert isinstance(block.cheap_operation, nn.Conv2d)
        if isinstance(block, GhostBottleneckV3) and block.has_dw:
            assert block.infer_mode and isinstance(block.conv_dw, nn.Conv2d)
    v2 = timm.create_model("ghostnetv2").eval()  # deployed V3 has V2's layout
    assert count_params(fused) == pytest.approx(count_params(v2), rel=0.01)
    assert count_macs(fused, X[:1]) < 0.5 * count_macs(model, X[:1])
    assert count_macs(fused, X[:1]) == pytest.approx(count_macs(v2, X[:1]), rel=0.01)


def test_fused_stem_and_head() -> None:
    model = randomize_norms(timm.create_model("ghostnet")).eval()
    fused = reparameterize_model(model)
    assert isinstance(fused.bn1, nn.Identity) and fused.conv_stem.bias is not None
    head = fused.blocks[-1][0]
    assert isinstance(head.bn1, nn.Identity) and head.conv.bias is not None
    model.convert_to_deploy()  # in place
    assert isinstance(model.bn1, nn.Identity)
    torch.testing.assert_close(_outputs(model, X)[0], _outputs(fused, X)[0])


def test_frozenbn_fuses_and_groupnorm_is_left_alone() -> None:
    frozen = randomize_norms(timm.create_model("ghostnetv3", width=0.5, norm_layer="frozenbn")).eval()
    fused = reparameterize_model(frozen)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in fused.modules())
    assert _rel_err(_outputs(fused, X)[0], _outputs(frozen, X)[0]) <= 1e-4
    grouped = timm.create_model("ghostnetv3", width=0.5, norm_layer="groupnorm").eval()
    kept = reparameterize_model(grouped)
    assert sum(isinstance(m, nn.GroupNorm) for m in kept.modules()) == sum(
        isinstance(m, nn.GroupNorm) for m in grouped.modules()
    )
    torch.testing.assert_close(_outputs(kept, X)[0], _outputs(grouped, X)[0])


def test_fused_frozen_stages_stay_frozen() -> None:
    model = timm.create_model("ghostnet", width=0.5, frozen_stages=1).eval()
    fused = reparameterize_model(model)
    assert not fused.conv_stem.weight.requires_grad and not fused.conv_stem.bias.requires_grad
    assert not any(p.requires_grad for p in fused.blocks[0].parameters())  # split convs too (SplitHidden)
    assert fused.blocks[1][0].hidden.primary[0].weight.requires_grad
    assert all(p.requires_grad for p in fused.blocks[1].parameters())


@pytest.mark.parametrize(
    "module",
    [
        GhostModule(8, 16),
        GhostModule(8, 15, act_layer=None),  # odd: the concat is cut to out_chs
        GhostModuleV2(8, 16, dilation=2),
        GhostBottleneck(8, 24, 16, 5, stride=2, se_ratio=0.25, attn=True),
        GhostBottleneck(8, 24, 16, 3, stride=2, dilation=1, out_dilation=2),
        GhostBottleneckV3(8, 24, 16, 3, stride=2, se_ratio=0.25, attn=True),
        GhostBottleneckV3(8, 24, 8, 3, stride=1, dilation=2),
    ],
    ids=["ghost", "ghost-odd", "ghostv2-dil2", "bneck-v2", "bneck-os", "bneck-v3", "bneck-v3-dil2"],
)
def test_block_reparameterize(module: nn.Module) -> None:
    module = randomize_norms(module).eval()
    x = torch.randn(2, 8, 15, 16)
    with torch.no_grad():
        expected = module(x)
        fused = reparameterize_model(nn.Sequential(module))  # as inside a model: blocks are children
        got = fused(x)
    assert got.shape == expected.shape
    assert _rel_err(got, expected) <= 1e-5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())


def test_fuse_conv_norm_keeps_geometry() -> None:
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=2, dilation=2, groups=2, bias=True)
    bn = randomize_norms(nn.Sequential(nn.BatchNorm2d(8))).eval()[0]
    fused = fuse_conv_norm(conv, bn)
    assert (fused.stride, fused.padding, fused.dilation, fused.groups) == ((2, 2), (2, 2), (2, 2), 2)
    x = torch.randn(1, 4, 11, 11)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="cannot fold GroupNorm into a conv"):
        fuse_conv_norm(conv, nn.GroupNorm(2, 8))


@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
def test_inplace_dfc_gate_matches_reference(size: tuple) -> None:
    out = torch.randn(2, 4, *size)
    res = torch.randn(2, 4, size[0] // 2, size[1] // 2)
    assert torch.equal(dfc_gate_(out.clone(), res.clone()), dfc_gate(out, res))


@pytest.mark.parametrize("features_only", [False, True])
def test_deploy_channels_last(features_only: bool) -> None:
    model = randomize_norms(timm.create_model("ghostnetv2", width=0.5, features_only=features_only)).eval()
    fast = ghost_backbones.deploy(model)
    assert fast.model.conv_stem.weight.is_contiguous(memory_format=torch.channels_last) if features_only else True
    outs, refs = _outputs(fast, X), _outputs(model, X)
    for got, expected in zip(outs, refs):
        assert got.shape == expected.shape and _rel_err(got, expected) <= 1e-4
    if features_only:
        assert all(o.is_contiguous(memory_format=torch.channels_last) for o in outs)
    in_place = model.convert_to_deploy(channels_last=False)
    assert in_place is model and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert _rel_err(_outputs(model, X)[0], refs[0]) <= 1e-4


@pytest.mark.gpu
@pytest.mark.parametrize("name", VERSIONS)
def test_deploy_on_cuda_fp16_channels_last(name: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    model = randomize_norms(timm.create_model(name, features_only=True)).eval()
    expected = _outputs(model, X)
    fast = ghost_backbones.deploy(model).cuda()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        got = fast(X.cuda().contiguous(memory_format=torch.channels_last))
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        assert _rel_err(g.float().cpu(), e) <= 2e-2


# ------------------------------------------------------------------ the deploy form's split expansion (SplitHidden)
XB = torch.randn(2, 16, 12, 13, generator=torch.Generator().manual_seed(0))


def _random_eval(module: nn.Module) -> nn.Module:
    return randomize_norms(module).eval()


def _split(block: nn.Module) -> nn.Module:
    return reparameterize_model(nn.Sequential(block))[0]  # as inside a model: blocks are children


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(stride=1),
        dict(stride=2, se_ratio=0.25),
        dict(stride=2, dilation=1, out_dilation=2),
        dict(stride=1, se_ratio=0.25, dw_kernel_size=5),
        dict(stride=1, norm_layer="groupnorm"),  # norms inside the halves or after the sum: still exact
    ],
    ids=["plain", "strided-se", "dilated", "se", "groupnorm"],
)
def test_split_block_same_output_and_parts_moved(kwargs: dict) -> None:
    block = _random_eval(GhostBottleneck(16, 48, 16 if kwargs["stride"] == 1 else 24, **kwargs))
    with torch.no_grad():
        expected = block(XB)
        split = _split(block)
        got = split(XB)
    assert isinstance(split.hidden, SplitHidden)
    assert split.ghost1 is None and split.conv_dw is None and split.se is None
    assert len(split.ghost2.primary_conv) == 0  # ghost2 starts from the features hidden makes
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    twice = _split(split)  # deploying a deployed block changes nothing
    assert [n for n, _ in twice.named_modules()] == [n for n, _ in split.named_modules()]
    torch.testing.assert_close(twice(XB), got)
    scripted = torch.jit.script(split)
    torch.testing.assert_close(scripted(XB), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "block",
    [
        GhostBottleneck(16, 48, 24, stride=2, norm_layer="groupnorm"),  # bn_dw mixes the halves: cannot fold
        GhostBottleneck(16, 47, 16),  # odd expansion: ghost1 cuts its concat
        GhostBottleneck(16, 48, 16, attn=True),  # GhostNetV2's DFC gate spans both halves
    ],
    ids=["groupnorm-dw", "odd", "dfc"],
)
def test_blocks_that_cannot_split_keep_their_form(block: nn.Module) -> None:
    block = _random_eval(block)
    with torch.no_grad():
        expected = block(XB)
        kept = _split(block)
        got = kept(XB)
    assert kept.hidden is None and kept.ghost1 is not None
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def _concat_widths(model: nn.Module, x: torch.Tensor) -> list[int]:
    """The channels of every Concat of the model's ONNX graph (shape-inferred)."""
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=17)
    graph = onnx.shape_inference.infer_shapes(onnx.load_from_string(buffer.getvalue())).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.value_info}
    shapes.update({v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.output})
    return [shapes[n.output[0]][1] for n in graph.node if n.op_type == "Concat"]


def test_exported_deploy_form_writes_no_expanded_concat() -> None:
    model = _random_eval(timm.create_model("ghostnet", width=0.5, features_only=True, out_indices=(4,)))
    x = torch.rand(1, 3, 64, 64)
    fast = ghost_backbones.deploy(model, channels_last=False)
    blocks = [m for m in fast.modules() if isinstance(m, GhostBottleneck)]
    assert blocks and all(isinstance(b.hidden, SplitHidden) for b in blocks)  # every GhostNet 1.0 block splits
    with torch.no_grad():
        before, after = _concat_widths(model, x), _concat_widths(fast, x)
        torch.testing.assert_close(fast(x)[0], model(x)[0], rtol=1e-4, atol=1e-4)
    expanded = {b.hidden.chs * 2 for b in blocks}
    # before: one concat per Ghost module (ghost1's at the expanded width); after: ghost2's, and the SE's pooled
    # 1x1 vectors
    assert len(before) == 2 * len(blocks) and expanded & set(before)
    with_se = sum(b.hidden.se is not None for b in blocks)
    assert len(after) == len(blocks) + with_se


def test_conv_part_splits_only_what_is_exact() -> None:
    conv = nn.Conv2d(6, 4, 3, padding=1)
    x = torch.randn(1, 6, 5, 5)
    first, second = conv_part(conv, in_chs=slice(0, 3)), conv_part(conv, in_chs=slice(3, 6), bias=False)
    with torch.no_grad():
        torch.testing.assert_close(first(x[:, :3]) + second(x[:, 3:]), conv(x), rtol=1e-5, atol=1e-5)
    depthwise = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6)
    part = conv_part(depthwise, slice(2, 6))
    with torch.no_grad():
        torch.testing.assert_close(part(x[:, 2:]), depthwise(x)[:, 2:], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="only whole depthwise convolutions"):
        conv_part(nn.Conv2d(6, 6, 3, groups=3), slice(0, 2))


def test_deploy_can_keep_the_concat() -> None:
    model = _random_eval(timm.create_model("ghostnet", width=0.5, features_only=True, out_indices=(2,)))
    kept = ghost_backbones.deploy(model, split_hidden=False)
    split = ghost_backbones.deploy(model)
    assert not any(isinstance(m, SplitHidden) for m in kept.modules())
    assert any(isinstance(m, SplitHidden) for m in split.modules())
    assert all(getattr(m, "split_on_deploy", True) for m in model.modules())  # the source model is untouched
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(kept(x)[0], split(x)[0], rtol=1e-4, atol=1e-4)


def test_benchmark_spec_concat_times_the_deploy_form_without_the_split() -> None:
    from ghost_backbones.bench.backbone import build_benchmark_model
    from ghost_backbones.bench.deploy_runtimes import _deploy

    concat, _ = build_benchmark_model("ghostnet:concat", torch.device("cpu"))
    split, _ = build_benchmark_model("ghostnet:deploy", torch.device("cpu"))
    assert not any(isinstance(m, SplitHidden) for m in concat.modules())
    assert not any(isinstance(m, SplitHidden) for m in _deploy(concat).modules())  # the --runtime forms keep it
    assert sum(isinstance(m, SplitHidden) for m in split.modules()) == 16
