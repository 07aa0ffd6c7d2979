"""The typed detection recipe: ``model``, ``data`` and ``train`` sections (YAML + ``--opts`` overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ghost_backbones.engine import TrainConfig

from .models.faster_rcnn import FRCNN_DEFAULTS

__all__ = ["DataConfig", "DetectionConfig", "ModelConfig"]


@dataclass
class ModelConfig:
    """Faster R-CNN GhostNet-FPN options (see :func:`detection.models.faster_rcnn.fasterrcnn_ghostnet_fpn`).

    Args:
        name: timm backbone (``ghostnet``, ``ghostnetv2``, ``ghostnetv3`` or any ``features_only`` model).
        width: GhostNet width multiplier.
        out_indices: backbone levels fed to the FPN (GhostNet strides 2, 4, 8, 16, 32 for 0..4).
        fpn_channels: FPN width.
        extra_blocks: ``pool``, ``p6p7`` or ``none``.
        fpn_norm: ``none``, ``batchnorm`` or ``groupnorm`` in the FPN.
        norm_layer: backbone norm (``""``: frozen BN when pretrained, trainable BN otherwise; or a timm name such as
            ``frozenbn``, ``batchnorm``, ``groupnorm``).
        frozen_stages: frozen backbone levels (``null``: timm's default, nothing frozen).
        pretrained: ImageNet weights for the backbone (needs the weights in timm's cache or a file).
        num_classes: classes including the background; ``0`` takes them from the training annotation file.
        anchor_sizes: one tuple of sizes per FPN map, or ``null`` to derive ``anchor_scales * stride``.
        anchor_scales: anchor sides in units of each map's stride.
        aspect_ratios: anchor height / width ratios.
        box_head_convs: 3x3 conv channels of the box head.
        box_head_fcs: fully connected widths of the box head.
        box_head_norm: ``none``, ``batchnorm`` or ``groupnorm`` after the box head convolutions.
        min_size: shorter image side in evaluation (and in training unless ``data.train_min_sizes`` is set).
        max_size: longer side limit.
        rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test: RPN
            proposals kept per level before NMS / per image after NMS.
        rpn_batch_size_per_image: anchors sampled per image for the RPN loss.
        box_batch_size_per_image: RoIs sampled per image for the box head loss.
        box_score_thresh: minimum score of a returned detection.
        box_detections_per_img: most detections returned per image.
        timm_kwargs: extra ``timm.create_model`` arguments (``drop_path_rate``, ``output_stride`` ...).
    """

    name: str = "ghostnet"
    width: float = 1.0
    out_indices: list[int] = field(default_factory=lambda: [2, 3, 4])
    fpn_channels: int = 128
    extra_blocks: str = "pool"
    fpn_norm: str = "none"
    norm_layer: str = ""
    frozen_stages: int | None = None
    pretrained: bool = False
    num_classes: int = 0
    anchor_sizes: list[list[int]] | None = None
    anchor_scales: list[float] = field(default_factory=lambda: [4.0, 8.0])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    box_head_convs: list[int] = field(default_factory=list)
    box_head_fcs: list[int] = field(default_factory=lambda: [1024, 1024])
    box_head_norm: str = "none"
    min_size: int = 800
    max_size: int = 1333
    rpn_pre_nms_top_n_train: int = FRCNN_DEFAULTS["rpn_pre_nms_top_n_train"]
    rpn_post_nms_top_n_train: int = FRCNN_DEFAULTS["rpn_post_nms_top_n_train"]
    rpn_pre_nms_top_n_test: int = FRCNN_DEFAULTS["rpn_pre_nms_top_n_test"]
    rpn_post_nms_top_n_test: int = FRCNN_DEFAULTS["rpn_post_nms_top_n_test"]
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = FRCNN_DEFAULTS["box_batch_size_per_image"]
    box_score_thresh: float = 0.05
    box_detections_per_img: int = 100
    timm_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Where the COCO-format data lives and how it is loaded.

    Args:
        root: dataset root (``--data-path``); the relative paths below are under it.
        train_images, val_images: image folders of each split.
        train_annotations, val_annotations: COCO instances files of each split.
        categories: ``[{"id", "name"}, ...]`` in label order; empty: read from the training annotation file
            (filled in and saved with every checkpoint so prediction needs no dataset).
        skip_bad_images: warn about unreadable images (with a count) and skip them instead of stopping.
        train_min_sizes: shorter sides drawn at random per training image (multi-scale training); empty: the
            model's ``min_size``.
        hflip_prob: horizontal flip probability in training.
        aspect_ratio_grouping: batch landscape and portrait images separately (less padding).
        val_batch_size: evaluation images per process and batch.
    """

    root: str = "data/coco"
    train_images: str = "train2017"
    train_annotations: str = "annotations/instances_train2017.json"
    val_images: str = "val2017"
    val_annotations: str = "annotations/instances_val2017.json"
    categories: list[dict[str, Any]] = field(default_factory=list)
    skip_bad_images: bool = False
    train_min_sizes: list[int] = field(default_factory=list)
    hflip_prob: float = 0.5
    aspect_ratio_grouping: bool = True
    val_batch_size: int = 1


@dataclass
class DetectionConfig:
    """The whole detection recipe (``configs/faster_rcnn_ghostnet_fpn_coco.yaml`` mirrors it)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
