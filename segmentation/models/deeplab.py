"""DeepLabV3 (torchvision's model class) and DeepLabV3+ on a dilated GhostNet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchvision.models.segmentation import DeepLabV3
from torchvision.models.segmentation.fcn import FCNHead

from ghost_backbones.engine import ConfigError
from ghost_backbones.torchvision_registry import register_torchvision_model

from ..sections import AuxOptions, BackboneOptions, ModelConfig
from .backbone import create_feature_backbone
from .heads import ASPP_RATES, DeepLabHead, DeepLabV3Plus, DeepLabV3PlusHead
from .registry import LAST, LOW, MID, MODELS, model_from_torchvision_args

__all__ = [
    "DeepLabV3Config",
    "DeepLabV3PlusConfig",
    "build_deeplabv3",
    "build_deeplabv3plus",
    "deeplabv3_ghostnet",
    "deeplabv3plus_ghostnet",
]

#: What ``demo --compare`` trains beside each of our heads: both torchvision MobileNetV3 models.
BASELINES = ("deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")


@dataclass
class DeepLabV3Config(AuxOptions, BackboneOptions, ModelConfig):
    """``model`` keys of ``deeplabv3``: the shared ones, the backbone, the auxiliary head, and the ASPP.

    Args:
        head_channels: ASPP width (torchvision uses 256, see docs/benchmarks.md).
        atrous_rates: ASPP rates; empty picks (6, 12, 18) at stride 16, (12, 24, 36) at stride 8.
    """

    head_channels: int = 128
    atrous_rates: list[int] = field(default_factory=list)

    def _check(self) -> None:
        if self.atrous_rates and (len(self.atrous_rates) != 3 or min(self.atrous_rates) < 1):
            raise ConfigError(f"model.atrous_rates must be three positive dilation rates, got {self.atrous_rates}")


@dataclass
class DeepLabV3PlusConfig(DeepLabV3Config):
    """``model`` keys of ``deeplabv3plus``: DeepLabV3's (``head_channels`` is the decoder's width too), and:

    Args:
        low_proj_channels: the stride-4 projection width (48 in the paper).
    """

    low_proj_channels: int = 48


@MODELS.register(
    "deeplabv3",
    options=DeepLabV3Config,
    counterpart="deeplabv3_mobilenet_v3_large",
    recipe="deeplabv3_ghostnet",
    compare=BASELINES,
)
def build_deeplabv3(cfg: DeepLabV3Config) -> DeepLabV3:
    """DeepLabV3: ASPP ``head_channels`` wide on the last map; ``aux_loss`` adds an ``FCNHead`` at stride 8."""
    taps = {"aux": MID, "out": LAST} if cfg.aux_loss else {"out": LAST}
    body = create_feature_backbone(cfg.backbone, taps, cfg.output_stride)
    rates = tuple(cfg.atrous_rates or ASPP_RATES[cfg.output_stride])
    classifier = DeepLabHead(body.channels["out"], cfg.num_classes, rates, channels=cfg.head_channels)
    aux = FCNHead(body.channels["aux"], cfg.num_classes) if cfg.aux_loss else None
    return DeepLabV3(body, classifier, aux)


@MODELS.register(
    "deeplabv3plus",
    options=DeepLabV3PlusConfig,
    counterpart="deeplabv3_mobilenet_v3_large",
    recipe="deeplabv3plus_ghostnet",
    compare=BASELINES,
)
def build_deeplabv3plus(cfg: DeepLabV3PlusConfig) -> DeepLabV3Plus:
    """DeepLabV3+: DeepLabV3's ASPP plus a decoder on the stride-4 features, for sharper boundaries."""
    taps = {"low": LOW, "aux": MID, "out": LAST} if cfg.aux_loss else {"low": LOW, "out": LAST}
    body = create_feature_backbone(cfg.backbone, taps, cfg.output_stride)
    rates = tuple(cfg.atrous_rates or ASPP_RATES[cfg.output_stride])
    classifier = DeepLabV3PlusHead(
        body.channels["out"], body.channels["low"], cfg.num_classes, rates, cfg.head_channels, cfg.low_proj_channels
    )
    aux = FCNHead(body.channels["aux"], cfg.num_classes) if cfg.aux_loss else None
    return DeepLabV3Plus(body, classifier, aux)


@register_torchvision_model("deeplabv3_ghostnet")
def deeplabv3_ghostnet(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> DeepLabV3:
    """DeepLabV3 on GhostNet, torchvision-style (``torchvision.models.get_model("deeplabv3_ghostnet")``).

    Args:
        weights: ``None`` (no trained segmentation weights are published).
        progress: unused (torchvision's argument).
        num_classes: classes (default 21, VOC's).
        aux_loss: add the auxiliary head (``None``: the ``model`` default, no head).
        weights_backbone: ``None`` or ImageNet (``"DEFAULT"``, ``"IMAGENET1K_V1"``): ``backbone.pretrained``.
        trainable_backbone_layers: with a pretrained backbone, how many of its 6 layers (stem, 5 levels) train, from
            the end (default 6, all, as torchvision's segmentation models): ``backbone.frozen_stages``.
        **kwargs: ``model`` keys (defaults: :class:`DeepLabV3Config`), nested ones as dicts
            (``backbone={"name": "ghostnetv2", "width": 1.3}``, ``output_stride=8`` ...).

    Examples::

        >>> import torch
        >>> model = deeplabv3_ghostnet(num_classes=3, backbone={"width": 0.5}, output_stride=8, aux_loss=True)
        >>> {k: tuple(v.shape) for k, v in model(torch.rand(2, 3, 64, 64)).items()}
        {'out': (2, 3, 64, 64), 'aux': (2, 3, 64, 64)}
    """
    return model_from_torchvision_args(
        "deeplabv3",
        "deeplabv3_ghostnet",
        aux_loss,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )


@register_torchvision_model("deeplabv3plus_ghostnet")
def deeplabv3plus_ghostnet(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> DeepLabV3Plus:
    """DeepLabV3+ on GhostNet, torchvision-style; arguments as :func:`deeplabv3_ghostnet`, ``model`` keys of
    :class:`DeepLabV3PlusConfig`.

    Examples::

        >>> import torch
        >>> deeplabv3plus_ghostnet(num_classes=3, backbone={"width": 0.5})(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    return model_from_torchvision_args(
        "deeplabv3plus",
        "deeplabv3plus_ghostnet",
        aux_loss,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
