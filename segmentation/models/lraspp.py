"""Lite R-ASPP (torchvision's ``LRASPP``) on a dilated GhostNet: stride-8 and last-map branches."""

from __future__ import annotations

from typing import Any

from torchvision.models.segmentation import LRASPP

from ghost_backbones.engine import ConfigError

from ..config import ModelConfig
from .backbone import create_feature_backbone
from .registry import LAST, MID, MODELS, model_from_fields

__all__ = ["build_lraspp", "lraspp_ghostnet"]


@MODELS.register("lraspp")
def build_lraspp(cfg: ModelConfig) -> LRASPP:
    """LR-ASPP: ``head_channels`` is the high branch's ``inter_channels`` (128 as in torchvision); no aux head."""
    if cfg.aux_loss:
        raise ConfigError("model.arch='lraspp' has no auxiliary head; set model.aux_loss=false")
    body = create_feature_backbone(cfg.backbone, {"low": MID, "high": LAST}, cfg.output_stride)
    return LRASPP(body, body.channels["low"], body.channels["high"], cfg.num_classes, cfg.head_channels)


def lraspp_ghostnet(**fields: Any) -> LRASPP:
    """LR-ASPP from ``model`` config fields (defaults: :class:`segmentation.config.ModelConfig`).

    Examples::

        >>> import torch
        >>> lraspp_ghostnet(num_classes=3, backbone={"width": 0.5})(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    return model_from_fields("lraspp", fields)
