"""Typed configuration of the segmentation task (sections ``model``, ``data``, ``train``) and the model it builds.

The YAML recipes in ``configs/*_voc.yaml`` mirror these dataclasses; every key is optional and an unknown key is
an error listing the valid ones (see `ghost_backbones.engine.load_config`).

Examples::

    >>> import torch
    >>> from ghost_backbones.engine import load_config
    >>> cfg = load_config(SegmentationConfig, "configs/deeplabv3_ghostnet_voc.yaml",
    ...                   ["model.output_stride=8", "model.pretrained_backbone=false"])
    >>> cfg.model.name, cfg.model.output_stride, cfg.train.lr_scheduler
    ('deeplabv3', 8, 'poly')
    >>> build_model(cfg.model)(torch.rand(1, 3, 64, 64))["out"].shape
    torch.Size([1, 21, 64, 64])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ghost_backbones.engine import ConfigError, TrainConfig

from .data.voc import VOC_CLASSES
from .models import DEFAULT_HEAD_CHANNELS, MODELS, create_model

__all__ = ["ModelConfig", "DataConfig", "SegmentationTrainConfig", "SegmentationConfig", "build_model", "model_kwargs"]


@dataclass
class ModelConfig:
    """Which network to build.

    Args:
        name: ``deeplabv3``, ``deeplabv3plus``, ``fcn``, ``lraspp``, or a torchvision baseline
            (``deeplabv3_mobilenet_v3_large``, ``lraspp_mobilenet_v3_large``; randomly initialised).
        backbone: ``ghostnet``, ``ghostnetv2`` or ``ghostnetv3``.
        width: backbone width multiplier.
        output_stride: 16 or 8 (dilated last stages).
        num_classes: classes including background; must equal ``len(data.class_names)``.
        aux_loss: auxiliary ``FCNHead`` on the stride-8 features (not for ``lraspp``).
        aux_weight: weight of the auxiliary cross-entropy.
        pretrained_backbone: start the backbone from ImageNet weights.
        head_channels: ASPP / decoder width (DeepLab), ``inter_channels`` (LR-ASPP); unused by FCN.
        atrous_rates: ASPP rates; empty picks them from ``output_stride``.
    """

    name: str = "deeplabv3"
    backbone: str = "ghostnet"
    width: float = 1.0
    output_stride: int = 16
    num_classes: int = len(VOC_CLASSES)
    aux_loss: bool = False
    aux_weight: float = 0.5
    pretrained_backbone: bool = False
    head_channels: int = DEFAULT_HEAD_CHANNELS
    atrous_rates: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.name not in MODELS:
            raise ConfigError(f"model.name must be one of {sorted(MODELS)}, got {self.name!r}")
        if self.aux_loss and "lraspp" in self.name:
            raise ConfigError(f"model.name={self.name!r} has no auxiliary head; set model.aux_loss=false")
        if self.aux_weight < 0:
            raise ConfigError(f"model.aux_weight must be >= 0, got {self.aux_weight}")


@dataclass
class DataConfig:
    """Where the VOC-layout data is and how it is augmented.

    Args:
        root: folder holding ``VOCdevkit/VOC2012`` (or the ``VOC2012`` folder itself).
        train_split: list under ``ImageSets/Segmentation`` (``train``, or ``train_aug`` for the augmented set).
        val_split: evaluation list (VOC2012 ``val``).
        train_mask_dir: mask folder of the training list (``SegmentationClassAug`` for the augmented set).
        class_names: one name per class, index 0 first (background).
        crop_size: square training crop.
        base_size: reference shorter side: training scales around it, evaluation resizes images to it.
        scale_range: random scale range of the training resize, relative to ``base_size``.
        hflip_prob: horizontal flip probability.
        skip_bad_images: warn and skip unreadable images instead of failing.
    """

    root: str = "data/voc"
    train_split: str = "train"
    val_split: str = "val"
    train_mask_dir: str = "SegmentationClass"
    class_names: list[str] = field(default_factory=lambda: list(VOC_CLASSES))
    crop_size: int = 480
    base_size: int = 520
    scale_range: list[float] = field(default_factory=lambda: [0.5, 2.0])
    hflip_prob: float = 0.5
    skip_bad_images: bool = False


@dataclass
class SegmentationTrainConfig(TrainConfig):
    """`TrainConfig` with torchvision's segmentation recipe as defaults (poly schedule, 30 epochs)."""

    output_dir: str = "runs/segmentation"
    epochs: int = 30
    batch_size: int = 4
    lr: float = 0.02
    weight_decay: float = 1e-4
    lr_scheduler: str = "poly"
    lr_steps: list[int] = field(default_factory=list)
    warmup_iters: int = 200


@dataclass
class SegmentationConfig:
    """The whole segmentation recipe."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: SegmentationTrainConfig = field(default_factory=SegmentationTrainConfig)

    def __post_init__(self) -> None:
        if len(self.data.class_names) != self.model.num_classes:
            raise ConfigError(
                f"data.class_names has {len(self.data.class_names)} names but model.num_classes is "
                f"{self.model.num_classes}; they must match"
            )


def model_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """The keyword arguments of ``create_model(cfg.name, ...)`` that this model family accepts."""
    if cfg.name.endswith("_mobilenet_v3_large"):
        return {"num_classes": cfg.num_classes, **({"aux_loss": True} if cfg.aux_loss else {})}
    kwargs: dict[str, Any] = {
        "num_classes": cfg.num_classes,
        "width": cfg.width,
        "output_stride": cfg.output_stride,
        "pretrained_backbone": cfg.pretrained_backbone,
        "backbone": cfg.backbone,
    }
    if cfg.name == "lraspp":
        return {**kwargs, "inter_channels": cfg.head_channels}
    kwargs["aux_loss"] = cfg.aux_loss
    if cfg.name in ("deeplabv3", "deeplabv3plus"):
        kwargs.update(head_channels=cfg.head_channels, atrous_rates=cfg.atrous_rates or None)
    return kwargs


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model a `ModelConfig` describes (see `segmentation.models.create_model`).

    Examples::

        >>> type(build_model(ModelConfig(name="lraspp", width=0.5))).__name__
        'LRASPP'
    """
    return create_model(cfg.name, **model_kwargs(cfg))
