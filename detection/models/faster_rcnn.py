"""torchvision's Faster R-CNN on a GhostNet-FPN backbone, with anchors and RoI pooling derived from its levels."""

from __future__ import annotations

from typing import Any

from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from ghost_backbones.engine import config_from_dict, pretrained_mean_std

from ..config import ModelConfig
from ..fpn import build_fpn_backbone, make_norm
from .anchors import anchor_generator_for
from .registry import MODELS, build_model

__all__ = ["build_faster_rcnn", "faster_rcnn_kwargs", "fasterrcnn_ghostnet_fpn"]


def faster_rcnn_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """``backbone`` and every other ``FasterRCNN`` argument the ``model`` section decides (``MaskRCNN`` takes them too).

    The anchor generator gets one size tuple per backbone output map and ``MultiScaleRoIAlign`` pools exactly the
    backbone's levels, whatever ``out_indices`` is. The image mean/std come from the backbone's ``pretrained_cfg``.

    Args:
        cfg: the ``model`` section (every default lives there, :class:`detection.config.ModelConfig`).

    Examples::

        >>> kwargs = faster_rcnn_kwargs(ModelConfig(num_classes=3, out_indices=[3, 4]))
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


@MODELS.register("faster_rcnn")
def build_faster_rcnn(cfg: ModelConfig, **kwargs: Any) -> FasterRCNN:
    """torchvision's ``FasterRCNN`` on the configured timm backbone + FPN (see :func:`faster_rcnn_kwargs`).

    Args:
        cfg: the ``model`` section (every default lives there, :class:`detection.config.ModelConfig`).
        **kwargs: more ``FasterRCNN`` arguments (the task passes ``_skip_resize``).
    """
    return FasterRCNN(**faster_rcnn_kwargs(cfg), **kwargs)


def fasterrcnn_ghostnet_fpn(**fields: Any) -> FasterRCNN:
    """Faster R-CNN GhostNet-FPN from ``model`` config fields (defaults: :class:`detection.config.ModelConfig`).

    Args:
        **fields: any ``model`` keys, nested ones as dicts: ``num_classes=91``, ``backbone={"width": 1.3}``,
            ``min_size=512`` ...

    Examples::

        >>> import torch
        >>> model = fasterrcnn_ghostnet_fpn(num_classes=4, backbone={"width": 0.5}, min_size=128, max_size=128)
        >>> out = model.eval()([torch.rand(3, 128, 128)])
        >>> print(sorted(out[0]), model.rpn.anchor_generator.sizes)
        ['boxes', 'labels', 'scores'] ((32, 64), (64, 128), (128, 256), (256, 512))
    """
    return build_model(config_from_dict(ModelConfig, {**fields, "arch": "faster_rcnn"}))
