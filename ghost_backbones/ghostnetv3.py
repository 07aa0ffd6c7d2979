"""GhostNetV3 (Liu et al., 2024): re-parameterisable GhostNet, the ``ghostnetv3`` timm entrypoint.

The model class is :class:`ghost_backbones.model.GhostNet` with ``version='v3'``: every Ghost module and strided
depthwise conv trains as parallel conv + norm branches (:mod:`ghost_backbones.rep_blocks`), and
``timm.utils.reparameterize_model`` merges them into single convs for deployment.
"""

from __future__ import annotations

from typing import Any

from timm.models import generate_default_cfgs, register_model

from .builder import create_ghostnet, pretrained_cfg
from .model import GhostNet

__all__: list[str] = []

default_cfgs = generate_default_cfgs(
    {
        "ghostnetv3.w100_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv3_100.in1k"),
        "ghostnetv3.untrained": pretrained_cfg(),
    }
)


@register_model
def ghostnetv3(pretrained: bool = False, width: float | None = None, **kwargs: Any) -> GhostNet:
    """GhostNetV3 at any ``width`` (1.0 by default; ImageNet weights: 1.0).

    Args:
        pretrained: load ImageNet weights (timm's ``ghostnetv3_100.in1k``).
        width: channel multiplier.
        **kwargs: :class:`~ghost_backbones.model.GhostNet` arguments, and timm's ``features_only``,
            ``out_indices``, ``pretrained_cfg_overlay``.

    Examples::

        >>> import timm, torch
        >>> model = timm.create_model("ghostnetv3", num_classes=5).eval()
        >>> deployed = timm.utils.reparameterize_model(model)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> torch.allclose(deployed(x), model(x), rtol=1e-4, atol=1e-5)
        True
    """
    return create_ghostnet("ghostnetv3", "v3", pretrained=pretrained, width=width, **kwargs)
