"""torchvision's RetinaNet on a GhostNet-FPN backbone with P6/P7, anchors derived from the levels (``scale * stride``).

As torchvision's ``retinanet_resnet50_fpn_v2``: the FPN gets the P6/P7 extra levels (``model.extra_blocks: p6p7``
in the recipe), the head is normalised with GroupNorm (``model.head_norm``), which is what lets it train from
scratch, and the box regression uses the GIoU loss. The recipes put it on P4-P7 (``out_indices: [3, 4]``, strides
16..128, anchors from 32 px) as torchvision's MobileNetV3 detectors, not ResNet-50's P3-P7: the 4-convolution head
on the stride-8 map would cost more than the backbone (docs/benchmarks.md, issue 11). Recipe:
``configs/retinanet_ghostnet_fpn_coco.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchvision.models.detection import RetinaNet
from torchvision.models.detection.retinanet import RetinaNetHead

from ghost_backbones.torchvision_registry import register_torchvision_model

from ..fpn import build_fpn_backbone, make_norm
from ..sections import AnchorOptions, BackboneOptions, FPNOptions, ModelConfig, Norm
from .anchors import anchor_generator_for
from .common import detector_kwargs
from .registry import MODELS
from .torchvision_style import build_torchvision_style

__all__ = ["retinanet_ghostnet_fpn", "RetinaNetConfig", "build_retinanet"]


@dataclass
class RetinaNetConfig(AnchorOptions, FPNOptions, BackboneOptions, ModelConfig):
    """``model`` keys of ``retinanet``: the shared ones, backbone, FPN, anchors, plus the head's norm.

    Args:
        head_norm: norm in the head (``groupnorm``: torchvision's RetinaNet v2, which trains from scratch).
    """

    head_norm: Norm = "groupnorm"


@MODELS.register(
    "retinanet",
    options=RetinaNetConfig,
    counterpart="retinanet_mobilenet_v3_large_fpn",
    recipe="retinanet_ghostnet_fpn",
)
def build_retinanet(cfg: RetinaNetConfig, **kwargs: Any) -> RetinaNet:
    """RetinaNet from the ``model`` section; ``num_classes`` counts the background (torchvision's convention).

    Examples::

        >>> import torch
        >>> cfg = RetinaNetConfig(arch="retinanet", num_classes=3, extra_blocks="p6p7", min_size=128, max_size=128,
        ...                   anchor_scales=[4.0, 5.04, 6.35])
        >>> model = build_retinanet(cfg).eval()
        >>> model.anchor_generator.sizes[0], model.backbone.names
        ((32, 40, 51), ['0', '1', '2', 'p6', 'p7'])
    """
    backbone = build_fpn_backbone(cfg)
    anchors = anchor_generator_for(
        backbone, anchor_sizes=cfg.anchor_sizes, anchor_scales=cfg.anchor_scales, aspect_ratios=cfg.aspect_ratios
    )
    head = RetinaNetHead(
        backbone.out_channels,
        anchors.num_anchors_per_location()[0],
        cfg.num_classes,
        norm_layer=make_norm(cfg.head_norm),
    )
    head.regression_head._loss_type = "giou"  # as torchvision's retinanet_resnet50_fpn_v2
    return RetinaNet(
        backbone,
        cfg.num_classes,
        anchor_generator=anchors,
        head=head,
        **{**detector_kwargs(cfg, backbone.body), **kwargs},
    )


@register_torchvision_model("retinanet_ghostnet_fpn")
def retinanet_ghostnet_fpn(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> RetinaNet:
    """RetinaNet GhostNet-FPN (P6/P7, GroupNorm head), torchvision-style
    (``torchvision.models.get_model("retinanet_ghostnet_fpn")``).

    Args: as :func:`~detection.models.faster_rcnn.fasterrcnn_ghostnet_fpn`; ``**kwargs`` are ``model``
    keys (defaults: :class:`RetinaNetConfig`) and ``RetinaNet``'s own arguments
    (``score_thresh``, ``nms_thresh``, ``_skip_resize`` ...).

    Examples::

        >>> model = retinanet_ghostnet_fpn(num_classes=3, extra_blocks="p6p7", backbone={"width": 0.5})
        >>> model.backbone.names, model.score_thresh
        (['0', '1', '2', 'p6', 'p7'], 0.05)
    """
    return build_torchvision_style(
        "retinanet",
        "retinanet_ghostnet_fpn",
        RetinaNet,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
