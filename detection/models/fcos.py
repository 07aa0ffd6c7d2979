"""torchvision's FCOS (anchor-free) on a GhostNet-FPN backbone with P6/P7: one location "anchor" per map position.

As torchvision's ``fcos_resnet50_fpn``: FPN with P6/P7 (``model.extra_blocks: p6p7``), one square anchor per
location whose side is the map's stride (``anchor_scales: [1.0]``, ``aspect_ratios: [1.0]``), torchvision's
``FCOSHead`` (GroupNorm, centerness). The recipes put it on P4-P7 (``out_indices: [3, 4]``, strides 16..128) as
torchvision's MobileNetV3 detectors, not ResNet-50's P3-P7: the head on the stride-8 map would cost more than the
backbone (docs/benchmarks.md, issue 11). Recipe: ``configs/fcos_ghostnet_fpn_coco.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchvision.models.detection import FCOS
from torchvision.models.detection.fcos import FCOSHead

from ghost_backbones.engine import ConfigError
from ghost_backbones.torchvision_registry import register_torchvision_model

from ..fpn import build_fpn_backbone
from ..sections import AnchorOptions, BackboneOptions, FPNOptions, ModelConfig
from .anchors import anchor_generator_for
from .common import detector_kwargs
from .registry import MODELS
from .torchvision_style import build_torchvision_style

__all__ = ["fcos_ghostnet_fpn", "FCOSConfig", "build_fcos"]


@dataclass
class FCOSConfig(AnchorOptions, FPNOptions, BackboneOptions, ModelConfig):
    """``model`` keys of ``fcos``: the shared ones, backbone, FPN and anchors (one per location: FCOS's "anchor" is
    the point whose size range its level covers); the head is torchvision's ``FCOSHead`` as it is."""

    anchor_scales: list[float] = field(default_factory=lambda: [1.0])
    aspect_ratios: list[float] = field(default_factory=lambda: [1.0])

    def _check(self) -> None:
        if self.anchor_sizes is None and len(self.anchor_scales) * len(self.aspect_ratios) != 1:
            raise ConfigError(
                "model.arch='fcos' needs one anchor per location: set model.anchor_scales=[1.0] and "
                f"model.aspect_ratios=[1.0] (got {self.anchor_scales} and {self.aspect_ratios})"
            )


@MODELS.register("fcos", options=FCOSConfig, counterpart="fcos_mobilenet_v3_large_fpn", recipe="fcos_ghostnet_fpn")
def build_fcos(cfg: FCOSConfig, **kwargs: Any) -> FCOS:
    """FCOS from the ``model`` section (one anchor size and ratio per level: FCOS regresses from points).

    Examples::

        >>> cfg = FCOSConfig(arch="fcos", num_classes=3, extra_blocks="p6p7", anchor_scales=[1.0],
        ...                   aspect_ratios=[1.0], min_size=128, max_size=128)
        >>> build_fcos(cfg).anchor_generator.sizes
        ((8,), (16,), (32,), (64,), (128,))
    """
    backbone = build_fpn_backbone(cfg)
    anchors = anchor_generator_for(
        backbone, anchor_sizes=cfg.anchor_sizes, anchor_scales=cfg.anchor_scales, aspect_ratios=cfg.aspect_ratios
    )
    if anchors.num_anchors_per_location()[0] != 1:
        raise ConfigError(
            "model.arch='fcos' needs one anchor per location: set model.anchor_scales=[1.0] and "
            f"model.aspect_ratios=[1.0] (got {cfg.anchor_scales} and {cfg.aspect_ratios})"
        )
    return FCOS(
        backbone,
        cfg.num_classes,
        anchor_generator=anchors,
        head=FCOSHead(backbone.out_channels, 1, cfg.num_classes),
        **{**detector_kwargs(cfg, backbone.body), **kwargs},
    )


@register_torchvision_model("fcos_ghostnet_fpn")
def fcos_ghostnet_fpn(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> FCOS:
    """FCOS GhostNet-FPN (anchor-free), torchvision-style (``torchvision.models.get_model("fcos_ghostnet_fpn")``).

    Args: as :func:`~detection.models.faster_rcnn.fasterrcnn_ghostnet_fpn`; ``**kwargs`` are ``model``
    keys (defaults: :class:`FCOSConfig`) and ``FCOS``'s own arguments
    (``score_thresh``, ``center_sampling_radius``, ``_skip_resize`` ...).

    Examples::

        >>> model = fcos_ghostnet_fpn(num_classes=3, backbone={"width": 0.5}, center_sampling_radius=2.0)
        >>> model.anchor_generator.sizes, model.center_sampling_radius
        (((8,), (16,), (32,), (64,)), 2.0)
    """
    return build_torchvision_style(
        "fcos",
        "fcos_ghostnet_fpn",
        FCOS,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
