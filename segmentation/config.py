"""Typed configuration of the segmentation task: sections ``model``, ``data``, ``train``.

The YAML recipes in ``configs/*_voc.yaml`` mirror these dataclasses; every key is optional and an unknown key is
an error listing the valid ones (see `ghost_backbones.engine.load_config`).

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ghost_backbones.engine import BackboneConfig, ConfigError, TrainConfig, check_choices

from .data.formats import SEGMENTATION_FORMATS
from .data.voc import VOC_CLASSES

__all__ = ["ModelConfig", "DataConfig", "SegmentationTrainConfig", "SegmentationConfig"]


@dataclass
class ModelConfig:
    """The network: architecture (a name of :data:`segmentation.models.MODELS`), backbone and head options.

    The single source of the segmentation models' defaults: the builders read these fields and declare none.

    Args:
        arch: ``deeplabv3``, ``deeplabv3plus``, ``fcn``, ``lraspp``, or a torchvision baseline
            (``deeplabv3_mobilenet_v3_large``, ``lraspp_mobilenet_v3_large``: randomly initialised, torchvision's
            own settings, reading only ``num_classes`` and ``aux_loss``).
        backbone: the timm backbone (name, width, pretrained, frozen_stages, norm_layer, timm_kwargs).
        output_stride: 16 or 8 (dilated last stages).
        num_classes: classes including background; ``0`` takes ``len(data.class_names)``.
        aux_loss: auxiliary ``FCNHead`` on the stride-8 features (not for ``lraspp``).
        aux_weight: weight of the auxiliary cross-entropy.
        head_channels: ASPP / decoder width (DeepLab; torchvision uses 256, see docs/benchmarks.md),
            ``inter_channels`` (LR-ASPP); unused by FCN.
        atrous_rates: ASPP rates; empty picks (6, 12, 18) at stride 16, (12, 24, 36) at stride 8.
        low_proj_channels: DeepLabV3+'s stride-4 projection width (48 in the paper).
        head_norm: the norm of the head's layers (and the auxiliary head's): ``batchnorm`` (torchvision's) or
            ``groupnorm`` (:func:`~ghost_backbones.models.norm.group_norm`: up to 32 groups, no batch statistics;
            measured from scratch at batch 8 in docs/benchmarks.md, issue 14). The backbone's norm is
            ``backbone.norm_layer``.
    """

    arch: str = "deeplabv3"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    output_stride: Literal[8, 16] = 16
    num_classes: int = 0
    aux_loss: bool = False
    aux_weight: float = 0.5
    head_channels: int = 128
    atrous_rates: list[int] = field(default_factory=list)
    low_proj_channels: int = 48
    head_norm: Literal["batchnorm", "groupnorm"] = "batchnorm"

    def __post_init__(self) -> None:
        from .models import MODELS  # the registry imports the builders, which import this module

        check_choices(self, "model")
        if self.arch not in MODELS:
            raise ConfigError(f"model.arch must be one of {MODELS.names()}, got {self.arch!r}")
        if self.aux_weight < 0 or self.num_classes < 0:
            raise ConfigError(
                f"model.aux_weight and model.num_classes must be >= 0: {self.aux_weight}, {self.num_classes}"
            )
        if self.atrous_rates and (len(self.atrous_rates) != 3 or min(self.atrous_rates) < 1):
            raise ConfigError(f"model.atrous_rates must be three positive dilation rates, got {self.atrous_rates}")


@dataclass
class DataConfig:
    """Where the VOC-layout data is and how it is augmented.

    Args:
        format: a registered data format (:data:`segmentation.data.formats.SEGMENTATION_FORMATS`): ``voc`` (the
            PASCAL VOC segmentation tree, palette PNG masks).
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

    format: str = "voc"
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

    def __post_init__(self) -> None:
        if self.format not in SEGMENTATION_FORMATS:
            raise ConfigError(f"data.format must be one of {SEGMENTATION_FORMATS.names()}, got {self.format!r}")


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
        if self.model.num_classes == 0:  # the number of classes comes from the data
            self.model.num_classes = len(self.data.class_names)
        if len(self.data.class_names) != self.model.num_classes:
            raise ConfigError(
                f"data.class_names has {len(self.data.class_names)} names but model.num_classes is "
                f"{self.model.num_classes}; they must match (or leave model.num_classes at 0)"
            )
