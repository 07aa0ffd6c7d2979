"""The deploy form's split expansion (``SplitHidden``): same outputs, no expanded concat, only where it is exact."""

import io

import onnx
import pytest
import timm
import torch
from timm.utils import reparameterize_model
from torch import nn

import ghost_backbones
from ghost_backbones.bench import torch_threads
from ghost_backbones.models.blocks import GhostBottleneck
from ghost_backbones.models.split_hidden import SplitHidden, conv_part

X = torch.randn(2, 16, 12, 13, generator=torch.Generator().manual_seed(0))


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    with torch_threads(1):
        yield


def _randomized(module: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
    return module.eval()


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
    block = _randomized(GhostBottleneck(16, 48, 16 if kwargs["stride"] == 1 else 24, **kwargs))
    with torch.no_grad():
        expected = block(X)
        split = _split(block)
        got = split(X)
    assert isinstance(split.hidden, SplitHidden)
    assert split.ghost1 is None and split.conv_dw is None and split.se is None
    assert len(split.ghost2.primary_conv) == 0  # ghost2 starts from the features hidden makes
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    twice = _split(split)  # deploying a deployed block changes nothing
    assert [n for n, _ in twice.named_modules()] == [n for n, _ in split.named_modules()]
    torch.testing.assert_close(twice(X), got)
    scripted = torch.jit.script(split)
    torch.testing.assert_close(scripted(X), expected, rtol=1e-5, atol=1e-5)


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
    block = _randomized(block)
    with torch.no_grad():
        expected = block(X)
        kept = _split(block)
        got = kept(X)
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
    model = _randomized(timm.create_model("ghostnet", width=0.5, features_only=True, out_indices=(4,)))
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
    model = _randomized(timm.create_model("ghostnet", width=0.5, features_only=True, out_indices=(2,)))
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
    from ghost_backbones.bench.runtimes import _deploy

    concat, _ = build_benchmark_model("ghostnet:concat", torch.device("cpu"))
    split, _ = build_benchmark_model("ghostnet:deploy", torch.device("cpu"))
    assert not any(isinstance(m, SplitHidden) for m in concat.modules())
    assert not any(isinstance(m, SplitHidden) for m in _deploy(concat).modules())  # the --runtime forms keep it
    assert sum(isinstance(m, SplitHidden) for m in split.modules()) == 16
