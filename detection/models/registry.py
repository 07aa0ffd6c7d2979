"""The detection model registry: ``model.arch`` -> builder taking the ``model`` config section.

Examples::

    >>> from detection.config import ModelConfig
    >>> MODELS.names(baselines=False)
    ['faster_rcnn', 'fcos', 'mask_rcnn', 'retinanet', 'ssdlite']
    >>> needs_masks("mask_rcnn"), needs_masks("faster_rcnn")
    (True, False)
    >>> model = build_model(ModelConfig(num_classes=4, backbone=BackboneConfig(width=0.5)))
    >>> type(model).__name__, model.roi_heads.box_predictor.cls_score.out_features
    ('FasterRCNN', 4)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ghost_backbones.engine import BackboneConfig, ConfigError, Registry  # noqa: F401  (BackboneConfig: doctest)

from ..config import ModelConfig

__all__ = ["MASK_ARCHS", "MODELS", "build_model", "needs_masks"]

MODELS = Registry("detection architecture (model.arch)")

#: Architectures that learn instance masks: their data gives ``masks`` targets, their evaluation adds ``segm`` AP.
#: A mask module adds its names when it registers them.
MASK_ARCHS: set[str] = set()


def needs_masks(arch: str) -> bool:
    """Whether ``model.arch`` ``arch`` trains on instance masks (and needs data that has them)."""
    return arch in MASK_ARCHS


def build_model(cfg: ModelConfig, **kwargs: Any) -> nn.Module:
    """The detector ``cfg.arch`` names, built from ``cfg`` (``cfg.num_classes`` must be resolved, >= 2).

    Args:
        cfg: the ``model`` section of the recipe.
        **kwargs: extra arguments of the torchvision model class (the task passes ``_skip_resize``).
    """
    if cfg.num_classes < 2:
        raise ConfigError(
            f"model.num_classes must be >= 2 (background included) to build a detector, got {cfg.num_classes}"
        )
    return MODELS.get(cfg.arch)(cfg, **kwargs)
