"""GhostNet V1/V2/V3 model class: one ``nn.Module`` for the three generations, built from a block table.

Papers:
    * Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020 (https://arxiv.org/abs/1911.11907)
    * Tang et al., "GhostNetV2: Enhance Cheap Operation with Long-Range Attention", NeurIPS 2022
      (https://arxiv.org/abs/2211.12905)
    * Liu et al., "GhostNetV3: Exploring the Training Strategies for Compact Models", 2024
      (https://arxiv.org/abs/2404.11202)

The module tree (and so every state-dict key) is timm's ``ghostnet_100`` / ``ghostnetv2_*`` / ``ghostnetv3_*``:
timm's and Huawei's published weights load strictly. On top of timm's class this one adds ``output_stride``
(dilation), ``frozen_stages``, ``norm_layer``, ``drop_path_rate``, multi-scale features tapped at the end of each
resolution, and deploy fusion of every conv + norm pair (``timm.utils.reparameterize_model``, :func:`deploy`).
The timm entrypoints live in ``ghostnet.py``, ``ghostnetv2.py`` and ``ghostnetv3.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from timm.layers import Linear, SelectAdaptivePool2d, make_divisible
from timm.models import checkpoint_seq
from timm.models._features import FeatureGetterNet, feature_take_indices
from timm.utils import reparameterize_model
from torch import nn

from .blocks import ActLayer, ConvNormAct, GhostBottleneck, make_act
from .norm import NormLayer, fuse_conv_norm, is_foldable_norm, resolve_norm_layer
from .rep_blocks import GhostBottleneckV3

__all__ = ["GHOSTNET_STAGES", "OUTPUT_STRIDES", "BlockSpec", "GhostNet", "GhostNetFeatures", "deploy"]


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
_VERSIONS: dict[str, tuple[type[nn.Module], int | None]] = {
    "v1": (GhostBottleneck, None),
    "v2": (GhostBottleneck, 2),
    "v3": (GhostBottleneckV3, 2),
}
OUTPUT_STRIDES = (8, 16, 32)


def _check_stages(stages: Sequence[Sequence[BlockSpec]]) -> None:
    if not stages or any(len(stage) == 0 for stage in stages):
        raise ValueError("stages must be a non-empty sequence of non-empty stages")
    for i, stage in enumerate(stages):
        for j, spec in enumerate(stage):
            if spec.stride not in (1, 2):
                raise ValueError(f"stage {i} block {j}: stride must be 1 or 2, got {spec.stride}")
            if j > 0 and spec.stride != 1:
                raise ValueError(f"stage {i} block {j}: only the first block of a stage may downsample")


class _StemFuser(nn.Module):
    """Lets ``reparameterize_model`` (which visits children only) fold ``bn1`` into ``conv_stem``.

    The stem layers must stay direct attributes of the model (timm's key names), so the owning model is held in a
    plain list: it is not registered as a submodule (no cycle in the module tree, no state-dict keys) and
    ``copy.deepcopy`` copies the reference along with the model.
    """

    def __init__(self, owner: GhostNet) -> None:
        super().__init__()
        self._owner = [owner]

    def reparameterize(self) -> None:
        self._owner[0]._fuse_stem()


class GhostNet(nn.Module):
    """GhostNet V1/V2/V3 classifier and multi-scale backbone.

    Feature levels end where the resolution changes: each tap is the output of the last block before the next
    downsampling block (as timm's MobileNetV3 does), so every level has seen all blocks at its resolution. For
    width 1.0 the levels have 16, 24, 40, 112 and 960 channels at strides 2, 4, 8, 16, 32; the last level
    includes the final 1x1 ConvNormAct. timm's own GhostNet taps right after each downsampling block instead
    ([16 (stem conv before its BN), 24, 40, 80, 160]), which hands detectors half-processed, narrower maps.

    Args:
        stages: architecture table, grouped into stages; only a stage's first block may downsample.
        version: ``'v1'``, ``'v2'`` (DFC attention from the third block on) or ``'v3'`` (V2's attention plus
            re-parameterisable branches).
        width: channel multiplier (channels rounded to multiples of 4).
        num_classes: classifier outputs, 0 for none.
        in_chans: input channels.
        output_stride: 32, 16 or 8; below 32 the last strides become dilations.
        global_pool: timm pooling type (``'avg'``, ``'max'``, ``'avgmax'``; ``''`` keeps the map).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this over the blocks.
        frozen_stages: -1 freezes nothing, 0 the stem, ``k`` the stem and the blocks of the first ``k`` feature
            levels (``requires_grad=False`` and kept in eval mode by ``train()``).
        norm_layer: ``'batchnorm'``, ``'frozenbn'``, ``'groupnorm'``, ``'syncbn'`` or a ``num_channels`` factory.
        act_layer: activation (timm name or class).
        head_chs: width of the pre-logits 1x1 conv.

    Examples::

        >>> model = GhostNet(version="v2", num_classes=10).eval()
        >>> model(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 10])
        >>> [f.shape[1:] for f in model.forward_intermediates(torch.rand(1, 3, 64, 64), intermediates_only=True)]
        [torch.Size([16, 32, 32]), torch.Size([24, 16, 16]), torch.Size([40, 8, 8]), torch.Size([112, 4, 4]), \
torch.Size([960, 2, 2])]
    """

    def __init__(
        self,
        stages: Sequence[Sequence[BlockSpec]] = GHOSTNET_STAGES,
        version: str = "v1",
        width: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        output_stride: int = 32,
        global_pool: str = "avg",
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
        frozen_stages: int = -1,
        norm_layer: str | NormLayer | None = None,
        act_layer: ActLayer = "relu",
        head_chs: int = 1280,
    ) -> None:
        super().__init__()
        if version not in _VERSIONS:
            raise ValueError(f"version must be one of {sorted(_VERSIONS)}, got {version!r}")
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width}")
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
        for name, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        _check_stages(stages)
        block_cls, attn_from = _VERSIONS[version]
        norm = resolve_norm_layer(norm_layer)
        self.version = version
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.output_stride = output_stride
        self.grad_checkpointing = False

        stem_chs = make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(in_chans, stem_chs, 3, 2, 1, bias=False)
        self.bn1 = norm(stem_chs)
        self.act1 = make_act(act_layer)
        self.stem_fuser = _StemFuser(self)

        net_stride, dilation, block_idx, prev_chs = 2, 1, 0, stem_chs
        total_blocks = sum(len(stage) for stage in stages)
        self.feature_info: list[dict[str, Any]] = []
        if stages[0][0].stride > 1:  # the stem alone is the first level
            self.feature_info.append(dict(num_chs=stem_chs, reduction=2, module="act1"))
        groups = []
        for stage_idx, stage in enumerate(stages):
            layers = []
            for spec in stage:
                in_dilation = dilation
                if spec.stride > 1:
                    if net_stride * spec.stride > output_stride:
                        dilation *= spec.stride
                    else:
                        net_stride *= spec.stride
                out_chs = make_divisible(spec.out_chs * width, 4)
                layers.append(
                    block_cls(
                        prev_chs,
                        make_divisible(spec.mid_chs * width, 4),
                        out_chs,
                        spec.kernel_size,
                        stride=spec.stride,
                        dilation=in_dilation,
                        out_dilation=dilation,
                        act_layer=act_layer,
                        se_ratio=spec.se_ratio,
                        attn=attn_from is not None and block_idx >= attn_from,
                        norm_layer=norm,
                        drop_path_rate=drop_path_rate * block_idx / total_blocks,
                    )
                )
                prev_chs = out_chs
                block_idx += 1
            groups.append(nn.Sequential(*layers))
            if stage_idx + 1 < len(stages) and stages[stage_idx + 1][0].stride > 1:
                self.feature_info.append(dict(num_chs=prev_chs, reduction=net_stride, module=f"blocks.{stage_idx}"))
        final_chs = make_divisible(stages[-1][-1].mid_chs * width, 4)
        groups.append(nn.Sequential(ConvNormAct(prev_chs, final_chs, 1, norm_layer=norm, act_layer=act_layer)))
        self.feature_info.append(dict(num_chs=final_chs, reduction=net_stride, module=f"blocks.{len(stages)}"))
        self.blocks = nn.Sequential(*groups)
        self.stage_ends = [
            -1 if info["module"] == "act1" else int(info["module"].split(".")[1]) for info in self.feature_info
        ]

        self.num_features = final_chs
        self.head_hidden_size = head_chs
        self.global_pool = self._make_pool(global_pool)
        self.conv_head = nn.Conv2d(final_chs, head_chs, 1, 1, 0, bias=True)
        self.act2 = make_act(act_layer)
        self.flatten = nn.Flatten(1) if global_pool else nn.Identity()
        self.classifier = Linear(head_chs, num_classes) if num_classes > 0 else nn.Identity()

        num_levels = len(self.feature_info)
        if not -1 <= frozen_stages <= num_levels:
            raise ValueError(f"frozen_stages must be in [-1, {num_levels}], got {frozen_stages}")
        self.frozen_stages = frozen_stages
        for module in self._frozen_modules():
            module.requires_grad_(False)

    @staticmethod
    def _make_pool(global_pool: str) -> SelectAdaptivePool2d:
        pool = SelectAdaptivePool2d(pool_type=global_pool)
        if pool.feat_mult() != 1:
            raise ValueError(
                f"global_pool must keep the channel count ('avg', 'max', 'avgmax', ''), got {global_pool!r}"
            )
        return pool

    # ----------------------------------------------------------------------------------------- freezing
    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: list[nn.Module] = [self.conv_stem, self.bn1]
        if self.frozen_stages > 0:
            modules += list(self.blocks[: self.stage_ends[self.frozen_stages - 1] + 1])
        return modules

    def train(self, mode: bool = True) -> GhostNet:
        """Set train/eval mode; frozen stages (``frozen_stages``) always stay in eval mode."""
        super().train(mode)
        if mode:
            for module in self._frozen_modules():
                module.eval()
        return self

    # ---------------------------------------------------------------------------------------- timm API
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(
            stem=r"^conv_stem|bn1",
            blocks=[(r"^blocks\.(\d+)" if coarse else r"^blocks\.(\d+)\.(\d+)", None), (r"conv_head", (99999,))],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each stage in the backward pass instead of storing its activations."""
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier (``num_classes=0`` removes it) and optionally the pooling."""
        self.num_classes = num_classes
        if global_pool is None:
            global_pool = self.global_pool.pool_type
        self.global_pool = self._make_pool(global_pool).train(self.training)
        self.flatten = (nn.Flatten(1) if global_pool else nn.Identity()).train(self.training)
        self.classifier = Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        self.classifier.train(self.training)

    def _take_indices(self, indices: int | Sequence[int] | None) -> tuple[list[int], int]:
        n = len(self.stage_ends)
        if isinstance(indices, int) and not 0 < indices <= n:
            raise ValueError(f"indices as last-n must be in [1, {n}], got {indices}")
        if indices is not None and not isinstance(indices, int):
            bad = [i for i in indices if not -n <= i < n]
            if bad or len(indices) == 0:
                raise ValueError(f"feature indices (out_indices) must be in [{-n}, {n - 1}], got {list(indices)}")
        take, max_index = feature_take_indices(n, indices)
        return take, max_index

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Forward pass returning the feature levels selected by ``indices``.

        Args:
            x: input images ``(N, C, H, W)``.
            indices: last ``n`` levels if int, all if ``None``, else level indices (negative from the end).
            norm: unused (GhostNet has no final norm); accepted for timm's API.
            stop_early: stop after the last requested level.
            output_fmt: only ``'NCHW'``.
            intermediates_only: return only the list of levels.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        take_indices, max_index = self._take_indices(indices)
        taps = {self.stage_ends[i] for i in take_indices}
        intermediates = []
        x = self.act1(self.bn1(self.conv_stem(x)))
        if -1 in taps:
            intermediates.append(x)
        last = self.stage_ends[max_index] if stop_early else len(self.blocks) - 1
        for idx, stage in enumerate(self.blocks[: last + 1]):
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint_seq(stage, x)
            else:
                x = stage(x)
            if idx in taps:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the blocks after the last requested level and (``prune_head``) the classification head."""
        take_indices, max_index = self._take_indices(indices)
        self.blocks = self.blocks[: self.stage_ends[max_index] + 1]
        if prune_head:
            self.num_features = self.feature_info[max_index]["num_chs"]
            self.head_hidden_size = self.num_features
            self.conv_head = nn.Identity()
            self.act2 = nn.Identity()
            self.reset_classifier(0, "")
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x, flatten=True)
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.flatten(self.act2(self.conv_head(self.global_pool(x))))
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    # -------------------------------------------------------------------------------------- deployment
    def _fuse_stem(self) -> None:
        if isinstance(self.conv_stem, nn.Conv2d) and is_foldable_norm(self.bn1):
            self.conv_stem = fuse_conv_norm(self.conv_stem, self.bn1)
            self.bn1 = nn.Identity()

    def convert_to_deploy(self, channels_last: bool = True) -> GhostNet:
        """Fuse in place for inference; see :func:`deploy`."""
        return deploy(self, channels_last=channels_last, inplace=True)


