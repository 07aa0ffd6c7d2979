"""Segmentation models on a dilated GhostNet: torchvision's DeepLabV3, FCN and LR-ASPP, plus DeepLabV3+.

Every builder returns a model whose ``forward(images)`` gives ``{"out": logits[, "aux": logits]}`` at the input
resolution, like torchvision's ``deeplabv3_mobilenet_v3_large``. Channels come from the backbone's
``feature_info``; taps are timm feature indices: 1 (stride 4, DeepLabV3+ decoder), 2 (stride 8, auxiliary head and
LR-ASPP's low branch) and 4 (the last map, dilated to ``output_stride``).

Examples::

    >>> import torch
    >>> from segmentation import deeplabv3_ghostnet
    >>> model = deeplabv3_ghostnet(num_classes=21, width=1.0, aux_loss=True).eval()
    >>> {k: tuple(v.shape) for k, v in model(torch.rand(1, 3, 128, 128)).items()}
    {'out': (1, 21, 128, 128), 'aux': (1, 21, 128, 128)}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn
from torchvision.models.segmentation import (
    FCN,
    LRASPP,
    DeepLabV3,
    deeplabv3_mobilenet_v3_large,
    lraspp_mobilenet_v3_large,
)
from torchvision.models.segmentation.fcn import FCNHead

import ghost_backbones  # noqa: F401  (registers the "ghostnet" family with timm)

from .backbone import NamedFeatures, create_feature_backbone
from .heads import ASPP_RATES, DeepLabHead, DeepLabV3Plus, DeepLabV3PlusHead

__all__ = [
    "deeplabv3_ghostnet",
    "deeplabv3plus_ghostnet",
    "fcn_ghostnet",
    "lraspp_ghostnet",
    "create_model",
    "MODELS",
    "DEFAULT_HEAD_CHANNELS",
]

#: Width of the ASPP / decoder (see docs/benchmarks.md: 128 keeps DeepLabV3-GhostNet at or below the latency of
#: torchvision's deeplabv3_mobilenet_v3_large, whose 256-wide ASPP on 960 channels is most of its cost).
DEFAULT_HEAD_CHANNELS = 128

_LOW, _MID, _LAST = 1, 2, 4  # timm feature indices: stride 4, stride 8, last map


def _check(num_classes: int, atrous_rates: Sequence[int] | None = None) -> None:
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if atrous_rates is not None and (len(atrous_rates) != 3 or min(atrous_rates) < 1):
        raise ValueError(f"atrous_rates must be three positive dilation rates, got {list(atrous_rates)}")


def _backbone(
    name: str, taps: dict[str, int], output_stride: int, width: float, pretrained: bool, **kwargs: Any
) -> NamedFeatures:
    return create_feature_backbone(
        name, taps, output_stride=output_stride, pretrained=pretrained, width=width, **kwargs
    )


def deeplabv3_ghostnet(
    *,
    num_classes: int = 21,
    width: float = 1.0,
    output_stride: int = 16,
    aux_loss: bool = False,
    pretrained_backbone: bool = False,
    backbone: str = "ghostnet",
    head_channels: int = DEFAULT_HEAD_CHANNELS,
    atrous_rates: Sequence[int] | None = None,
    **backbone_kwargs: Any,
) -> DeepLabV3:
    """DeepLabV3 (torchvision's model class) on a dilated GhostNet.

    Args:
        num_classes: number of classes, background included.
        width: GhostNet width multiplier.
        output_stride: 16 (default) or 8; the last stages are dilated instead of strided.
        aux_loss: add torchvision's ``FCNHead`` on the stride-8 features (output ``"aux"``).
        pretrained_backbone: load ImageNet weights into the backbone.
        backbone: ``"ghostnet"``, ``"ghostnetv2"`` or ``"ghostnetv3"``.
        head_channels: ASPP width (torchvision uses 256; 128 is our speed/accuracy default).
        atrous_rates: ASPP dilation rates; ``None`` picks (6, 12, 18) at stride 16, (12, 24, 36) at stride 8.
        **backbone_kwargs: passed to ``timm.create_model`` (e.g. ``frozen_stages``).

    Examples::

        >>> import torch
        >>> deeplabv3_ghostnet(num_classes=3, width=0.5, output_stride=8)(torch.rand(2, 3, 64, 64))["out"].shape
        torch.Size([2, 3, 64, 64])
    """
    _check(num_classes, atrous_rates)
    taps = {"aux": _MID, "out": _LAST} if aux_loss else {"out": _LAST}
    body = _backbone(backbone, taps, output_stride, width, pretrained_backbone, **backbone_kwargs)
    rates = tuple(atrous_rates or ASPP_RATES[output_stride])
    classifier = DeepLabHead(body.channels["out"], num_classes, rates, channels=head_channels)
    aux = FCNHead(body.channels["aux"], num_classes) if aux_loss else None
    return DeepLabV3(body, classifier, aux)


def deeplabv3plus_ghostnet(
    *,
    num_classes: int = 21,
    width: float = 1.0,
    output_stride: int = 16,
    aux_loss: bool = False,
    pretrained_backbone: bool = False,
    backbone: str = "ghostnet",
    head_channels: int = DEFAULT_HEAD_CHANNELS,
    atrous_rates: Sequence[int] | None = None,
    low_proj_channels: int = 48,
    **backbone_kwargs: Any,
) -> DeepLabV3Plus:
    """DeepLabV3+: DeepLabV3's ASPP plus a decoder on the stride-4 features, for sharper boundaries.

    Args:
        num_classes: number of classes, background included.
        width: GhostNet width multiplier.
        output_stride: 16 (default) or 8.
        aux_loss: add an ``FCNHead`` on the stride-8 features (output ``"aux"``).
        pretrained_backbone: load ImageNet weights into the backbone.
        backbone: ``"ghostnet"``, ``"ghostnetv2"`` or ``"ghostnetv3"``.
        head_channels: width of the ASPP and the decoder.
        atrous_rates: ASPP dilation rates; ``None`` picks them from ``output_stride``.
        low_proj_channels: width of the stride-4 projection (48 in the paper).
        **backbone_kwargs: passed to ``timm.create_model``.

    Examples::

        >>> import torch
        >>> deeplabv3plus_ghostnet(num_classes=3, width=0.5)(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    _check(num_classes, atrous_rates)
    taps = {"low": _LOW, "aux": _MID, "out": _LAST} if aux_loss else {"low": _LOW, "out": _LAST}
    body = _backbone(backbone, taps, output_stride, width, pretrained_backbone, **backbone_kwargs)
    rates = tuple(atrous_rates or ASPP_RATES[output_stride])
    classifier = DeepLabV3PlusHead(
        body.channels["out"], body.channels["low"], num_classes, rates, head_channels, low_proj_channels
    )
    aux = FCNHead(body.channels["aux"], num_classes) if aux_loss else None
    return DeepLabV3Plus(body, classifier, aux)


def fcn_ghostnet(
    *,
    num_classes: int = 21,
    width: float = 1.0,
    output_stride: int = 16,
    aux_loss: bool = False,
    pretrained_backbone: bool = False,
    backbone: str = "ghostnet",
    **backbone_kwargs: Any,
) -> FCN:
    """FCN (torchvision's model class and ``FCNHead``) on a dilated GhostNet.

    Args:
        num_classes: number of classes, background included.
        width: GhostNet width multiplier.
        output_stride: 16 (default) or 8.
        aux_loss: add an ``FCNHead`` on the stride-8 features (output ``"aux"``).
        pretrained_backbone: load ImageNet weights into the backbone.
        backbone: ``"ghostnet"``, ``"ghostnetv2"`` or ``"ghostnetv3"``.
        **backbone_kwargs: passed to ``timm.create_model``.

    Examples::

        >>> import torch
        >>> fcn_ghostnet(num_classes=3, width=0.5)(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    _check(num_classes)
    taps = {"aux": _MID, "out": _LAST} if aux_loss else {"out": _LAST}
    body = _backbone(backbone, taps, output_stride, width, pretrained_backbone, **backbone_kwargs)
    aux = FCNHead(body.channels["aux"], num_classes) if aux_loss else None
    return FCN(body, FCNHead(body.channels["out"], num_classes), aux)


def lraspp_ghostnet(
    *,
    num_classes: int = 21,
    width: float = 1.0,
    output_stride: int = 16,
    pretrained_backbone: bool = False,
    backbone: str = "ghostnet",
    inter_channels: int = 128,
    **backbone_kwargs: Any,
) -> LRASPP:
    """Lite R-ASPP (torchvision's ``LRASPP``) on a dilated GhostNet: stride-8 and last-map branches.

    Args:
        num_classes: number of classes, background included.
        width: GhostNet width multiplier.
        output_stride: 16 (default) or 8.
        pretrained_backbone: load ImageNet weights into the backbone.
        backbone: ``"ghostnet"``, ``"ghostnetv2"`` or ``"ghostnetv3"``.
        inter_channels: width of the high branch (128 as in torchvision).
        **backbone_kwargs: passed to ``timm.create_model``.

    Examples::

        >>> import torch
        >>> lraspp_ghostnet(num_classes=3, width=0.5)(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 3, 64, 64])
    """
    _check(num_classes)
    taps = {"low": _MID, "high": _LAST}
    body = _backbone(backbone, taps, output_stride, width, pretrained_backbone, **backbone_kwargs)
    return LRASPP(body, body.channels["low"], body.channels["high"], num_classes, inter_channels)


def _tv_deeplabv3(*, num_classes: int = 21, aux_loss: bool = False, **kwargs: Any) -> nn.Module:
    _no_extra("deeplabv3_mobilenet_v3_large", kwargs)
    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=aux_loss)


def _tv_lraspp(*, num_classes: int = 21, **kwargs: Any) -> nn.Module:
    _no_extra("lraspp_mobilenet_v3_large", kwargs)
    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)


def _no_extra(name: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise ValueError(f"{name} (torchvision baseline) takes only num_classes and aux_loss, got {sorted(kwargs)}")


#: Model names accepted by `create_model` (and the ``model.name`` config key). The ``*_mobilenet_v3_large``
#: entries are torchvision's models, randomly initialised, for like-for-like comparisons.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "deeplabv3": deeplabv3_ghostnet,
    "deeplabv3plus": deeplabv3plus_ghostnet,
    "fcn": fcn_ghostnet,
    "lraspp": lraspp_ghostnet,
    "deeplabv3_mobilenet_v3_large": _tv_deeplabv3,
    "lraspp_mobilenet_v3_large": _tv_lraspp,
}


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model of `MODELS` by name.

    Args:
        name: ``"deeplabv3"``, ``"deeplabv3plus"``, ``"fcn"``, ``"lraspp"`` (GhostNet) or a torchvision baseline
            ``"deeplabv3_mobilenet_v3_large"`` / ``"lraspp_mobilenet_v3_large"``.
        **kwargs: the builder's keyword arguments.

    Examples::

        >>> import torch
        >>> create_model("lraspp", num_classes=21, width=0.5)(torch.rand(1, 3, 64, 64))["out"].shape
        torch.Size([1, 21, 64, 64])
    """
    if name not in MODELS:
        raise ValueError(f"unknown segmentation model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)
