"""Any timm ``features_only`` model turned into a torchvision detection backbone (feature maps -> FPN)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import (
    ExtraFPNBlock,
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)

from ghost_backbones.engine import CheckedSection, config_from_dict, create_backbone

from .sections import BackboneOptions, ExtraBlocks, FPNOptions, Norm

__all__ = ["TimmFPNBackbone", "build_fpn_backbone", "ghostnet_fpn_backbone", "make_norm"]

EXTRA_BLOCKS = get_args(ExtraBlocks)
NORMS = get_args(Norm)


def make_norm(name: str) -> Callable[[int], nn.Module] | None:
    """Return a ``channels -> norm module`` factory for the FPN and box head, or ``None`` for no norm.

    Args:
        name: ``"none"``, ``"batchnorm"`` or ``"groupnorm"`` (32 groups, fewer where the channels need it).

    Examples::

        >>> norm = make_norm("groupnorm")(64)
        >>> type(norm).__name__, norm.num_groups
        ('GroupNorm', 32)
        >>> make_norm("none") is None
        True
    """
    if name == "none":
        return None
    if name == "batchnorm":
        return nn.BatchNorm2d
    if name == "groupnorm":
        return lambda channels: nn.GroupNorm(math.gcd(32, channels), channels)
    raise ValueError(f"norm must be one of {NORMS}, got {name!r}")


class TimmFPNBackbone(nn.Module):
    """A timm ``features_only`` body followed by torchvision's ``FeaturePyramidNetwork``.

    Meets torchvision's detection backbone contract: ``forward`` returns ``OrderedDict[str, Tensor]`` (levels
    ``"0"``, ``"1"``, ... from the finest, then the extra block's maps such as ``"pool"``) and ``out_channels`` is
    an int. Channels and strides are read from the body's ``feature_info``, never hard-coded.

    Args:
        body: a timm model created with ``features_only=True``.
        fpn_channels: channels of every FPN output map.
        extra_blocks: ``"pool"`` (torchvision's ``LastLevelMaxPool``), ``"p6p7"`` (RetinaNet's ``LastLevelP6P7``) or
            ``"none"``.
        fpn_norm: norm after the FPN convolutions: ``"none"``, ``"batchnorm"`` or ``"groupnorm"``.

    Attributes:
        out_channels (int): channels of every output map.
        level_names (list[str]): names of the maps taken from the body (``MultiScaleRoIAlign`` pools these).
        names (list[str]): names of every output map, extra block included (one anchor tuple per name).
        strides (list[int]): stride of every output map, in the order of ``names``.

    Examples::

        >>> import timm, torch
        >>> body = timm.create_model("mobilenetv3_large_100", features_only=True, out_indices=(2, 3, 4))
        >>> backbone = TimmFPNBackbone(body, fpn_channels=128, extra_blocks="pool", fpn_norm="none")
        >>> out = backbone(torch.rand(1, 3, 128, 128))
        >>> print([(k, tuple(v.shape)) for k, v in out.items()])
        [('0', (1, 128, 16, 16)), ('1', (1, 128, 8, 8)), ('2', (1, 128, 4, 4)), ('pool', (1, 128, 2, 2))]
        >>> backbone.strides
        [8, 16, 32, 64]
    """

    def __init__(self, body: nn.Module, *, fpn_channels: int, extra_blocks: str, fpn_norm: str) -> None:
        super().__init__()
        feature_info = getattr(body, "feature_info", None)
        if feature_info is None or not hasattr(feature_info, "channels"):
            raise ValueError(
                f"body must be a timm model created with features_only=True (it needs feature_info), "
                f"got {type(body).__name__}"
            )
        if fpn_channels < 1:
            raise ValueError(f"fpn_channels must be a positive int, got {fpn_channels}")
        in_channels = list(feature_info.channels())
        body_strides = list(feature_info.reduction())
        self.level_names = [str(i) for i in range(len(in_channels))]
        extra, extra_names = _extra_block(extra_blocks, fpn_channels)
        self.names = self.level_names + extra_names
        self.strides = body_strides + [body_strides[-1] * 2 ** (i + 1) for i in range(len(extra_names))]
        self.body = body
        self.fpn = FeaturePyramidNetwork(in_channels, fpn_channels, extra_blocks=extra, norm_layer=make_norm(fpn_norm))
        self.out_channels = fpn_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        features = self.body(x)
        return self.fpn(OrderedDict(zip(self.level_names, features)))


def _extra_block(name: str, channels: int) -> tuple[ExtraFPNBlock | None, list[str]]:
    """torchvision's extra FPN block for ``name`` and the names of the maps it adds."""
    if name == "pool":
        return LastLevelMaxPool(), ["pool"]
    if name == "p6p7":
        return LastLevelP6P7(channels, channels), ["p6", "p7"]
    if name == "none":
        return None, []
    raise ValueError(f"extra_blocks must be one of {EXTRA_BLOCKS}, got {name!r}")


@dataclass
class FPNBackboneConfig(FPNOptions, BackboneOptions, CheckedSection):
    """The keys :func:`ghostnet_fpn_backbone` takes: the backbone and the FPN of a detector's ``model`` section."""


def build_fpn_backbone(cfg: FPNBackboneConfig | FPNOptions) -> TimmFPNBackbone:
    """The detection backbone of the ``model`` section: timm ``features_only`` body (``cfg.backbone``) + FPN.

    A pretrained body gets frozen BatchNorm unless ``cfg.backbone.norm_layer`` says otherwise (torchvision's rule).

    Args:
        cfg: the ``model`` section (``backbone``, ``out_indices``, ``fpn_channels``, ``extra_blocks``, ``fpn_norm``).
    """
    body = create_backbone(cfg.backbone, out_indices=cfg.out_indices, freeze_bn_when_pretrained=True)
    return TimmFPNBackbone(body, fpn_channels=cfg.fpn_channels, extra_blocks=cfg.extra_blocks, fpn_norm=cfg.fpn_norm)


def ghostnet_fpn_backbone(**fields: Any) -> TimmFPNBackbone:
    """Build a detection backbone (timm ``features_only`` model + FPN) from ``model`` config fields.

    Args:
        **fields: keys of :class:`FPNBackboneConfig` (its defaults apply to the rest):
            ``backbone={"name": "mobilenetv3_large_100"}``, ``out_indices=[3, 4]``, ``fpn_channels=64`` ...

    Examples::

        >>> import torch
        >>> backbone = ghostnet_fpn_backbone(backbone={"width": 0.5}, fpn_channels=64)
        >>> out = backbone(torch.rand(1, 3, 128, 128))
        >>> print([(k, tuple(v.shape)) for k, v in out.items()])
        [('0', (1, 64, 16, 16)), ('1', (1, 64, 8, 8)), ('2', (1, 64, 4, 4)), ('pool', (1, 64, 2, 2))]
    """
    return build_fpn_backbone(config_from_dict(FPNBackboneConfig, fields, source="ghostnet_fpn_backbone()"))
