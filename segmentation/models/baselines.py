"""torchvision's MobileNetV3 segmentation models as registry entries (baselines of ``--compare`` and benchmarks).

Randomly initialised (no weights offline), torchvision's own settings; they read only ``num_classes`` and
``aux_loss`` from the ``model`` section.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large

from ghost_backbones.engine import ConfigError

from ..config import ModelConfig
from .registry import MODELS

__all__ = ["build_deeplabv3_mobilenet_v3_large", "build_lraspp_mobilenet_v3_large"]


@MODELS.register("deeplabv3_mobilenet_v3_large", baseline=True)
def build_deeplabv3_mobilenet_v3_large(cfg: ModelConfig) -> nn.Module:
    """torchvision's ``deeplabv3_mobilenet_v3_large`` from scratch.

    Examples::

        >>> cfg = ModelConfig(arch="deeplabv3_mobilenet_v3_large", num_classes=3, aux_loss=True)
        >>> sorted(build_deeplabv3_mobilenet_v3_large(cfg).eval()(__import__("torch").rand(1, 3, 64, 64)))
        ['aux', 'out']
    """
    return deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=cfg.num_classes, aux_loss=cfg.aux_loss
    )


@MODELS.register("lraspp_mobilenet_v3_large", baseline=True)
def build_lraspp_mobilenet_v3_large(cfg: ModelConfig) -> nn.Module:
    """torchvision's ``lraspp_mobilenet_v3_large`` from scratch."""
    if cfg.aux_loss:
        raise ConfigError("model.arch='lraspp_mobilenet_v3_large' has no auxiliary head; set model.aux_loss=false")
    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=cfg.num_classes)
