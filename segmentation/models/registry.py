"""The segmentation model registry: ``model.arch`` -> builder, its options dataclass, counterpart and recipe.

Every model returns ``{"out": logits[, "aux": logits]}`` at the input resolution, like torchvision's
``deeplabv3_mobilenet_v3_large``.

Examples::

    >>> from segmentation.config import model_config
    >>> MODELS.names(baselines=False)
    ['deeplabv3', 'deeplabv3plus', 'fcn', 'lraspp']
    >>> type(build_model(model_config("lraspp", num_classes=3))).__name__
    'LRASPP'
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from ghost_backbones.engine import ConfigError, ModelRegistry, config_from_dict
from ghost_backbones.models.norm import group_norm, replace_batchnorms
from ghost_backbones.torchvision_registry import TRAINABLE_LAYERS, torchvision_fields

from ..sections import BackboneOptions, ModelConfig

__all__ = ["MODELS", "build_model", "model_from_torchvision_args"]

MODELS = ModelRegistry("segmentation architecture (model.arch)")

#: timm feature indices the heads tap: stride 4 (DeepLabV3+ decoder), stride 8 (auxiliary head and LR-ASPP's low
#: branch) and the last map (dilated to ``output_stride``).
LOW, MID, LAST = 1, 2, 4


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model ``cfg.arch`` names, built from ``cfg`` (``cfg.num_classes`` resolved, >= 1).

    ``cfg.head_norm="groupnorm"`` swaps the BatchNorms of every part but the ``backbone`` (ours; the torchvision
    baselines keep their own settings and have no such key).

    Examples::

        >>> from segmentation.models.fcn import FCNConfig
        >>> model = build_model(FCNConfig(arch="fcn", num_classes=3, head_norm="groupnorm"))
        >>> gn = lambda part: any(isinstance(m, nn.GroupNorm) for m in part.modules())
        >>> gn(model.classifier), gn(model.backbone)
        (True, False)
    """
    options = MODELS.options(cfg.arch)
    if not isinstance(cfg, options):
        raise ConfigError(
            f"model.arch={cfg.arch!r} reads a {options.__name__} section, got a {type(cfg).__name__}: build it with "
            f"segmentation.config.model_config({cfg.arch!r}, ...)"
        )
    if cfg.num_classes < 1:
        raise ConfigError(f"model.num_classes must be >= 1 to build a model, got {cfg.num_classes}")
    model = MODELS.get(cfg.arch)(cfg)
    if isinstance(cfg, BackboneOptions) and cfg.head_norm == "groupnorm":
        for name, part in model.named_children():
            if name != "backbone":
                replace_batchnorms(part, group_norm)
    return model


#: torchvision's segmentation defaults: 21 classes (VOC's), no backbone layer frozen.
DEFAULTS = {"num_classes": 21, "trainable_backbone_layers": TRAINABLE_LAYERS}


def model_from_torchvision_args(arch: str, name: str, aux_loss: bool | None = None, **arguments: Any) -> nn.Module:
    """``build_model`` from a torchvision-style builder's arguments (the public ``*_ghostnet`` builders).

    Args:
        arch: the registry name (``deeplabv3``).
        name: the public builder's name (in messages).
        aux_loss: ``None`` keeps the ``model`` default; an architecture without an auxiliary head takes only
            ``None`` or ``False`` (as torchvision's ``lraspp_mobilenet_v3_large``).
        **arguments: ``weights``, ``progress``, ``num_classes``, ``weights_backbone``, ``trainable_backbone_layers``
            and ``kwargs`` (``model`` keys).
    """
    arguments.pop("progress", None)
    options = MODELS.options(arch)
    kwargs = dict(arguments.pop("kwargs"))
    if aux_loss is not None:
        if "aux_loss" not in {f.name for f in dataclasses.fields(options)}:
            if aux_loss:
                raise ConfigError(f"{name}: this model has no auxiliary head, aux_loss must be None or False")
        else:
            kwargs["aux_loss"] = aux_loss
    fields, _ = torchvision_fields(name, options, kwargs, defaults=DEFAULTS, **arguments)
    return build_model(config_from_dict(options, {**fields, "arch": arch}, source=f"{name}()"))