def deploy(model: nn.Module, channels_last: bool = True, inplace: bool = False) -> nn.Module:
    """Inference form of any model containing GhostNets: fold norms, merge V3 branches, channels-last weights.

    ``timm.utils.reparameterize_model`` does the fusion; channels-last weights then make oneDNN (CPU) and cuDNN
    (GPU) run every convolution in NHWC, where depthwise convolutions (most of GhostNet's layers) are several
    times faster than in NCHW. Inputs may stay NCHW; outputs are channels-last strided (same shapes and values).

    Args:
        model: a GhostNet, its ``features_only`` wrapper, or a detector/segmenter holding one; put it in eval mode.
        channels_last: also convert the weights to ``torch.channels_last``.
        inplace: modify ``model`` instead of a deep copy.

    Examples::

        >>> import timm
        >>> model = timm.create_model("ghostnetv3", features_only=True).eval()
        >>> fast = deploy(model)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(fast(x), model(x)))
        True
    """
    model = reparameterize_model(model, inplace=inplace)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


class GhostNetFeatures(FeatureGetterNet):
    """timm's feature getter (``features_only=True``) plus ``set_grad_checkpointing`` forwarded to the model.

    Examples::

        >>> import timm
        >>> m = timm.create_model("ghostnet", features_only=True, out_indices=(3, 4))
        >>> m.feature_info.channels(), m.feature_info.reduction()
        ([112, 960], [16, 32])
    """

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.model.set_grad_checkpointing(enable)

    def convert_to_deploy(self, channels_last: bool = True) -> GhostNetFeatures:
        """Fuse in place for inference; see :func:`deploy`."""
        return deploy(self, channels_last=channels_last, inplace=True)
