"""Lite R-ASPP (torchvision's ``LRASPP``) on a dilated GhostNet: stride-8 and last-map branches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchvision.models.segmentation import LRASPP

from ..sections import BackboneOptions, ModelConfig
from .backbone import create_feature_backbone
from .deeplab import BASELINES
from .registry import LAST, MID, MODELS, model_from_fields

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


def lraspp_ghostnet(**fields: Any) -> LRASPP:
    """LR-ASPP from ``model`` config fields (defaults: :class:`LRASPPConfig`).

    Examples::

        >>> import torch
        >>> lraspp_ghostnet(num_classes=3, backbone={"width": 0.5})(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    return model_from_fields("lraspp", fields)
