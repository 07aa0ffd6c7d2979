"""torchvision's MobileNetV3 detectors as registry entries: the baselines of ``demo --compare`` and the benchmarks.

Each is torchvision's own model class on torchvision's MobileNetV3-Large, built the torchvision way
(``mobilenet_backbone(..., fpn=True)`` for the FPN detectors), randomly initialised (no weights offline). They read
``num_classes``, ``min_size`` and ``max_size`` from the ``model`` section (RetinaNet also the anchor rule, so both
sides of a comparison use the same anchors) and the output limits (``box_score_thresh``, ``box_detections_per_img``,
the same for both sides of a comparison); everything else is torchvision's. Each registers the options it reads:
:class:`~detection.sections.ModelConfig`'s shared keys (RetinaNet's also the anchor rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, MaskRCNN, RetinaNet, fasterrcnn_mobilenet_v3_large_fpn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import ssdlite320_mobilenet_v3_large
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from ..fpn import make_norm
from ..sections import AnchorRule, ModelConfig
from .registry import MASKS, MODELS

__all__ = [
    "RetinaNetBaselineConfig",
    "build_fasterrcnn_mobilenet_v3_large_fpn",
    "build_fcos_mobilenet_v3_large_fpn",
    "build_maskrcnn_mobilenet_v3_large_fpn",
    "build_retinanet_mobilenet_v3_large_fpn",
    "build_ssdlite320_mobilenet_v3_large",
]


@dataclass
class RetinaNetBaselineConfig(AnchorRule, ModelConfig):
    """``model`` keys of ``retinanet_mobilenet_v3_large_fpn``: the shared ones and the anchor rule (as ours)."""


def _outputs(cfg: ModelConfig, prefix: str = "") -> dict[str, Any]:
    """The output limits as torchvision's two-stage (``prefix="box_"``) or one-stage detectors name them."""
    return {f"{prefix}score_thresh": cfg.box_score_thresh, f"{prefix}detections_per_img": cfg.box_detections_per_img}


@MODELS.register("fasterrcnn_mobilenet_v3_large_fpn", options=ModelConfig, baseline=True)
def build_fasterrcnn_mobilenet_v3_large_fpn(cfg: ModelConfig, **kwargs: Any) -> FasterRCNN:
    """torchvision's ``fasterrcnn_mobilenet_v3_large_fpn`` from scratch, its own defaults otherwise.

    Examples::

        >>> cfg = ModelConfig(arch="fasterrcnn_mobilenet_v3_large_fpn", num_classes=4, min_size=320, max_size=320)
        >>> build_fasterrcnn_mobilenet_v3_large_fpn(cfg).roi_heads.box_predictor.cls_score.out_features
        4
    """
    return fasterrcnn_mobilenet_v3_large_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=cfg.num_classes,
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        **_outputs(cfg, "box_"),
        **kwargs,
    )


def _mobilenet_v3_fpn(extra_blocks: nn.Module) -> nn.Module:
    """torchvision's MobileNetV3-Large FPN backbone, built the torchvision way, from scratch (trainable BN)."""
    return mobilenet_backbone(
        backbone_name="mobilenet_v3_large",
        weights=None,
        fpn=True,
        norm_layer=nn.BatchNorm2d,
        trainable_layers=6,
        extra_blocks=extra_blocks,
    )


def _anchors(strides: list[int], scales: list[float], ratios: list[float]) -> AnchorGenerator:
    sizes = tuple(tuple(int(round(s * stride)) for s in scales) for stride in strides)
    return AnchorGenerator(sizes, (tuple(ratios),) * len(sizes))


