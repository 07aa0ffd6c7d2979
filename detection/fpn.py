"""Any timm ``features_only`` model turned into a torchvision detection backbone (feature maps -> FPN)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import timm
from timm.layers import freeze_batch_norm_2d
from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import (
    ExtraFPNBlock,
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)

import ghost_backbones  # noqa: F401  (registers the ghostnet / ghostnetv2 / ghostnetv3 timm models)

__all__ = ["TimmFPNBackbone", "ghostnet_fpn_backbone", "make_norm"]

EXTRA_BLOCKS = ("pool", "p6p7", "none")
NORMS = ("none", "batchnorm", "groupnorm")


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
        >>> backbone = TimmFPNBackbone(body, fpn_channels=128)
        >>> out = backbone(torch.rand(1, 3, 128, 128))
        >>> print([(k, tuple(v.shape)) for k, v in out.items()])
        [('0', (1, 128, 16, 16)), ('1', (1, 128, 8, 8)), ('2', (1, 128, 4, 4)), ('pool', (1, 128, 2, 2))]
        >>> backbone.strides
        [8, 16, 32, 64]
    """

    def __init__(self, body: nn.Module, *, fpn_channels: int = 256, extra_blocks: str = "pool", fpn_norm: str = "none"):
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


def ghostnet_fpn_backbone(
    *,
    name: str = "ghostnet",
    width: float = 1.0,
    out_indices: Sequence[int] = (2, 3, 4),
    fpn_channels: int = 256,
    extra_blocks: str = "pool",
    fpn_norm: str = "none",
    frozen_stages: int | None = None,
    norm_layer: str | Callable[..., nn.Module] | None = None,
    pretrained: bool = False,
    **timm_kwargs,
) -> TimmFPNBackbone:
    """Build a detection backbone (timm ``features_only`` model + FPN); GhostNet by default.

    Args:
        name: a timm model name: ``ghostnet``, ``ghostnetv2``, ``ghostnetv3`` or any model timm can build with
            ``features_only=True`` (``mobilenetv3_large_100``, ``resnet50`` ...).
        width: channel multiplier of the GhostNet models (passed to timm only when it differs from 1.0).
        out_indices: the feature levels fed to the FPN (GhostNet: 0..4 at strides 2..32).
        fpn_channels: channels of the FPN maps.
        extra_blocks: ``"pool"``, ``"p6p7"`` or ``"none"``: extra coarser maps after the FPN.
        fpn_norm: ``"none"``, ``"batchnorm"`` or ``"groupnorm"`` after the FPN convolutions.
        frozen_stages: backbone levels frozen (weights and BN statistics); ``None`` passes nothing to timm.
        norm_layer: the backbone's norm (a timm name such as ``"frozenbn"`` or a callable). ``None``: frozen
            BatchNorm when ``pretrained`` (as torchvision does), the model's trainable BatchNorm otherwise.
        pretrained: load the backbone's ImageNet weights through timm.
        **timm_kwargs: passed to ``timm.create_model`` (``output_stride``, ``drop_path_rate``,
            ``pretrained_cfg_overlay=dict(file=...)`` ...).

    Examples::

        >>> import torch
        >>> backbone = ghostnet_fpn_backbone(width=0.5, fpn_channels=64)
        >>> out = backbone(torch.rand(1, 3, 128, 128))
        >>> print([(k, tuple(v.shape)) for k, v in out.items()])
        [('0', (1, 64, 16, 16)), ('1', (1, 64, 8, 8)), ('2', (1, 64, 4, 4)), ('pool', (1, 64, 2, 2))]
    """
    kwargs = dict(timm_kwargs)
    if width != 1.0:
        kwargs["width"] = width
    if frozen_stages is not None:
        kwargs["frozen_stages"] = frozen_stages
    if norm_layer is not None:
        kwargs["norm_layer"] = norm_layer
    body = timm.create_model(name, pretrained=pretrained, features_only=True, out_indices=tuple(out_indices), **kwargs)
    if pretrained and norm_layer is None:
        body = freeze_batch_norm_2d(body)
    return TimmFPNBackbone(body, fpn_channels=fpn_channels, extra_blocks=extra_blocks, fpn_norm=fpn_norm)
