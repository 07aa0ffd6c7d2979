"""The GhostNet architecture table (:data:`GHOSTNET_STAGES`) and the builder of its bottleneck stages.

Table 1 of the GhostNet paper, as :class:`BlockSpec` rows grouped into stages the way timm groups them (the
grouping fixes the ``blocks.<stage>.<block>`` state-dict keys). :func:`build_stages` turns a table into the
``blocks`` of :class:`~.ghostnet.GhostNet` and its ``feature_info``: one level where the resolution changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from timm.layers import make_divisible
from torch import nn

from .blocks import ConvNormAct, GhostBottleneck
from .rep_blocks import GhostBottleneckV3

__all__ = ["GHOSTNET_STAGES", "VERSIONS", "BlockSpec", "build_stages", "check_stages"]


class BlockSpec(NamedTuple):
    """One Ghost bottleneck of the architecture table (channels at width 1.0)."""

    kernel_size: int  # depthwise kernel of the strided conv and of the projection shortcut
    mid_chs: int  # expansion channels ("exp size")
    out_chs: int  # output channels
    se_ratio: float  # squeeze-excite ratio, 0 for none
    stride: int  # 1, or 2 to halve the resolution


# Table 1 of the GhostNet paper; the grouping into nn.Sequential stages is timm's (it fixes the key names).
GHOSTNET_STAGES: tuple[tuple[BlockSpec, ...], ...] = (
    (BlockSpec(3, 16, 16, 0.0, 1),),
    (BlockSpec(3, 48, 24, 0.0, 2),),
    (BlockSpec(3, 72, 24, 0.0, 1),),
    (BlockSpec(5, 72, 40, 0.25, 2),),
    (BlockSpec(5, 120, 40, 0.25, 1),),
    (BlockSpec(3, 240, 80, 0.0, 2),),
    (
        BlockSpec(3, 200, 80, 0.0, 1),
        BlockSpec(3, 184, 80, 0.0, 1),
        BlockSpec(3, 184, 80, 0.0, 1),
        BlockSpec(3, 480, 112, 0.25, 1),
        BlockSpec(3, 672, 112, 0.25, 1),
    ),
    (BlockSpec(5, 672, 160, 0.25, 2),),
    (
        BlockSpec(5, 960, 160, 0.0, 1),
        BlockSpec(5, 960, 160, 0.25, 1),
        BlockSpec(5, 960, 160, 0.0, 1),
        BlockSpec(5, 960, 160, 0.25, 1),
    ),
)

# version -> (bottleneck class, index of the first block whose ghost1 has DFC attention or None)
VERSIONS: dict[str, tuple[type[nn.Module], int | None]] = {
    "v1": (GhostBottleneck, None),
    "v2": (GhostBottleneck, 2),
    "v3": (GhostBottleneckV3, 2),
}


def check_stages(stages: Sequence[Sequence[BlockSpec]]) -> None:
    """Raise ``ValueError`` unless ``stages`` is a non-empty table whose stages downsample only in their first block.

    Args:
        stages: the architecture table.

    Examples::

        >>> check_stages([[BlockSpec(3, 16, 16, 0.0, 1), BlockSpec(3, 48, 24, 0.0, 2)]])
        Traceback (most recent call last):
        ...
        ValueError: stage 0 block 1: only the first block of a stage may downsample
    """
    if not stages or any(len(stage) == 0 for stage in stages):
        raise ValueError("stages must be a non-empty sequence of non-empty stages")
    for i, stage in enumerate(stages):
        for j, spec in enumerate(stage):
            if spec.stride not in (1, 2):
                raise ValueError(f"stage {i} block {j}: stride must be 1 or 2, got {spec.stride}")
            if j > 0 and spec.stride != 1:
                raise ValueError(f"stage {i} block {j}: only the first block of a stage may downsample")


def _downsample(net_stride: int, dilation: int, stride: int, output_stride: int) -> tuple[int, int]:
    """``(net_stride, dilation)`` after a block of ``stride``: strides past ``output_stride`` become dilation."""
    if stride > 1 and net_stride * stride > output_stride:
        return net_stride, dilation * stride
    return net_stride * stride, dilation


def build_stages(
    stages: Sequence[Sequence[BlockSpec]],
    version: str,
    width: float,
    stem_chs: int,
    output_stride: int,
    drop_path_rate: float,
    layer_kwargs: dict[str, Any],
) -> tuple[nn.Sequential, list[dict[str, Any]]]:
    """The bottleneck stages plus the final 1x1 ConvNormAct, and the feature levels (``feature_info``).

    Args:
        stages: the architecture table (checked with :func:`check_stages`).
        version: a key of :data:`VERSIONS`.
        width: channel multiplier (channels rounded to multiples of 4).
        stem_chs: channels coming out of the stem (at stride 2).
        output_stride: 8, 16 or 32; strides past it become dilations.
        drop_path_rate: stochastic depth, rising linearly over the blocks.
        layer_kwargs: ``act_layer``, ``norm_layer``, ``device``, ``dtype``, given to every block.

    Examples::

        >>> blocks, info = build_stages(GHOSTNET_STAGES, "v1", 1.0, 16, 32, 0.0, {})
        >>> [(i["num_chs"], i["reduction"], i["module"]) for i in info][-2:]
        [(112, 16, 'blocks.6'), (960, 32, 'blocks.9')]
    """
    block_cls, attn_from = VERSIONS[version]
    net_stride, dilation, block_idx, prev_chs = 2, 1, 0, stem_chs
    total_blocks = sum(len(stage) for stage in stages)
    feature_info: list[dict[str, Any]] = []
    if stages[0][0].stride > 1:  # the stem alone is the first level
        feature_info.append(dict(num_chs=stem_chs, reduction=2, module="act1"))
    groups = []
    for stage_idx, stage in enumerate(stages):
        layers = []
        for spec in stage:
            in_dilation = dilation
            net_stride, dilation = _downsample(net_stride, dilation, spec.stride, output_stride)
            mid_chs, out_chs = make_divisible(spec.mid_chs * width, 4), make_divisible(spec.out_chs * width, 4)
            kwargs = dict(
                se_ratio=spec.se_ratio,
                attn=attn_from is not None and block_idx >= attn_from,
                drop_path_rate=drop_path_rate * block_idx / total_blocks,
                **layer_kwargs,
            )
            args = (prev_chs, mid_chs, out_chs, spec.kernel_size, spec.stride, in_dilation, dilation)
            layers.append(block_cls(*args, **kwargs))
            prev_chs = out_chs
            block_idx += 1
        groups.append(nn.Sequential(*layers))
        if stage_idx + 1 < len(stages) and stages[stage_idx + 1][0].stride > 1:
            feature_info.append(dict(num_chs=prev_chs, reduction=net_stride, module=f"blocks.{stage_idx}"))
    final_chs = make_divisible(stages[-1][-1].mid_chs * width, 4)
    groups.append(nn.Sequential(ConvNormAct(prev_chs, final_chs, 1, **layer_kwargs)))
    feature_info.append(dict(num_chs=final_chs, reduction=net_stride, module=f"blocks.{len(stages)}"))
    return nn.Sequential(*groups), feature_info
