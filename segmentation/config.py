"""Typed configuration of the segmentation task: sections ``model``, ``data``, ``train``.

The YAML recipes in ``configs/*_voc.yaml`` mirror these dataclasses; every key is optional and an unknown key is
an error listing the valid ones (see `ghost_backbones.engine.load_config`). The ``model`` section is the options
dataclass the chosen architecture registered (``model.arch``, :data:`segmentation.models.MODELS`): a key it does not
read is an error naming it and its keys.

Examples::

    >>> import torch
    >>> from ghost_backbones.engine import load_config
    >>> from segmentation.models import build_model
    >>> cfg = load_config(SegmentationConfig, "configs/deeplabv3_ghostnet_voc.yaml",
    ...                   ["model.output_stride=8", "model.backbone.pretrained=false"])
    >>> cfg.model.arch, cfg.model.output_stride, cfg.train.lr_scheduler, cfg.model.num_classes
    ('deeplabv3', 8, 'poly', 21)
    >>> build_model(cfg.model)(torch.rand(1, 3, 64, 64))["out"].shape
    torch.Size([1, 21, 64, 64])
    >>> load_config(SegmentationConfig, None, ["model.arch=lraspp", "model.aux_loss=true"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: overrides: ['model.aux_loss'] not read by model.arch='lraspp'; its keys: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ghost_backbones.engine import ConfigError, config_from_dict, variant_section

from .data.formats import SEGMENTATION_FORMATS
from .models import MODELS
from .sections import DataConfig, ModelConfig, SegmentationTrainConfig

__all__ = ["DataConfig", "ModelConfig", "SegmentationConfig", "SegmentationTrainConfig", "model_config"]


def model_config(arch: str, **fields: Any) -> ModelConfig:
    """The ``model`` section of architecture ``arch`` from keyword values (nested ones as dicts), checked.

    Examples::

        >>> cfg = model_config("lraspp", num_classes=3, backbone={"width": 0.5})
        >>> type(cfg).__name__, cfg.head_channels, cfg.backbone.width
        ('LRASPPConfig', 128, 0.5)
    """
    return config_from_dict(MODELS.options(arch), {**fields, "arch": arch}, source=f"model_config({arch!r})")


@dataclass
class SegmentationConfig:
    """The whole segmentation recipe; ``model.num_classes: 0`` becomes ``len(data.class_names)`` when loaded."""

    model: ModelConfig = variant_section(MODELS.options, "deeplabv3")
    data: DataConfig = field(default_factory=DataConfig)
    train: SegmentationTrainConfig = field(default_factory=SegmentationTrainConfig)

    def __post_init__(self) -> None:
        if self.data.format not in SEGMENTATION_FORMATS:
            raise ConfigError(f"data.format must be one of {SEGMENTATION_FORMATS.names()}, got {self.data.format!r}")
        if self.model.num_classes == 0:  # the number of classes comes from the data
            self.model = replace(self.model, num_classes=len(self.data.class_names))
        if len(self.data.class_names) != self.model.num_classes:
            raise ConfigError(
                f"data.class_names has {len(self.data.class_names)} names but model.num_classes is "
                f"{self.model.num_classes}; they must match (or leave model.num_classes at 0)"
            )
