"""The typed detection recipe: ``model``, ``data`` and ``train`` sections (YAML + ``--opts`` overrides).

Examples::

    >>> from ghost_backbones.engine import load_config
    >>> cfg = load_config(DetectionConfig, "configs/faster_rcnn_ghostnet_fpn_coco.yaml", ["model.backbone.width=1.3"])
    >>> cfg.model.arch, cfg.model.backbone.name, cfg.model.backbone.width
    ('faster_rcnn', 'ghostnet', 1.3)
    >>> load_config(DetectionConfig, None, ["model.extra_blocks=p5"])
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: overrides: model.extra_blocks must be one of ['pool', 'p6p7', 'none'], got 'p5'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ghost_backbones.engine import BackboneConfig, ConfigError, TrainConfig, check_choices

__all__ = ["Augmentation", "DataConfig", "DataFormat", "DetectionConfig", "ExtraBlocks", "ModelConfig", "Norm"]

Norm = Literal["none", "batchnorm", "groupnorm"]
ExtraBlocks = Literal["pool", "p6p7", "none"]
DataFormat = str  # a name of detection.data.formats.DATA_FORMATS: coco, voc, yolo
Augmentation = Literal["hflip", "ssd", "ssdlite"]  # torchvision references' policies (detection/data/transforms.py)
VOC_YEARS = ("2007", "2008", "2009", "2010", "2011", "2012")


@dataclass
class ModelConfig:
    """The detector: architecture (a name of :data:`detection.models.MODELS`), backbone, FPN, anchors, heads.

    The single source of the detector's defaults: the builders read these fields and declare none of their own.

    Args:
        arch: registered architecture (``faster_rcnn``; torchvision's ``fasterrcnn_mobilenet_v3_large_fpn`` as a
            baseline, which keeps torchvision's own settings and reads only ``num_classes``, ``min_size`` and
            ``max_size``).
        backbone: the timm backbone (name, width, pretrained, frozen_stages, norm_layer, timm_kwargs).
        out_indices: backbone levels fed to the FPN (GhostNet strides 2, 4, 8, 16, 32 for 0..4).
        fpn_channels: FPN width.
        extra_blocks: coarser maps after the FPN: ``pool`` (one max-pooled map), ``p6p7`` or ``none``.
        fpn_norm: norm after the FPN convolutions.
        num_classes: classes including the background; ``0`` takes them from the training annotation file.
        anchor_sizes: one list of sizes per FPN map, or ``null`` to derive ``anchor_scales * stride``.
        anchor_scales: anchor sides in units of each map's stride.
        aspect_ratios: anchor height / width ratios.
        box_head_convs: 3x3 conv channels of the box head.
        box_head_fcs: fully connected widths of the box head (the predictor reads the last).
        box_head_norm: norm after the box head convolutions.
        mask_head_layers: 3x3 conv channels of Mask R-CNN's mask head (``mask_rcnn``; the predictor reads the last).
            torchvision's is 4 x 256; ours is as wide as the default FPN.
        mask_head_norm: norm after the mask head convolutions (torchvision's Mask R-CNN v2: ``batchnorm``).
        min_size: shorter image side in evaluation (and in training unless ``data.train_min_sizes`` is set).
        max_size: longer side limit.
        rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test: RPN
            proposals kept per level before NMS / per image after NMS. Half of torchvision's (2000 / 2000 / 1000 /
            1000) after NMS: on a CPU the RoI head costs in proportion to them (docs/benchmarks.md).
        rpn_batch_size_per_image: anchors sampled per image for the RPN loss.
        box_batch_size_per_image: RoIs sampled per image for the box head loss (torchvision: 512).
        box_score_thresh: minimum score of a returned detection.
        box_detections_per_img: most detections returned per image.
        head_norm: norm in RetinaNet's head (``groupnorm``: torchvision's RetinaNet v2, which trains from scratch).
        ssd_extra_channels: widths of SSDLite's extra stride-2 blocks after the backbone (torchvision's 512, 256,
            256, 128); their number + 2 backbone maps = the SSD levels.
        ssd_min_ratio, ssd_max_ratio: smallest and largest default-box scale, as fractions of the image side.
    """

    arch: str = "faster_rcnn"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    out_indices: list[int] = field(default_factory=lambda: [2, 3, 4])
    fpn_channels: int = 128
    extra_blocks: ExtraBlocks = "pool"
    fpn_norm: Norm = "none"
    num_classes: int = 0
    anchor_sizes: list[list[int]] | None = None
    anchor_scales: list[float] = field(default_factory=lambda: [4.0, 8.0])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    box_head_convs: list[int] = field(default_factory=list)
    box_head_fcs: list[int] = field(default_factory=lambda: [1024, 1024])
    box_head_norm: Norm = "none"
    mask_head_layers: list[int] = field(default_factory=lambda: [128, 128, 128, 128])
    mask_head_norm: Norm = "none"
    min_size: int = 800
    max_size: int = 1333
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 1000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 500
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 256
    box_score_thresh: float = 0.05
    box_detections_per_img: int = 100
    head_norm: Norm = "groupnorm"
    ssd_extra_channels: list[int] = field(default_factory=lambda: [512, 256, 256, 128])
    ssd_min_ratio: float = 0.2
    ssd_max_ratio: float = 0.95

    def __post_init__(self) -> None:
        from .models import MODELS  # the registry imports the builders, which import this module

        check_choices(self, "model")
        if self.arch not in MODELS:
            raise ConfigError(f"model.arch must be one of {MODELS.names()}, got {self.arch!r}")
        if self.num_classes < 0 or self.num_classes == 1:
            raise ConfigError(
                f"model.num_classes counts the background too: 0 (from the data) or >= 2, got {self.num_classes}"
            )
        if not 0 < self.min_size <= self.max_size:
            raise ConfigError(
                f"model.min_size and model.max_size need 0 < min_size <= max_size, got {self.min_size}, {self.max_size}"
            )
        if not self.box_head_fcs:
            raise ConfigError("model.box_head_fcs needs at least one layer width (the predictor reads the last)")
        if not self.mask_head_layers or min(self.mask_head_layers) < 1:
            raise ConfigError(
                f"model.mask_head_layers needs at least one channel count >= 1 (the predictor reads the last), got "
                f"{self.mask_head_layers}"
            )
        if not self.out_indices or self.fpn_channels < 1:
            raise ConfigError(
                f"model.out_indices must name levels and model.fpn_channels be >= 1, got "
                f"{self.out_indices}, {self.fpn_channels}"
            )


@dataclass
class DataConfig:
    """Where the detection data lives (COCO-format, PASCAL VOC or YOLO txt labels) and how it is loaded.

    Args:
        format: a registered data format (:data:`detection.data.formats.DATA_FORMATS`): ``coco`` (a COCO instances
            file per split), ``voc`` (a ``VOCdevkit`` tree with XML annotations) or ``yolo`` (ultralytics' layout:
            ``data.yaml``, ``images/{train,val}/``, ``labels/{train,val}/*.txt``; see :mod:`detection.data.yolo`).
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
        from .data.formats import DATA_FORMATS  # a registry of readers; none imports this module

        check_choices(self, "data")
        if self.format not in DATA_FORMATS:
            raise ConfigError(f"data.format must be one of {DATA_FORMATS.names()}, got {self.format!r}")
        for key in ("voc_years", "voc_val_years"):
            years = [str(year) for year in getattr(self, key)]  # YAML reads 2007 as a number
            setattr(self, key, years)
            if self.format == "voc" and (not years or any(year not in VOC_YEARS for year in years)):
                raise ConfigError(f"data.{key} must list years among {list(VOC_YEARS)}, got {years}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError(f"data.class_names must not repeat a name, got {self.class_names}")


@dataclass
class DetectionConfig:
    """The whole detection recipe (``configs/faster_rcnn_ghostnet_fpn_coco.yaml`` mirrors it)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        from .data.formats import DATA_FORMATS
        from .models import needs_masks

        if needs_masks(self.model.arch) and not DATA_FORMATS.get(self.data.format).masks:
            raise ConfigError(
                f"model.arch={self.model.arch!r} learns instance masks, and data.format={self.data.format!r} has "
                "none (its annotations hold boxes only): use COCO-format data with 'segmentation' "
                "polygons or RLE (data.format=coco), or a box detector such as model.arch=faster_rcnn"
            )
