"""The detection model registry: ``model.arch`` -> builder, its options dataclass, counterpart and recipe.

Examples::

    >>> from detection.config import model_config
    >>> MODELS.names(baselines=False)
    ['faster_rcnn', 'fcos', 'mask_rcnn', 'retinanet', 'ssdlite']
    >>> needs_masks("mask_rcnn"), needs_masks("faster_rcnn")
    (True, False)
    >>> MODELS.entry("ssdlite").counterpart, MODELS.entry("ssdlite").recipe
    ('ssdlite320_mobilenet_v3_large', 'ssdlite_ghostnet')
    >>> model = build_model(model_config("faster_rcnn", num_classes=4, backbone={"width": 0.5}))
    >>> type(model).__name__, model.roi_heads.box_predictor.cls_score.out_features
    ('FasterRCNN', 4)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ghost_backbones.engine import ConfigError, ModelRegistry

from ..sections import ModelConfig

__all__ = ["MASKS", "MODELS", "build_model", "needs_masks"]

MODELS = ModelRegistry("detection architecture (model.arch)")

#: The tag of architectures that learn instance masks: their data gives ``masks`` targets, their evaluation adds
#: ``segm`` AP (``@MODELS.register(..., tags={MASKS})``).
MASKS = "masks"


def needs_masks(arch: str) -> bool:
    """Whether ``model.arch`` ``arch`` trains on instance masks (and needs data that has them)."""
    return MODELS.has_tag(arch, MASKS)


def build_model(cfg: ModelConfig, **kwargs: Any) -> nn.Module:
    """The detector ``cfg.arch`` names, built from ``cfg`` (``cfg.num_classes`` must be resolved, >= 2).

    Args:
        cfg: the ``model`` section of the recipe: an instance of ``MODELS.options(cfg.arch)``
            (:func:`detection.config.model_config` builds one).
        **kwargs: extra arguments of the torchvision model class (the task passes ``_skip_resize``).
    """
    options = MODELS.options(cfg.arch)
    if not isinstance(cfg, options):
        raise ConfigError(
            f"model.arch={cfg.arch!r} reads a {options.__name__} section, got a {type(cfg).__name__}: build it with "
            f"detection.config.model_config({cfg.arch!r}, ...)"
        )
    if cfg.num_classes < 2:
        raise ConfigError(
            f"model.num_classes must be >= 2 (background included) to build a detector, got {cfg.num_classes}"
        )
    return MODELS.get(cfg.arch)(cfg, **kwargs)
