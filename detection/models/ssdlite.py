"""SSDLite on the Ghost backbone's own features (strides 16 and 32) plus torchvision's SSDLite extra blocks.

Built as torchvision's ``ssdlite320_mobilenet_v3_large``: torchvision's ``SSD`` with ``SSDLiteHead``, its
``_extra_block`` layers (1x1, depthwise 3x3 stride 2, 1x1) after the backbone, ``DefaultBoxGenerator`` with
aspect ratios 2 and 3 on every map, BatchNorm ``eps=0.001, momentum=0.03``, NMS at IoU 0.55 over the 300 best
candidates per class, and a fixed square input
(``model.min_size``, 320 in ``configs/ssdlite_ghostnet_coco.yaml``). The default boxes follow the maps.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead, _extra_block, _normal_init

from ghost_backbones.engine import create_backbone
from ghost_backbones.torchvision_registry import register_torchvision_model

from ..sections import BackboneOptions, ModelConfig
from .common import detector_kwargs
from .registry import MODELS
from .torchvision_style import build_torchvision_style

__all__ = ["ssdlite_ghostnet", "SSDLiteBackbone", "SSDLiteConfig", "build_ssdlite"]

#: torchvision's SSDLite norm (``ssdlite320_mobilenet_v3_large``).
SSDLITE_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
#: torchvision's ``ssdlite320_mobilenet_v3_large`` post-processing: NMS IoU and candidates kept per class before NMS
#: (``SSD``'s own defaults, 0.45 and 400, cost 2.4x the time on an untrained 91-class model's 27k-box NMS).
SSDLITE_NMS_THRESH = 0.55
SSDLITE_TOPK_CANDIDATES = 300


class SSDLiteBackbone(nn.Module):
    """A timm ``features_only`` body followed by SSDLite's extra stride-2 blocks; returns every map, finest first.

    Args:
        body: timm features model (its ``feature_info`` gives the channels).
        extra_channels: output channels of each extra block.

    Attributes:
        out_channels (list[int]): channels of every returned map.

    Examples::

        >>> import timm, torch
        >>> body = timm.create_model("ghostnet", features_only=True, out_indices=(3, 4), width=0.5)
        >>> backbone = SSDLiteBackbone(body, [64, 32])
        >>> [tuple(v.shape[1:]) for v in backbone.eval()(torch.rand(1, 3, 128, 128)).values()]
        [(56, 8, 8), (480, 4, 4), (64, 2, 2), (32, 1, 1)]
    """

    def __init__(self, body: nn.Module, extra_channels: list[int]) -> None:
        super().__init__()
        self.body = body
        channels = list(body.feature_info.channels())
        blocks = []
        for out in extra_channels:
            blocks.append(_extra_block(channels[-1], out, SSDLITE_NORM))
            channels.append(out)
        self.extra = nn.ModuleList(blocks)
        _normal_init(self.extra)
        self.out_channels = channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        maps = list(self.body(x))
        x = maps[-1]
        for block in self.extra:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


@dataclass
class SSDLiteConfig(BackboneOptions, ModelConfig):
    """``model`` keys of ``ssdlite``: the shared ones (``min_size`` is the fixed square side), the backbone, and:

    Args:
        ssd_extra_channels: widths of the extra stride-2 blocks after the backbone (torchvision's 512, 256, 256,
            128); their number + the backbone maps = the SSD levels.
        ssd_min_ratio, ssd_max_ratio: smallest and largest default-box scale, as fractions of the image side.
    """

    out_indices: list[int] = field(default_factory=lambda: [3, 4])
    ssd_extra_channels: list[int] = field(default_factory=lambda: [512, 256, 256, 128])
    ssd_min_ratio: float = 0.2
    ssd_max_ratio: float = 0.95


@MODELS.register(
    "ssdlite", options=SSDLiteConfig, counterpart="ssdlite320_mobilenet_v3_large", recipe="ssdlite_ghostnet"
)
def build_ssdlite(cfg: SSDLiteConfig, **kwargs: Any) -> SSD:
    """SSDLite from the ``model`` section: ``out_indices`` (default recipe ``[3, 4]``), ``ssd_extra_channels``,
    ``ssd_min_ratio`` / ``ssd_max_ratio``, a fixed ``min_size`` x ``min_size`` input.

    Examples::

        >>> cfg = SSDLiteConfig(arch="ssdlite", num_classes=3, out_indices=[3, 4], min_size=320, max_size=320)
        >>> model = build_ssdlite(cfg)
        >>> model.anchor_generator.num_anchors_per_location(), model.nms_thresh, model.topk_candidates
        ([6, 6, 6, 6, 6, 6], 0.55, 300)
    """
    backbone = SSDLiteBackbone(create_backbone(cfg.backbone, out_indices=cfg.out_indices), cfg.ssd_extra_channels)
    levels = len(backbone.out_channels)
    anchors = DefaultBoxGenerator([[2, 3]] * levels, min_ratio=cfg.ssd_min_ratio, max_ratio=cfg.ssd_max_ratio)
    head = SSDLiteHead(backbone.out_channels, anchors.num_anchors_per_location(), cfg.num_classes, SSDLITE_NORM)
    common = detector_kwargs(cfg, backbone.body)
    del common["min_size"], common["max_size"]  # SSD takes one fixed size
    common.update(nms_thresh=SSDLITE_NMS_THRESH, topk_candidates=SSDLITE_TOPK_CANDIDATES)
    return SSD(backbone, anchors, (cfg.min_size, cfg.min_size), cfg.num_classes, head=head, **{**common, **kwargs})


@register_torchvision_model("ssdlite_ghostnet")
def ssdlite_ghostnet(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> SSD:
    """SSDLite on GhostNet, torchvision-style (``torchvision.models.get_model("ssdlite_ghostnet")``).

    Args: as :func:`~detection.models.faster_rcnn.fasterrcnn_ghostnet_fpn`; ``**kwargs`` are ``model``
    keys (defaults: :class:`SSDLiteConfig`) and ``SSD``'s own arguments
    (``score_thresh``, ``nms_thresh``, ``topk_candidates`` ...).

    Examples::

        >>> model = ssdlite_ghostnet(num_classes=3, min_size=320, backbone={"width": 0.5}, nms_thresh=0.5)
        >>> model.transform.min_size, model.nms_thresh
        ((320,), 0.5)
    """
    return build_torchvision_style(
        "ssdlite",
        "ssdlite_ghostnet",
        SSD,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
