"""GhostNetV2 (Tang et al., NeurIPS 2022): GhostNet with DFC attention, the ``ghostnetv2`` timm entrypoint.

The model class is :class:`ghost_backbones.model.GhostNet` with ``version='v2'``: from the third bottleneck on,
the expansion Ghost module is multiplied by a DFC (decoupled fully connected) attention map
(:class:`ghost_backbones.blocks.GhostModuleV2`).
"""

from __future__ import annotations

from typing import Any

from timm.models import generate_default_cfgs, register_model

from .builder import create_ghostnet, pretrained_cfg
from .model import GhostNet

__all__: list[str] = []

default_cfgs = generate_default_cfgs(
    {
        "ghostnetv2.w100_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv2_100.in1k"),
        "ghostnetv2.w130_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv2_130.in1k"),
        "ghostnetv2.w160_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv2_160.in1k"),
        "ghostnetv2.untrained": pretrained_cfg(),
    }
)


@register_model
def ghostnetv2(pretrained: bool = False, width: float | None = None, **kwargs: Any) -> GhostNet:
    """GhostNetV2 at any ``width`` (1.0 by default; ImageNet weights: 1.0, 1.3, 1.6).

    Args:
        pretrained: load ImageNet weights (timm's ``ghostnetv2_{100,130,160}.in1k``).
        width: channel multiplier.
        **kwargs: :class:`~ghost_backbones.model.GhostNet` arguments, and timm's ``features_only``,
            ``out_indices``, ``pretrained_cfg_overlay``.

    Examples::

        >>> import timm, torch
        >>> timm.create_model("ghostnetv2", width=1.3, num_classes=5).eval()(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 5])
    """
    return create_ghostnet("ghostnetv2", "v2", pretrained=pretrained, width=width, **kwargs)
