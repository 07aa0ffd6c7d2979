"""FCN (torchvision's model class and ``FCNHead``) on a dilated GhostNet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchvision.models.segmentation import FCN
from torchvision.models.segmentation.fcn import FCNHead

from ghost_backbones.torchvision_registry import register_torchvision_model

from ..sections import AuxOptions, BackboneOptions, ModelConfig
from .backbone import create_feature_backbone
from .deeplab import BASELINES
from .registry import LAST, MID, MODELS, model_from_torchvision_args

__all__ = ["FCNConfig", "build_fcn", "fcn_ghostnet"]


@dataclass
class FCNConfig(AuxOptions, BackboneOptions, ModelConfig):
    """``model`` keys of ``fcn``: the shared ones, the backbone and the auxiliary head (its head has no width key:
    torchvision's ``FCNHead`` is a quarter of its input's channels)."""


@MODELS.register(
    "fcn", options=FCNConfig, counterpart="deeplabv3_mobilenet_v3_large", recipe="fcn_ghostnet", compare=BASELINES
)
def build_fcn(cfg: FCNConfig) -> FCN:
    """FCN: torchvision's ``FCNHead`` on the last map; ``aux_loss`` adds another at stride 8."""
    taps = {"aux": MID, "out": LAST} if cfg.aux_loss else {"out": LAST}
    body = create_feature_backbone(cfg.backbone, taps, cfg.output_stride)
    aux = FCNHead(body.channels["aux"], cfg.num_classes) if cfg.aux_loss else None
    return FCN(body, FCNHead(body.channels["out"], cfg.num_classes), aux)


@register_torchvision_model("fcn_ghostnet")
def fcn_ghostnet(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> FCN:
    """FCN on GhostNet, torchvision-style; arguments as :func:`~segmentation.models.deeplab.deeplabv3_ghostnet`,
    ``model`` keys of :class:`FCNConfig`.

    Examples::

        >>> import torch
        >>> fcn_ghostnet(num_classes=3, backbone={"width": 0.5})(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    return model_from_torchvision_args(
        "fcn",
        "fcn_ghostnet",
        aux_loss,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
