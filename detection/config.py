"""The typed detection recipe: ``model``, ``data`` and ``train`` sections (YAML + ``--opts`` overrides).

The ``model`` section is the options dataclass the chosen architecture registered (``model.arch``,
:data:`detection.models.MODELS`): the shared keys of :class:`~detection.sections.ModelConfig` plus its own. A key
that architecture does not read is an error naming it and its keys.

Examples::

    >>> from ghost_backbones.engine import load_config
    >>> cfg = load_config(DetectionConfig, "configs/faster_rcnn_ghostnet_fpn_coco.yaml", ["model.backbone.width=1.3"])
    >>> cfg.model.arch, cfg.model.backbone.name, cfg.model.backbone.width
    ('faster_rcnn', 'ghostnet', 1.3)
    >>> load_config(DetectionConfig, None, ["model.extra_blocks=p5"])
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: overrides: model.extra_blocks must be one of ['pool', 'p6p7', 'none'], got 'p5'
    >>> load_config(DetectionConfig, None, ["model.arch=ssdlite", "model.fpn_channels=64"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: overrides: ['model.fpn_channels'] not read by model.arch='ssdlite'; its ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ghost_backbones.engine import ConfigError, TrainConfig, config_from_dict, variant_section

from .data.formats import DATA_FORMATS
from .models import MODELS, needs_masks
from .sections import DataConfig, ModelConfig

__all__ = ["DataConfig", "DetectionConfig", "ModelConfig", "model_config"]


def model_config(arch: str, **fields: Any) -> ModelConfig:
    """The ``model`` section of architecture ``arch`` from keyword values (nested ones as dicts), checked.

    Examples::

        >>> cfg = model_config("retinanet", num_classes=3, backbone={"width": 0.5})
        >>> type(cfg).__name__, cfg.head_norm, cfg.backbone.width
        ('RetinaNetConfig', 'groupnorm', 0.5)
    """
    return config_from_dict(MODELS.options(arch), {**fields, "arch": arch}, source=f"model_config({arch!r})")


@dataclass
class DetectionConfig:
    """The whole detection recipe (``configs/faster_rcnn_ghostnet_fpn_coco.yaml`` mirrors it)."""

    model: ModelConfig = variant_section(MODELS.options, "faster_rcnn")
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.data.format not in DATA_FORMATS:
            raise ConfigError(f"data.format must be one of {DATA_FORMATS.names()}, got {self.data.format!r}")
        if needs_masks(self.model.arch) and not DATA_FORMATS.get(self.data.format).masks:
            raise ConfigError(
                f"model.arch={self.model.arch!r} learns instance masks, and data.format={self.data.format!r} has "
                "none (its annotations hold boxes only): use COCO-format data with 'segmentation' "
                "polygons or RLE (data.format=coco), or a box detector such as model.arch=faster_rcnn"
            )
