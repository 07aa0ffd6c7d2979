"""Lite R-ASPP (torchvision's ``LRASPP``) on a dilated GhostNet: stride-8 and last-map branches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchvision.models.segmentation import LRASPP

from ghost_backbones.torchvision_registry import register_torchvision_model

from ..sections import BackboneOptions, ModelConfig
from .backbone import create_feature_backbone
from .deeplab import BASELINES
from .registry import LAST, MID, MODELS, model_from_torchvision_args

__all__ = ["LRASPPConfig", "build_lraspp", "lraspp_ghostnet"]


@dataclass
class LRASPPConfig(BackboneOptions, ModelConfig):
    """``model`` keys of ``lraspp``: the shared ones and the backbone (no auxiliary head), and:

    Args:
        head_channels: the high branch's ``inter_channels`` (128 as in torchvision).
    """

    head_channels: int = 128


@MODELS.register(
    "lraspp", options=LRASPPConfig, counterpart="lraspp_mobilenet_v3_large", recipe="lraspp_ghostnet", compare=BASELINES
)
def build_lraspp(cfg: LRASPPConfig) -> LRASPP:
    """LR-ASPP: ``head_channels`` is the high branch's ``inter_channels`` (128 as in torchvision); no aux head."""
    body = create_feature_backbone(cfg.backbone, {"low": MID, "high": LAST}, cfg.output_stride)
    return LRASPP(body, body.channels["low"], body.channels["high"], cfg.num_classes, cfg.head_channels)


@register_torchvision_model("lraspp_ghostnet")
def lraspp_ghostnet(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> LRASPP:
    """LR-ASPP on GhostNet, torchvision-style; arguments as :func:`~segmentation.models.deeplab.deeplabv3_ghostnet`
    (``aux_loss``: ``None`` or ``False``, it has no auxiliary head), ``model`` keys of :class:`LRASPPConfig`.

    Examples::

        >>> import torch
        >>> lraspp_ghostnet(num_classes=3, backbone={"width": 0.5})(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    return model_from_torchvision_args(
        "lraspp",
        "lraspp_ghostnet",
        aux_loss,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
