"""A timm ``features_only`` backbone seen through torchvision's segmentation contract.

torchvision's segmentation models (`DeepLabV3`, `FCN`, `LRASPP`) call ``backbone(x)`` and read named maps
from the ``OrderedDict`` it returns (``"out"``/``"aux"``, ``"high"``/``"low"``). timm's feature extractors
return a list; `NamedFeatures` names its entries, and `create_feature_backbone` builds the dilated timm model
with just the taps a head needs, reading channels and strides from ``feature_info`` (nothing hard-coded).

Examples::

    >>> import torch
    >>> backbone = create_feature_backbone(BackboneConfig(), {"low": 2, "out": 4}, output_stride=16)
    >>> backbone.channels, backbone.reductions
    ({'low': 40, 'out': 960}, {'low': 8, 'out': 16})
    >>> {k: tuple(v.shape) for k, v in backbone(torch.rand(1, 3, 128, 128)).items()}
    {'low': (1, 40, 16, 16), 'out': (1, 960, 8, 8)}
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from torch import Tensor, nn

from ghost_backbones.engine import BackboneConfig, create_backbone

__all__ = ["NamedFeatures", "create_feature_backbone"]


class NamedFeatures(nn.Module):
    """Wrap a timm feature extractor so it returns ``OrderedDict[name, Tensor]``.

    Args:
        body: a timm ``features_only`` model (returns a list of maps, one per ``out_indices`` entry).
        names: one name per returned map, in the same order.

    Examples::

        >>> import timm, torch
        >>> body = timm.create_model("ghostnet", features_only=True, out_indices=(2, 4))
        >>> features = NamedFeatures(body, ["aux", "out"])
        >>> list(features(torch.rand(1, 3, 64, 64)))
        ['aux', 'out']
    """

    def __init__(self, body: nn.Module, names: list[str]) -> None:
        super().__init__()
        info = getattr(body, "feature_info", None)
        if info is None:
            raise ValueError(f"{type(body).__name__} has no feature_info; build it with features_only=True")
        if len(names) != len(info.channels()):
            raise ValueError(f"expected {len(info.channels())} names for the backbone's maps, got {names}")
        self.body = body
        self.names = list(names)
        self.channels = dict(zip(self.names, info.channels()))
        self.reductions = dict(zip(self.names, info.reduction()))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return OrderedDict(zip(self.names, self.body(x)))


def create_feature_backbone(cfg: BackboneConfig, taps: Mapping[str, int], output_stride: int) -> NamedFeatures:
    """Build the dilated timm backbone of ``cfg`` returning the feature maps named in ``taps``.

    Args:
        cfg: the ``model.backbone`` section (any timm model with ``features_only`` and ``output_stride``).
        taps: output name -> timm feature index (0..4 for strides 2..32 before dilation), e.g.
            ``{"aux": 2, "out": 4}``.
        output_stride: 8 or 16: the last stages are dilated so the final map has this reduction.

    Examples::

        >>> create_feature_backbone(BackboneConfig(), {"out": 4}, output_stride=8).reductions
        {'out': 8}
        >>> create_feature_backbone(BackboneConfig(name="mobilenetv3_large_100"), {"out": 4}, 16).channels
        {'out': 960}
    """
    if not taps:
        raise ValueError("taps must name at least one feature map")
    ordered = sorted(taps.items(), key=lambda item: item[1])
    indices = [index for _, index in ordered]
    if len(set(indices)) != len(indices):
        raise ValueError(f"taps must use distinct feature indices, got {dict(taps)}")
    body = create_backbone(cfg, out_indices=indices, output_stride=output_stride)
    backbone = NamedFeatures(body, [tap for tap, _ in ordered])
    last = max(backbone.reductions.values())
    if last != output_stride:
        raise ValueError(f"backbone {cfg.name!r} reports output stride {last} for output_stride={output_stride}")
    return backbone
