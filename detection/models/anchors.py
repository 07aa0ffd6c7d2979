"""Anchors derived from a detection backbone's levels: one size tuple per output map, ``scale * stride``."""

from __future__ import annotations

from collections.abc import Sequence

from torchvision.models.detection.anchor_utils import AnchorGenerator

from ..fpn import TimmFPNBackbone

__all__ = ["anchor_generator_for"]


def anchor_generator_for(
    backbone: TimmFPNBackbone,
    *,
    anchor_sizes: Sequence[Sequence[float]] | None,
    anchor_scales: Sequence[float],
    aspect_ratios: Sequence[float],
) -> AnchorGenerator:
    """An ``AnchorGenerator`` with exactly one size tuple per output map of ``backbone``.

    Args:
        backbone: the detection backbone (its ``names`` and ``strides`` decide the levels).
        anchor_sizes: explicit sizes, one tuple per output map (``len(backbone.names)`` of them, each the same
            length); ``None`` derives them as ``scale * stride`` for each of ``anchor_scales``.
        anchor_scales: anchor sides in units of each map's stride, used when ``anchor_sizes`` is ``None``.
        aspect_ratios: height / width ratios, the same at every level.

    Examples::

        >>> from detection.fpn import ghostnet_fpn_backbone
        >>> backbone = ghostnet_fpn_backbone(backbone={"width": 0.5}, out_indices=[3, 4], fpn_channels=32)
        >>> anchor_generator_for(backbone, anchor_sizes=None, anchor_scales=(4, 8), aspect_ratios=(1.0,)).sizes
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
