"""The segmentation model registry: ``model.arch`` -> builder taking the ``model`` config section.

Every model returns ``{"out": logits[, "aux": logits]}`` at the input resolution, like torchvision's
``deeplabv3_mobilenet_v3_large``.

Examples::

    >>> from segmentation.config import ModelConfig
    >>> MODELS.names(baselines=False)
    ['deeplabv3', 'deeplabv3plus', 'fcn', 'lraspp']
    >>> type(build_model(ModelConfig(arch="lraspp", num_classes=3))).__name__
    'LRASPP'
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ghost_backbones.engine import ConfigError, Registry, config_from_dict
from ghost_backbones.models.norm import group_norm, replace_batchnorms

from ..config import ModelConfig

__all__ = ["MODELS", "build_model", "model_from_fields"]

MODELS = Registry("segmentation architecture (model.arch)")

#: timm feature indices the heads tap: stride 4 (DeepLabV3+ decoder), stride 8 (auxiliary head and LR-ASPP's low
#: branch) and the last map (dilated to ``output_stride``).
LOW, MID, LAST = 1, 2, 4


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model ``cfg.arch`` names, built from ``cfg`` (``cfg.num_classes`` resolved, >= 1).

    ``cfg.head_norm="groupnorm"`` swaps the BatchNorms of every part but the ``backbone`` (ours; the torchvision
    baselines keep their own settings, as for every other ``model`` key but ``num_classes`` and ``aux_loss``).

    Examples::

        >>> model = build_model(ModelConfig(arch="fcn", num_classes=3, head_norm="groupnorm"))
        >>> gn = lambda part: any(isinstance(m, nn.GroupNorm) for m in part.modules())
        >>> gn(model.classifier), gn(model.backbone)
        (True, False)
    """
    if cfg.num_classes < 1:
        raise ConfigError(f"model.num_classes must be >= 1 to build a model, got {cfg.num_classes}")
    model = MODELS.get(cfg.arch)(cfg)
    if cfg.head_norm == "groupnorm" and not MODELS.is_baseline(cfg.arch):
        for name, part in model.named_children():
            if name != "backbone":
                replace_batchnorms(part, group_norm)
    return model


def model_from_fields(arch: str, fields: dict[str, Any]) -> nn.Module:
    """``build_model`` from ``model`` keys given as keyword arguments (the public ``*_ghostnet`` builders)."""
    return build_model(config_from_dict(ModelConfig, {**fields, "arch": arch}))
