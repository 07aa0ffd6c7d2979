"""The detection recipe's sections: the ``model`` keys every detector reads, the option groups several
architectures share (backbone, FPN, anchors), and the ``data`` section.

Each architecture's options dataclass (beside its builder in ``detection/models/``) combines these groups with its
own keys; :class:`detection.config.DetectionConfig` picks it by ``model.arch``.

Examples::

    >>> DataConfig(format="coco").augmentation
    'hflip'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ghost_backbones.engine import BackboneConfig, CheckedSection, ConfigError, check_choices

__all__ = [
    "AnchorOptions",
    "AnchorRule",
    "Augmentation",
    "BackboneOptions",
    "DataConfig",
    "DataFormat",
    "ExtraBlocks",
    "FPNOptions",
    "ModelConfig",
    "Norm",
]

Norm = Literal["none", "batchnorm", "groupnorm"]
ExtraBlocks = Literal["pool", "p6p7", "none"]
DataFormat = str  # a name of detection.data.formats.DATA_FORMATS: coco, voc, yolo
Augmentation = Literal["hflip", "ssd", "ssdlite"]  # torchvision references' policies (detection/data/transforms.py)
VOC_YEARS = ("2007", "2008", "2009", "2010", "2011", "2012")


@dataclass
class ModelConfig(CheckedSection):
    """The ``model`` keys every detector of the registry reads; each architecture's options dataclass adds its own.

    The single source of the detectors' defaults: the builders read these fields and declare none of their own.
    The recipe's ``model`` section is the dataclass registered for ``arch`` (``MODELS.options(arch)``): a key that
    architecture does not read is an error naming it and its keys.

    Args:
        arch: registered architecture (``faster_rcnn``, ``retinanet``, ``fcos``, ``ssdlite``, ``mask_rcnn``, or a
            torchvision MobileNetV3 counterpart such as ``fasterrcnn_mobilenet_v3_large_fpn``, which keeps
            torchvision's own settings for everything but these keys).
        num_classes: classes including the background; ``0`` takes them from the training annotation file.
        min_size: shorter image side in evaluation (and in training unless ``data.train_min_sizes`` is set); SSD's
            fixed square side.
        max_size: longer side limit.
        box_score_thresh: minimum score of a returned detection.
        box_detections_per_img: most detections returned per image.
    """

    arch: str = "faster_rcnn"
    num_classes: int = 0
    min_size: int = 800
    max_size: int = 1333
    box_score_thresh: float = 0.05
    box_detections_per_img: int = 100

    def _check(self) -> None:
        if self.num_classes < 0 or self.num_classes == 1:
            raise ConfigError(
                f"model.num_classes counts the background too: 0 (from the data) or >= 2, got {self.num_classes}"
            )
        if not 0 < self.min_size <= self.max_size:
            raise ConfigError(
                f"model.min_size and model.max_size need 0 < min_size <= max_size, got {self.min_size}, {self.max_size}"
            )


@dataclass
class BackboneOptions:
    """The timm backbone of our detectors (the torchvision counterparts bring their own MobileNetV3).

    Args:
        backbone: the timm backbone (name, width, pretrained, frozen_stages, norm_layer, timm_kwargs).
        out_indices: backbone levels the detector reads (GhostNet strides 2, 4, 8, 16, 32 for 0..4).
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    out_indices: list[int] = field(default_factory=lambda: [2, 3, 4])

    def _check(self) -> None:
        if not self.out_indices:
            raise ConfigError(f"model.out_indices must name levels, got {self.out_indices}")


@dataclass
class FPNOptions:
    """The feature pyramid of the FPN detectors (:func:`detection.fpn.build_fpn_backbone`).

    Args:
        fpn_channels: FPN width.
        extra_blocks: coarser maps after the FPN: ``pool`` (one max-pooled map), ``p6p7`` or ``none``.
        fpn_norm: norm after the FPN convolutions.
    """

    fpn_channels: int = 128
    extra_blocks: ExtraBlocks = "pool"
    fpn_norm: Norm = "none"

    def _check(self) -> None:
        if self.fpn_channels < 1:
            raise ConfigError(f"model.fpn_channels must be >= 1, got {self.fpn_channels}")


@dataclass
class AnchorRule:
    """Anchor sides in units of each map's stride (:func:`detection.models.anchor_generator_for`).

    Args:
        anchor_scales: anchor sides in units of each map's stride.
        aspect_ratios: anchor height / width ratios.
    """

    anchor_scales: list[float] = field(default_factory=lambda: [4.0, 8.0])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])


