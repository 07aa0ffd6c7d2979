"""FCN (torchvision's model class and ``FCNHead``) on a dilated GhostNet."""

from __future__ import annotations

from typing import Any

from torchvision.models.segmentation import FCN
from torchvision.models.segmentation.fcn import FCNHead

from ..config import ModelConfig
from .backbone import create_feature_backbone
from .registry import LAST, MID, MODELS, model_from_fields

__all__ = ["build_fcn", "fcn_ghostnet"]


@MODELS.register("fcn")
def build_fcn(cfg: ModelConfig) -> FCN:
    """FCN: torchvision's ``FCNHead`` on the last map; ``aux_loss`` adds another at stride 8."""
    taps = {"aux": MID, "out": LAST} if cfg.aux_loss else {"out": LAST}
    body = create_feature_backbone(cfg.backbone, taps, cfg.output_stride)
    aux = FCNHead(body.channels["aux"], cfg.num_classes) if cfg.aux_loss else None
    return FCN(body, FCNHead(body.channels["out"], cfg.num_classes), aux)


def fcn_ghostnet(**fields: Any) -> FCN:
    """FCN from ``model`` config fields (defaults: :class:`segmentation.config.ModelConfig`).

    Examples::

        >>> import torch
        >>> fcn_ghostnet(num_classes=3, backbone={"width": 0.5})(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    return model_from_fields("fcn", fields)
