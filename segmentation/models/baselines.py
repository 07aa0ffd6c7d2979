"""torchvision's MobileNetV3 segmentation models as registry entries (baselines of ``--compare`` and benchmarks).

Randomly initialised (no weights offline), torchvision's own settings; they read only ``num_classes`` (and
DeepLabV3 the auxiliary head's keys) from the ``model`` section.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large

from ..sections import AuxOptions, ModelConfig
from .registry import MODELS

__all__ = ["DeepLabV3BaselineConfig", "build_deeplabv3_mobilenet_v3_large", "build_lraspp_mobilenet_v3_large"]


@dataclass
class DeepLabV3BaselineConfig(AuxOptions, ModelConfig):
    """``model`` keys of ``deeplabv3_mobilenet_v3_large``: the shared ones and the auxiliary head."""


@MODELS.register("deeplabv3_mobilenet_v3_large", options=DeepLabV3BaselineConfig, baseline=True)
def build_deeplabv3_mobilenet_v3_large(cfg: DeepLabV3BaselineConfig) -> nn.Module:
    """torchvision's ``deeplabv3_mobilenet_v3_large`` from scratch.

    Examples::

        >>> cfg = DeepLabV3BaselineConfig(arch="deeplabv3_mobilenet_v3_large", num_classes=3, aux_loss=True)
        >>> sorted(build_deeplabv3_mobilenet_v3_large(cfg).eval()(__import__("torch").rand(1, 3, 64, 64)))
        ['aux', 'out']
    """
    return deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=cfg.num_classes, aux_loss=cfg.aux_loss
    )


@MODELS.register("lraspp_mobilenet_v3_large", options=ModelConfig, baseline=True)
def build_lraspp_mobilenet_v3_large(cfg: ModelConfig) -> nn.Module:
    """torchvision's ``lraspp_mobilenet_v3_large`` from scratch (no auxiliary head)."""
    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=cfg.num_classes)