@dataclass
class AnchorOptions(AnchorRule):
    """The anchors of our FPN detectors: the `AnchorRule`, or explicit sizes.

    Args:
        anchor_sizes: one list of sizes per FPN map, or ``null`` to derive ``anchor_scales * stride``.
    """

    anchor_sizes: list[list[int]] | None = None


@dataclass
class DataConfig:
    """Where the detection data lives (COCO-format, PASCAL VOC or YOLO txt labels) and how it is loaded.

    Args:
        format: a registered data format (:data:`detection.data.formats.DATA_FORMATS`, checked when the recipe is
            loaded): ``coco`` (a COCO instances file per split), ``voc`` (a ``VOCdevkit`` tree with XML annotations)
            or ``yolo`` (ultralytics' layout: ``data.yaml``, ``images/{train,val}/``, ``labels/{train,val}/*.txt``;
            see :mod:`detection.data.yolo`).
        root: dataset root (``--data-path``); the relative paths below are under it. For ``voc`` it holds
            ``VOCdevkit/``; for ``yolo`` it is the folder holding ``data.yaml`` or the ``.yaml`` file itself, which
            names the split folders and the classes (no other key of this section locates ``yolo`` data).
        train_images, val_images: image folders of each split (``coco``).
        train_annotations, val_annotations: COCO instances files of each split (``coco``).
        voc_years: VOC years read for training (``VOCdevkit/VOC<year>``); ``["2007", "2012"]`` is "07+12".
        voc_val_years: VOC years read for evaluation (VOC2012's test annotations are not public: ``["2007"]``).
        train_split, val_split: ``ImageSets/Main/<split>.txt`` of each split (``voc``), e.g. ``trainval`` / ``test``.
        class_names: the VOC class names in label order (labels 1..N); empty: the 20 PASCAL VOC classes.
        categories: ``[{"id", "name"}, ...]`` in label order; empty: read from the training annotation file
            (``voc``: ids 1..N for ``class_names``; ``yolo``: ids 1..N for ``data.yaml``'s names, class id ``k`` is
            category ``k + 1``); filled in and saved with every checkpoint so prediction needs
            no dataset.
        skip_bad_images: warn about unreadable images (with a count) and skip them instead of stopping; ``yolo``:
            also leave out an image whose label file has a bad line (wrong field count, class id out of range,
            coordinate outside 0..1), which is otherwise an error naming ``file:line``.
        train_min_sizes: shorter sides drawn at random per training image (multi-scale training); empty: the
            model's ``min_size``.
        hflip_prob: horizontal flip probability in training.
        augmentation: the training augmentation policy, as torchvision's references name it: ``hflip`` (the flip
            only), ``ssdlite`` (SSD's random IoU crop, then the flip: ``ssdlite320_mobilenet_v3_large``'s recipe) or
            ``ssd`` (photometric distortion, zoom out, IoU crop, flip: ``ssd300_vgg16``'s). The crop and zoom out
            work on the image as read, before the ``train_min_sizes`` resize.
        aspect_ratio_grouping: batch landscape and portrait images separately (less padding).
        val_batch_size: evaluation images per process and batch.
    """

    format: DataFormat = "coco"
    root: str = "data/coco"
    train_images: str = "train2017"
    train_annotations: str = "annotations/instances_train2017.json"
    val_images: str = "val2017"
    val_annotations: str = "annotations/instances_val2017.json"
    voc_years: list[str] = field(default_factory=lambda: ["2007", "2012"])
    voc_val_years: list[str] = field(default_factory=lambda: ["2007"])
    train_split: str = "trainval"
    val_split: str = "test"
    class_names: list[str] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    skip_bad_images: bool = False
    train_min_sizes: list[int] = field(default_factory=list)
    hflip_prob: float = 0.5
    augmentation: Augmentation = "hflip"
    aspect_ratio_grouping: bool = True
    val_batch_size: int = 1

    def __post_init__(self) -> None:
        check_choices(self, "data")
        for key in ("voc_years", "voc_val_years"):
            years = [str(year) for year in getattr(self, key)]  # YAML reads 2007 as a number
            setattr(self, key, years)
            if self.format == "voc" and (not years or any(year not in VOC_YEARS for year in years)):
                raise ConfigError(f"data.{key} must list years among {list(VOC_YEARS)}, got {years}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError(f"data.class_names must not repeat a name, got {self.class_names}")