@MODELS.register("retinanet_mobilenet_v3_large_fpn", options=RetinaNetBaselineConfig, baseline=True)
def build_retinanet_mobilenet_v3_large_fpn(cfg: RetinaNetBaselineConfig, **kwargs: Any) -> RetinaNet:
    """torchvision's ``RetinaNet`` on ``mobilenet_backbone(..., fpn=True)`` with P6/P7, the same GroupNorm head, GIoU
    loss and anchor rule (``anchor_scales * stride``) as ours.

    torchvision's MobileNetV3 FPN takes its two last stages (the last stride-2 block and the final 1x1 convolution),
    both at stride 32, so the maps are at strides 32, 32, 64, 128; the anchor rule reads them as 16, 32, 64, 128,
    which gives exactly the anchor sizes of ours on P4-P7 (the recipes' levels) and the finer sizes to its first map.

    Examples::

        >>> cfg = RetinaNetBaselineConfig(arch="retinanet_mobilenet_v3_large_fpn", num_classes=3, anchor_scales=[4.0])
        >>> build_retinanet_mobilenet_v3_large_fpn(cfg).anchor_generator.sizes
        ((64,), (128,), (256,), (512,))
    """
    backbone = _mobilenet_v3_fpn(LastLevelP6P7(256, 256))
    anchors = _anchors([16, 32, 64, 128], cfg.anchor_scales, cfg.aspect_ratios)
    head = RetinaNetHead(256, anchors.num_anchors_per_location()[0], cfg.num_classes, norm_layer=make_norm("groupnorm"))
    head.regression_head._loss_type = "giou"
    return RetinaNet(
        backbone, cfg.num_classes, min_size=cfg.min_size, max_size=cfg.max_size, anchor_generator=anchors, head=head,
        **_outputs(cfg), **kwargs,
    )  # fmt: skip


@MODELS.register("fcos_mobilenet_v3_large_fpn", options=ModelConfig, baseline=True)
def build_fcos_mobilenet_v3_large_fpn(cfg: ModelConfig, **kwargs: Any) -> FCOS:
    """torchvision's ``FCOS`` on ``mobilenet_backbone(..., fpn=True)`` with P6/P7, one anchor per location; its maps'
    strides are 32, 32, 64, 128, sized as 16, 32, 64, 128 (the anchors, hence FCOS's size ranges, of ours on P4-P7),
    as :func:`build_retinanet_mobilenet_v3_large_fpn` explains."""
    backbone = _mobilenet_v3_fpn(LastLevelP6P7(256, 256))
    anchors = _anchors([16, 32, 64, 128], [1.0], [1.0])
    return FCOS(
        backbone, cfg.num_classes, min_size=cfg.min_size, max_size=cfg.max_size, anchor_generator=anchors,
        **_outputs(cfg), **kwargs,
    )  # fmt: skip


@MODELS.register("maskrcnn_mobilenet_v3_large_fpn", options=ModelConfig, baseline=True, tags={MASKS})
def build_maskrcnn_mobilenet_v3_large_fpn(cfg: ModelConfig, **kwargs: Any) -> MaskRCNN:
    """torchvision's ``MaskRCNN`` on ``mobilenet_backbone(..., fpn=True)``: torchvision has no MobileNetV3 Mask R-CNN,
    so it is ``fasterrcnn_mobilenet_v3_large_fpn`` as torchvision builds it (the "pool" level, anchors 32..512 at
    every level, ``rpn_score_thresh=0.05``) plus ``MaskRCNN``'s default mask branch (4 x 256 convolutions).

    Examples::

        >>> cfg = ModelConfig(arch="maskrcnn_mobilenet_v3_large_fpn", num_classes=3, min_size=320, max_size=320)
        >>> build_maskrcnn_mobilenet_v3_large_fpn(cfg).roi_heads.mask_predictor.mask_fcn_logits.out_channels
        3
    """
    anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
    return MaskRCNN(
        _mobilenet_v3_fpn(LastLevelMaxPool()), cfg.num_classes, min_size=cfg.min_size, max_size=cfg.max_size,
        rpn_anchor_generator=anchors, rpn_score_thresh=0.05, **_outputs(cfg, "box_"), **kwargs,
    )  # fmt: skip


@MODELS.register("ssdlite320_mobilenet_v3_large", options=ModelConfig, baseline=True)
def build_ssdlite320_mobilenet_v3_large(cfg: ModelConfig, **kwargs: Any) -> SSD:
    """torchvision's ``ssdlite320_mobilenet_v3_large`` from scratch (its own settings, 320x320)."""
    return ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=cfg.num_classes, **_outputs(cfg), **kwargs
    )
