"""torchvision's Faster R-CNN on a GhostNet-FPN backbone, with anchors and RoI pooling derived from its levels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from ghost_backbones.engine import ConfigError, pretrained_mean_std
from ghost_backbones.torchvision_registry import register_torchvision_model

from ..fpn import build_fpn_backbone, make_norm
from ..sections import AnchorOptions, BackboneOptions, FPNOptions, ModelConfig, Norm
from .anchors import anchor_generator_for
from .registry import MODELS
from .torchvision_style import build_torchvision_style

__all__ = ["FasterRCNNConfig", "build_faster_rcnn", "faster_rcnn_kwargs", "fasterrcnn_ghostnet_fpn"]


@dataclass
class FasterRCNNConfig(AnchorOptions, FPNOptions, BackboneOptions, ModelConfig):
    """``model`` keys of ``faster_rcnn``: the shared ones, backbone, FPN, anchors, plus the RPN and the box head.

    Args:
        rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test: RPN
            proposals kept per level before NMS / per image after NMS. Half of torchvision's (2000 / 2000 / 1000 /
            1000) after NMS: on a CPU the RoI head costs in proportion to them (docs/benchmarks.md).
        rpn_batch_size_per_image: anchors sampled per image for the RPN loss.
        box_batch_size_per_image: RoIs sampled per image for the box head loss (torchvision: 512).
        box_head_convs: 3x3 conv channels of the box head.
        box_head_fcs: fully connected widths of the box head (the predictor reads the last).
        box_head_norm: norm after the box head convolutions.
    """

    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 1000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 500
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 256
    box_head_convs: list[int] = field(default_factory=list)
    box_head_fcs: list[int] = field(default_factory=lambda: [1024, 1024])
    box_head_norm: Norm = "none"

    def _check(self) -> None:
        if not self.box_head_fcs:
            raise ConfigError("model.box_head_fcs needs at least one layer width (the predictor reads the last)")


def faster_rcnn_kwargs(cfg: FasterRCNNConfig) -> dict[str, Any]:
    """``backbone`` and every other ``FasterRCNN`` argument the ``model`` section decides (``MaskRCNN`` takes them too).

    The anchor generator gets one size tuple per backbone output map and ``MultiScaleRoIAlign`` pools exactly the
    backbone's levels, whatever ``out_indices`` is. The image mean/std come from the backbone's ``pretrained_cfg``.

    Args:
        cfg: the ``model`` section (every default lives there, :class:`FasterRCNNConfig`).

    Examples::

        >>> kwargs = faster_rcnn_kwargs(FasterRCNNConfig(num_classes=3, out_indices=[3, 4]))
        >>> kwargs["backbone"].level_names, kwargs["box_roi_pool"].featmap_names
        (['0', '1'], ['0', '1'])
    """
    backbone = build_fpn_backbone(cfg)
    anchor_generator = anchor_generator_for(
        backbone, anchor_sizes=cfg.anchor_sizes, anchor_scales=cfg.anchor_scales, aspect_ratios=cfg.aspect_ratios
    )
    roi_pool = MultiScaleRoIAlign(featmap_names=backbone.level_names, output_size=7, sampling_ratio=2)
    box_head = FastRCNNConvFCHead(
        (backbone.out_channels, 7, 7), cfg.box_head_convs, cfg.box_head_fcs, norm_layer=make_norm(cfg.box_head_norm)
    )
    mean, std = pretrained_mean_std(backbone.body)
    return {
        "backbone": backbone,
        "num_classes": None,
        "min_size": cfg.min_size,
        "max_size": cfg.max_size,
        "image_mean": list(mean),
        "image_std": list(std),
        "rpn_anchor_generator": anchor_generator,
        "rpn_pre_nms_top_n_train": cfg.rpn_pre_nms_top_n_train,
        "rpn_post_nms_top_n_train": cfg.rpn_post_nms_top_n_train,
        "rpn_pre_nms_top_n_test": cfg.rpn_pre_nms_top_n_test,
        "rpn_post_nms_top_n_test": cfg.rpn_post_nms_top_n_test,
        "rpn_batch_size_per_image": cfg.rpn_batch_size_per_image,
        "box_roi_pool": roi_pool,
        "box_head": box_head,
        "box_predictor": FastRCNNPredictor(cfg.box_head_fcs[-1], cfg.num_classes),
        "box_score_thresh": cfg.box_score_thresh,
        "box_detections_per_img": cfg.box_detections_per_img,
        "box_batch_size_per_image": cfg.box_batch_size_per_image,
    }


@MODELS.register(
    "faster_rcnn",
    options=FasterRCNNConfig,
    counterpart="fasterrcnn_mobilenet_v3_large_fpn",
    recipe="faster_rcnn_ghostnet_fpn",
)
def build_faster_rcnn(cfg: FasterRCNNConfig, **kwargs: Any) -> FasterRCNN:
    """torchvision's ``FasterRCNN`` on the configured timm backbone + FPN (see :func:`faster_rcnn_kwargs`).

    Args:
        cfg: the ``model`` section (every default lives there, :class:`FasterRCNNConfig`).
        **kwargs: more ``FasterRCNN`` arguments (the task passes ``_skip_resize``).
    """
    return FasterRCNN(**{**faster_rcnn_kwargs(cfg), **kwargs})


@register_torchvision_model("fasterrcnn_ghostnet_fpn")
def fasterrcnn_ghostnet_fpn(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> FasterRCNN:
    """Faster R-CNN GhostNet-FPN, torchvision-style (``torchvision.models.get_model("fasterrcnn_ghostnet_fpn")``).

    Args:
        weights: ``None`` (no trained detector weights are published).
        progress: unused (torchvision's argument).
        num_classes: classes including the background (default 91, COCO's).
        weights_backbone: ``None`` or ImageNet (``"DEFAULT"``, ``"IMAGENET1K_V1"``): ``backbone.pretrained``.
        trainable_backbone_layers: with a pretrained backbone, how many of its 6 layers (stem, 5 levels) train, from
            the end (default 3): ``backbone.frozen_stages``.
        **kwargs: ``model`` keys (defaults: :class:`FasterRCNNConfig`; nested ones as dicts:
            ``backbone={"width": 1.3}``) and ``FasterRCNN``'s own arguments (``rpn_score_thresh``,
            ``_skip_resize`` ...).

    Examples::

        >>> import torch
        >>> model = fasterrcnn_ghostnet_fpn(num_classes=4, backbone={"width": 0.5}, min_size=128, max_size=128,
        ...                                 rpn_score_thresh=0.05)
        >>> out = model.eval()([torch.rand(3, 128, 128)])
        >>> print(sorted(out[0]), model.rpn.anchor_generator.sizes, model.rpn.score_thresh)
        ['boxes', 'labels', 'scores'] ((32, 64), (64, 128), (128, 256), (256, 512)) 0.05
    """
    return build_torchvision_style(
        "faster_rcnn",
        "fasterrcnn_ghostnet_fpn",
        FasterRCNN,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
