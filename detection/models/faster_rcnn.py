"""torchvision's Faster R-CNN on a GhostNet-FPN backbone, with anchors and RoI pooling derived from its levels."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from ..fpn import TimmFPNBackbone, ghostnet_fpn_backbone, make_norm

__all__ = ["FRCNN_DEFAULTS", "fasterrcnn_ghostnet_fpn", "anchor_generator_for"]

# Where our defaults differ from torchvision's FasterRCNN (2000 / 2000 / 1000 / 1000 / 512): on a CPU the RoI
# align backward and the box head's first linear layer cost in proportion to the sampled RoIs (training) and the
# proposals (inference), so both are halved; see docs/benchmarks.md.
FRCNN_DEFAULTS = {
    "rpn_pre_nms_top_n_train": 2000,
    "rpn_post_nms_top_n_train": 1000,
    "rpn_pre_nms_top_n_test": 1000,
    "rpn_post_nms_top_n_test": 500,
    "box_batch_size_per_image": 256,
}


def anchor_generator_for(
    backbone: TimmFPNBackbone,
    *,
    anchor_sizes: Sequence[Sequence[float]] | None = None,
    anchor_scales: Sequence[float] = (4.0, 8.0),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
) -> AnchorGenerator:
    """An ``AnchorGenerator`` with exactly one size tuple per output map of ``backbone``.

    Args:
        backbone: the detection backbone (its ``names`` and ``strides`` decide the levels).
        anchor_sizes: explicit sizes, one tuple per output map (``len(backbone.names)`` of them, each the same
            length); ``None`` derives them as ``scale * stride`` for each of ``anchor_scales``.
        anchor_scales: anchor sides in units of each map's stride, used when ``anchor_sizes`` is ``None``.
        aspect_ratios: height / width ratios, the same at every level.

    Examples::

        >>> backbone = ghostnet_fpn_backbone(width=0.5, out_indices=(3, 4), fpn_channels=32)
        >>> anchor_generator_for(backbone).sizes
        ((64, 128), (128, 256), (256, 512))
    """
    if anchor_sizes is None:
        if not anchor_scales:
            raise ValueError("anchor_scales must hold at least one scale when anchor_sizes is not given")
        anchor_sizes = [[int(round(scale * stride)) for scale in anchor_scales] for stride in backbone.strides]
    if len(anchor_sizes) != len(backbone.names):
        raise ValueError(
            f"anchor_sizes needs one tuple per feature map: the backbone gives {len(backbone.names)} maps "
            f"{backbone.names} (strides {backbone.strides}), got {len(anchor_sizes)} tuples; "
            f"leave anchor_sizes unset to derive them from the strides"
        )
    if len({len(sizes) for sizes in anchor_sizes}) != 1:
        raise ValueError(
            f"every level needs the same number of anchor sizes (the RPN head is shared), got {list(anchor_sizes)}"
        )
    if not aspect_ratios:
        raise ValueError("aspect_ratios must hold at least one ratio")
    sizes = tuple(tuple(sizes) for sizes in anchor_sizes)
    return AnchorGenerator(sizes, (tuple(aspect_ratios),) * len(sizes))


def fasterrcnn_ghostnet_fpn(
    *,
    num_classes: int,
    name: str = "ghostnet",
    width: float = 1.0,
    out_indices: Sequence[int] = (2, 3, 4),
    fpn_channels: int = 128,
    extra_blocks: str = "pool",
    fpn_norm: str = "none",
    frozen_stages: int | None = None,
    norm_layer: str | Callable[..., nn.Module] | None = None,
    pretrained: bool = False,
    anchor_sizes: Sequence[Sequence[float]] | None = None,
    anchor_scales: Sequence[float] = (4.0, 8.0),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    box_head_convs: Sequence[int] = (),
    box_head_fcs: Sequence[int] = (1024, 1024),
    box_head_norm: str = "none",
    min_size: int | Sequence[int] = 800,
    max_size: int = 1333,
    timm_kwargs: dict | None = None,
    **frcnn_kwargs,
) -> FasterRCNN:
    """torchvision's ``FasterRCNN`` on a timm backbone + FPN (GhostNet by default).

    The anchor generator gets one size tuple per backbone output map and ``MultiScaleRoIAlign`` pools exactly the
    backbone's levels, whatever ``out_indices`` is. The image mean/std come from the backbone's ``pretrained_cfg``.

    Args:
        num_classes: number of classes including the background (label 0).
        name, width, out_indices, fpn_channels, extra_blocks, fpn_norm, frozen_stages, norm_layer, pretrained:
            see :func:`detection.fpn.ghostnet_fpn_backbone`.
        anchor_sizes, anchor_scales, aspect_ratios: see :func:`anchor_generator_for`.
        box_head_convs: channels of the 3x3 convolutions of the box head (torchvision's ``FastRCNNConvFCHead``).
        box_head_fcs: widths of its fully connected layers; the last is the representation the predictor reads.
        box_head_norm: ``"none"``, ``"batchnorm"`` or ``"groupnorm"`` after the box head convolutions.
        min_size: shorter image side after resizing; a sequence picks one at random per training batch
            (multi-scale training) and uses the last one in evaluation.
        max_size: longer image side limit after resizing.
        timm_kwargs: extra keyword arguments for ``timm.create_model``.
        **frcnn_kwargs: passed to ``FasterRCNN`` (``box_batch_size_per_image``, ``rpn_post_nms_top_n_train`` ...);
            :data:`FRCNN_DEFAULTS` fills in the ones not given.

    Examples::

        >>> import torch
        >>> model = fasterrcnn_ghostnet_fpn(num_classes=4, width=0.5, min_size=128, max_size=128).eval()
        >>> out = model([torch.rand(3, 128, 128)])
        >>> print(sorted(out[0]), model.rpn.anchor_generator.sizes)
        ['boxes', 'labels', 'scores'] ((32, 64), (64, 128), (128, 256), (256, 512))
    """
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background too and must be >= 2, got {num_classes}")
    if not box_head_fcs:
        raise ValueError("box_head_fcs must hold at least one layer width (the predictor reads the last one)")
    backbone = ghostnet_fpn_backbone(
        name=name,
        width=width,
        out_indices=out_indices,
        fpn_channels=fpn_channels,
        extra_blocks=extra_blocks,
        fpn_norm=fpn_norm,
        frozen_stages=frozen_stages,
        norm_layer=norm_layer,
        pretrained=pretrained,
        **(timm_kwargs or {}),
    )
    anchor_generator = anchor_generator_for(
        backbone, anchor_sizes=anchor_sizes, anchor_scales=anchor_scales, aspect_ratios=aspect_ratios
    )
    roi_pool = MultiScaleRoIAlign(featmap_names=backbone.level_names, output_size=7, sampling_ratio=2)
    box_head = FastRCNNConvFCHead(
        (backbone.out_channels, 7, 7), list(box_head_convs), list(box_head_fcs), norm_layer=make_norm(box_head_norm)
    )
    cfg = backbone.body.pretrained_cfg
    return FasterRCNN(
        backbone,
        num_classes=None,
        min_size=tuple(min_size) if isinstance(min_size, Sequence) else min_size,
        max_size=max_size,
        image_mean=list(cfg.get("mean", (0.485, 0.456, 0.406))),
        image_std=list(cfg.get("std", (0.229, 0.224, 0.225))),
        rpn_anchor_generator=anchor_generator,
        box_roi_pool=roi_pool,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(box_head_fcs[-1], num_classes),
        **{**FRCNN_DEFAULTS, **frcnn_kwargs},
    )
