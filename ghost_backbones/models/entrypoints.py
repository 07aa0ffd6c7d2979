"""The timm entrypoints ``ghostnet``, ``ghostnetv2`` and ``ghostnetv3`` (any ``width``) and their pretrained cfgs.

Each entrypoint only pins a version of :class:`~ghost_backbones.models.ghostnet.GhostNet`; the published weights
are tagged by width (``ghostnet.w100_in1k`` is timm's ``ghostnet_100.in1k``). timm's own names (``ghostnet_100``,
``ghostnetv2_*``, ``ghostnetv3_*``) are left untouched.

Papers: GhostNet (Han et al., CVPR 2020), GhostNetV2 with DFC attention (Tang et al., NeurIPS 2022), GhostNetV3 with
re-parameterised branches (Liu et al., 2024).
"""

from __future__ import annotations

from typing import Any

from timm.models import generate_default_cfgs, register_model

from .builder import create_ghostnet, pretrained_cfg
from .ghostnet import GhostNet

__all__ = ["ghostnet", "ghostnetv2", "ghostnetv3"]

default_cfgs = generate_default_cfgs(
    {
        "ghostnet.w100_in1k": pretrained_cfg(hf_hub_id="timm/ghostnet_100.in1k"),
        "ghostnet.untrained": pretrained_cfg(),
        "ghostnetv2.w100_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv2_100.in1k"),
        "ghostnetv2.w130_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv2_130.in1k"),
        "ghostnetv2.w160_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv2_160.in1k"),
        "ghostnetv2.untrained": pretrained_cfg(),
        "ghostnetv3.w100_in1k": pretrained_cfg(hf_hub_id="timm/ghostnetv3_100.in1k"),
        "ghostnetv3.untrained": pretrained_cfg(),
    }
)


@register_model
def ghostnet(pretrained: bool = False, width: float | None = None, **kwargs: Any) -> GhostNet:
    """GhostNet (V1) at any ``width`` (1.0 by default; ImageNet weights: 1.0).

    Args:
        pretrained: load ImageNet weights (timm's ``ghostnet_100.in1k`` for width 1.0).
        width: channel multiplier, e.g. 0.5, 1.0, 1.3.
        **kwargs: :class:`~ghost_backbones.models.ghostnet.GhostNet` arguments (``device``, ``dtype`` too), and
            timm's ``features_only``, ``out_indices``, ``feature_cls``, ``pretrained_cfg_overlay``.

    Examples::

        >>> import timm, torch
        >>> timm.create_model("ghostnet", width=0.5, num_classes=10)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 10])
    """
    return create_ghostnet("ghostnet", "v1", pretrained=pretrained, width=width, **kwargs)


@register_model
def ghostnetv2(pretrained: bool = False, width: float | None = None, **kwargs: Any) -> GhostNet:
    """GhostNetV2 (DFC attention from the third block on) at any ``width`` (ImageNet weights: 1.0, 1.3, 1.6).

    Args:
        pretrained: load ImageNet weights (timm's ``ghostnetv2_{100,130,160}.in1k``).
        width: channel multiplier.
        **kwargs: :class:`~ghost_backbones.models.ghostnet.GhostNet` arguments (``device``, ``dtype`` too), and
            timm's ``features_only``, ``out_indices``, ``feature_cls``, ``pretrained_cfg_overlay``.

    Examples::

        >>> import timm, torch
        >>> timm.create_model("ghostnetv2", width=1.3, num_classes=5).eval()(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 5])
    """
    return create_ghostnet("ghostnetv2", "v2", pretrained=pretrained, width=width, **kwargs)


@register_model
def ghostnetv3(pretrained: bool = False, width: float | None = None, **kwargs: Any) -> GhostNet:
    """GhostNetV3 (re-parameterisable branches, merged by ``timm.utils.reparameterize_model``; weights: 1.0).

    Args:
        pretrained: load ImageNet weights (timm's ``ghostnetv3_100.in1k``).
        width: channel multiplier.
        **kwargs: :class:`~ghost_backbones.models.ghostnet.GhostNet` arguments (``device``, ``dtype`` too), and
            timm's ``features_only``, ``out_indices``, ``feature_cls``, ``pretrained_cfg_overlay``.

    Examples::

        >>> import timm, torch
        >>> model = timm.create_model("ghostnetv3", num_classes=5).eval()
        >>> deployed = timm.utils.reparameterize_model(model)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> torch.allclose(deployed(x), model(x), rtol=1e-4, atol=1e-5)
        True
    """
    return create_ghostnet("ghostnetv3", "v3", pretrained=pretrained, width=width, **kwargs)
