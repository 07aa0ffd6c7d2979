"""The segmentation recipe's sections: the ``model`` keys every model reads, the option groups our heads share
(backbone, auxiliary head), ``data`` and ``train``; :class:`segmentation.config.SegmentationConfig` picks the
``model`` dataclass by ``model.arch``.

Examples::

    >>> SegmentationTrainConfig().lr_scheduler
    'poly'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ghost_backbones.engine import BackboneConfig, CheckedSection, ConfigError, TrainConfig

from .data.voc import VOC_CLASSES

__all__ = ["AuxOptions", "BackboneOptions", "DataConfig", "ModelConfig", "SegmentationTrainConfig"]


@dataclass
class ModelConfig(CheckedSection):
    """The ``model`` keys every segmentation model of the registry reads; each architecture's options dataclass
    adds its own (a key the chosen ``arch`` does not read is an error naming it and its keys).

    The single source of the segmentation models' defaults: the builders read these fields and declare none.

    Args:
        arch: ``deeplabv3``, ``deeplabv3plus``, ``fcn``, ``lraspp``, or a torchvision baseline
            (``deeplabv3_mobilenet_v3_large``, ``lraspp_mobilenet_v3_large``: randomly initialised, torchvision's
            own settings for everything but these keys and, for DeepLabV3, the auxiliary head's).
        num_classes: classes including background; ``0`` takes ``len(data.class_names)``.
    """

    arch: str = "deeplabv3"
    num_classes: int = 0

    def _check(self) -> None:
        if self.num_classes < 0:
            raise ConfigError(f"model.num_classes must be >= 0, got {self.num_classes}")


@dataclass
class BackboneOptions:
    """The dilated timm backbone of our heads and the norm of their layers.

    Args:
        backbone: the timm backbone (name, width, pretrained, frozen_stages, norm_layer, timm_kwargs).
        output_stride: 16 or 8 (dilated last stages).
        head_norm: the norm of the head's layers (and the auxiliary head's): ``batchnorm`` (torchvision's) or
            ``groupnorm`` (:func:`~ghost_backbones.models.norm.group_norm`: up to 32 groups, no batch statistics;
            measured from scratch at batch 8 in docs/benchmarks.md). The backbone's norm is ``backbone.norm_layer``.
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    output_stride: Literal[8, 16] = 16
    head_norm: Literal["batchnorm", "groupnorm"] = "batchnorm"


@dataclass
class AuxOptions:
    """The auxiliary ``FCNHead`` on the stride-8 features (DeepLab, FCN).

    Args:
        aux_loss: add the auxiliary head and its loss.
        aux_weight: weight of the auxiliary cross-entropy.
    """

    aux_loss: bool = False
    aux_weight: float = 0.5

    def _check(self) -> None:
        if self.aux_weight < 0:
            raise ConfigError(f"model.aux_weight must be >= 0, got {self.aux_weight}")


@dataclass
class DataConfig:
    """Where the VOC-layout data is and how it is augmented.

    Args:
        format: a registered data format (:data:`segmentation.data.formats.SEGMENTATION_FORMATS`, checked when the
            recipe is loaded): ``voc`` (the PASCAL VOC segmentation tree, palette PNG masks).
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
