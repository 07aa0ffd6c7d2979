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
Like timm's models it takes ``device``/``dtype`` (``device='meta'`` builds without allocating), scripts with
TorchScript and traces with FX. The timm entrypoints live in ``entrypoints.py``; the ``features_only`` wrapper in
``features.py``; :func:`deploy` in ``deploy.py``.
"""

# no ``from __future__ import annotations``: FX copies forward()'s annotations into the code of the traced graph,
# which TorchScript must then read (a string "torch.Tensor" is not a type to it)
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import Linear, SelectAdaptivePool2d, make_divisible
from timm.models import checkpoint_seq
from torch import nn

from .blocks import ActLayer, Device, make_act
from .deploy import StemFuser, deploy
from .features import GhostNetFeatures, feature_indices
from .norm import NormLayer, factory_kwargs, fuse_conv_norm, is_foldable_norm, module_factory_kwargs, resolve_norm_layer
from .stages import GHOSTNET_STAGES, VERSIONS, BlockSpec, build_stages, check_stages

__all__ = [
    "GHOSTNET_STAGES",
    "OUTPUT_STRIDES",
    "BlockSpec",
    "GhostNet",
    "GhostNetFeatures",
    "UnsupportedPoolError",
    "deploy",
]


OUTPUT_STRIDES = (8, 16, 32)


class UnsupportedPoolError(ValueError, AssertionError):
    """A ``global_pool`` that changes the pooled width (``'catavgmax'``...), which GhostNet's conv head cannot take.

    A ``ValueError``, and an ``AssertionError`` too: timm's own GhostNet asserts here, and timm's callers probe
    the pooling a model accepts with ``except AssertionError``.
    """


def _make_pool(global_pool: str) -> SelectAdaptivePool2d:
    pool = SelectAdaptivePool2d(pool_type=global_pool)
    if pool.feat_mult() != 1:
        raise UnsupportedPoolError(
            f"global_pool must keep the channel count ('avg', 'max', 'avgmax', ''), got {global_pool!r}"
        )
    return pool


def _check_args(
    stages: Sequence[Sequence[BlockSpec]],
    version: str,
    width: float,
    output_stride: int,
    drop_rate: float,
    drop_path_rate: float,
) -> None:
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {sorted(VERSIONS)}, got {version!r}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
    for name, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate}")
    check_stages(stages)


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
        device: device of the parameters and buffers (timm's factory argument; ``'meta'`` allocates nothing).
        dtype: dtype of the parameters and buffers (e.g. ``torch.bfloat16``).

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
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_args(stages, version, width, output_stride, drop_rate, drop_path_rate)
        dd = factory_kwargs(device, dtype)
        norm = resolve_norm_layer(norm_layer)
        self.version = version
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.output_stride = output_stride
        self.grad_checkpointing = False

        stem_chs = make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(in_chans, stem_chs, 3, 2, 1, bias=False, **dd)
        self.bn1 = norm(stem_chs, **dd)
        self.act1 = make_act(act_layer)
        layer_kwargs = dict(act_layer=act_layer, norm_layer=norm, **dd)
        self.blocks, self.feature_info = build_stages(
            stages, version, width, stem_chs, output_stride, drop_path_rate, layer_kwargs
        )
        self.stage_ends = [
            -1 if info["module"] == "act1" else int(info["module"].split(".")[1]) for info in self.feature_info
        ]

        self.num_features = self.feature_info[-1]["num_chs"]
        self.head_hidden_size = head_chs
        self.global_pool = _make_pool(global_pool)
        self.conv_head = nn.Conv2d(self.num_features, head_chs, 1, 1, 0, bias=True, **dd)
        self.act2 = make_act(act_layer)
        self.flatten = nn.Flatten(1) if global_pool else nn.Identity()
        self.classifier = Linear(head_chs, num_classes, **dd) if num_classes > 0 else nn.Identity()
        self.stem_fuser = StemFuser(self)  # the last child (see StemFuser)
        self._freeze(frozen_stages)

    # ----------------------------------------------------------------------------------------- freezing
    def _freeze(self, frozen_stages: int) -> None:
        num_levels = len(self.feature_info)
        if not -1 <= frozen_stages <= num_levels:
            raise ValueError(f"frozen_stages must be in [-1, {num_levels}], got {frozen_stages}")
        self.frozen_stages = frozen_stages
        for module in self._frozen_modules():
            module.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: list[nn.Module] = [self.conv_stem, self.bn1]
        if self.frozen_stages > 0:
            modules += list(self.blocks[: self.stage_ends[self.frozen_stages - 1] + 1])
        return modules

    def train(self, mode: bool = True) -> "GhostNet":
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
        """Replace the classifier (``num_classes=0`` removes it) and optionally the pooling (kept when ``None``).

        The new layers are built on the model's device and dtype, in its train/eval mode.
        """
        dd = module_factory_kwargs(self)
        if global_pool is None:
            global_pool = self.global_pool.pool_type
        pool = _make_pool(global_pool)  # checked before anything changes
        self.num_classes = num_classes
        self.global_pool = pool.train(self.training)
        self.flatten = (nn.Flatten(1) if global_pool else nn.Identity()).train(self.training)
        classifier = Linear(self.head_hidden_size, num_classes, **dd) if num_classes > 0 else nn.Identity()
        self.classifier = classifier.train(self.training)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Forward pass returning the feature levels selected by ``indices`` (TorchScript-compatible).

        Args:
            x: input images ``(N, C, H, W)``.
            indices: last ``n`` levels if int, all if ``None``, else level indices (negative from the end).
            norm: unused (GhostNet has no final norm); accepted for timm's API.
            stop_early: stop after the last requested level.
            output_fmt: only ``'NCHW'``.
            intermediates_only: return only the list of levels.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW', got '{output_fmt}'")
        take_indices, max_index = feature_indices(len(self.stage_ends), indices)
        taps = [self.stage_ends[i] for i in take_indices]
        last = self.stage_ends[max_index] if stop_early else len(self.blocks) - 1
        intermediates: list[torch.Tensor] = []
        x = self.act1(self.bn1(self.conv_stem(x)))
        if -1 in taps:
            intermediates.append(x)
        for idx, stage in enumerate(self.blocks):
            if idx <= last:
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
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the blocks after the last requested level and, with them or with ``prune_head``, the head.

        The head (``conv_head`` and classifier) is sized for the final features, so it goes whenever blocks do;
        the model then pools the last kept level (``num_features = head_hidden_size`` = its channels).
        """
        take_indices, max_index = feature_indices(len(self.stage_ends), indices)
        end = self.stage_ends[max_index]
        truncated = end < self.stage_ends[-1]
        if truncated:
            self.blocks = self.blocks[: end + 1]
        if prune_head or truncated:
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
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

    @torch.jit.ignore
    def convert_to_deploy(self, channels_last: bool = True) -> "GhostNet":
        """Fuse in place for inference; see :func:`deploy`."""
        return deploy(self, channels_last=channels_last, inplace=True)
