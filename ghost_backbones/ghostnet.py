"""GhostNet (Han et al., CVPR 2020): the ``ghostnet`` timm entrypoint (V1, any width).

The model class is :class:`ghost_backbones.model.GhostNet` with ``version='v1'``.
"""

from __future__ import annotations

from typing import Any

from timm.models import generate_default_cfgs, register_model

from .builder import create_ghostnet, pretrained_cfg
from .model import GhostNet

__all__: list[str] = []

default_cfgs = generate_default_cfgs(
    {
        "ghostnet.w100_in1k": pretrained_cfg(hf_hub_id="timm/ghostnet_100.in1k"),
        "ghostnet.untrained": pretrained_cfg(),
    }
)


@register_model
def ghostnet(pretrained: bool = False, width: float | None = None, **kwargs: Any) -> GhostNet:
    """GhostNet (V1) at any ``width`` (1.0 by default; ImageNet weights: 1.0).

    Args:
        pretrained: load ImageNet weights (timm's ``ghostnet_100.in1k`` for width 1.0).
        width: channel multiplier, e.g. 0.5, 1.0, 1.3.
        **kwargs: :class:`~ghost_backbones.model.GhostNet` arguments, and timm's ``features_only``, ``out_indices``,
            ``pretrained_cfg_overlay``.

    Examples::

        >>> import timm, torch
        >>> timm.create_model("ghostnet", width=0.5, num_classes=10)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 10])
    """
    return create_ghostnet("ghostnet", "v1", pretrained=pretrained, width=width, **kwargs)
