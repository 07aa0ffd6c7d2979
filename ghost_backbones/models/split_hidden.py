"""The deploy form of a Ghost bottleneck's expansion: ghost1's two halves are never concatenated.

A Ghost module concatenates its primary features and the cheap operation's maps of them. In a bottleneck, every
layer after the expanding ``ghost1`` up to the projection's primary 1x1 convolution works per channel (the strided
depthwise convolution, the squeeze-excite gate) or is linear in the channels (that 1x1 convolution:
``W [x1; x2] = W1 x1 + W2 x2``). So once the norms are folded, the two halves can stay two tensors all the way,
and the widest concat of the block (the expanded one, 2-6x the block's width, at its input resolution) is never
written. Measured on the GhostNet 1.0x classifier (docs/benchmarks.md, "The Ghost bottleneck's expansion"):
onnxruntime 1.05-1.25x faster at 224-800 px, eager PyTorch's channels-last deploy form 1.1-1.65x faster at 800 px
and 2-6% slower for one image at 224-320 px (``ghost_backbones.deploy(..., split_hidden=False)`` keeps the concat).

:class:`SplitHidden` is built by ``GhostBottleneck.reparameterize()`` (so by :func:`ghost_backbones.deploy`) and
computes, from the block's input, the projection's primary features; the projection's cheap half and concat (the
block's narrow output) are kept.

Examples::

    >>> from torch import nn
    >>> primary = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU())
    >>> cheap = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU())
    >>> project = nn.Sequential(nn.Conv2d(8, 6, 1))
    >>> x = torch.rand(1, 8, 5, 5)
    >>> x1 = primary(x)
    >>> hidden = SplitHidden(primary, cheap, None, None, project)
    >>> torch.allclose(hidden(x), project(torch.cat([x1, cheap(x1)], 1)), atol=1e-6)
    True
"""

from __future__ import annotations

import torch
from torch import nn

from .norm import conv_like

__all__ = ["SplitHidden", "conv_part"]


def conv_part(
    conv: nn.Conv2d, out_chs: slice | None = None, in_chs: slice | None = None, bias: bool = True
) -> nn.Conv2d:
    """The part of ``conv`` making the ``out_chs`` outputs from the ``in_chs`` inputs (a depthwise convolution:
    ``out_chs`` only, the inputs follow); with its bias (of those outputs) or without.

    Examples::

        >>> conv = nn.Conv2d(4, 6, 1)
        >>> part = conv_part(conv, in_chs=slice(0, 2), bias=False)
        >>> part.in_channels, part.out_channels, part.bias is None
        (2, 6, True)
        >>> conv_part(nn.Conv2d(4, 4, 3, groups=4), out_chs=slice(2, 4)).groups
        2
    """
    out_chs = out_chs or slice(None)
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
    if conv.groups > 1 and not (depthwise and in_chs is None):
        raise ValueError(f"only whole depthwise convolutions split by outputs, got groups={conv.groups}")
    kernel = conv.weight.detach()[out_chs]
    if in_chs is not None:
        kernel = kernel[:, in_chs]
    kept = conv.bias.detach()[out_chs] if bias and conv.bias is not None else None
    return conv_like(conv, kernel.contiguous(), kept, groups=kernel.shape[0] if depthwise else 1)


class SplitHidden(nn.Module):
    """A Ghost bottleneck from its input to its projection's primary features, ghost1's halves kept apart.

    ``primary`` and ``cheap`` are ghost1's (any norms in them act on their own half); ``conv_dw`` (the strided
    depthwise convolution, its norm folded) and ``project``'s first layer (the projection's primary 1x1 convolution)
    are split by channel halves; ``se`` (timm's ``SqueezeExcite``) pools both halves and gates each with its part;
    the rest of ``project`` (its norm, activation) follows the sum of the two parts.

    Args:
        primary: ghost1's primary convolution block, making ``c`` channels.
        cheap: ghost1's cheap operation, ``c`` channels from ``c`` (ratio 2, no trim).
        conv_dw: the block's depthwise convolution over ``2c`` channels (norm folded), or ``None``.
        se: the block's squeeze-excite over ``2c`` channels, or ``None``.
        project: ghost2's primary convolution block: a 1x1 ``Conv2d`` from ``2c`` channels, then its other layers.
    """

    def __init__(
        self,
        primary: nn.Module,
        cheap: nn.Module,
        conv_dw: nn.Conv2d | None,
        se: nn.Module | None,
        project: nn.Sequential,
    ) -> None:
        super().__init__()
        conv = project[0]
        if not isinstance(conv, nn.Conv2d) or conv.in_channels % 2:
            raise ValueError(f"project must start with a Conv2d over an even number of channels, got {conv}")
        self.chs = chs = conv.in_channels // 2
        first, second = slice(0, chs), slice(chs, 2 * chs)
        self.primary = primary
        self.cheap = cheap
        self.conv_dw1 = None if conv_dw is None else conv_part(conv_dw, first)
        self.conv_dw2 = None if conv_dw is None else conv_part(conv_dw, second)
        self.se = se
        self.project1 = conv_part(conv, in_chs=first)
        self.project2 = conv_part(conv, in_chs=second, bias=False)
        self.project_tail = nn.Sequential(*list(project)[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary(x)
        x2 = self.cheap(x1)
        if self.conv_dw1 is not None and self.conv_dw2 is not None:
            x1 = self.conv_dw1(x1)
            x2 = self.conv_dw2(x2)
        if self.se is not None:
            pooled = torch.cat([x1.mean((2, 3), keepdim=True), x2.mean((2, 3), keepdim=True)], dim=1)
            gate = self.se.gate(self.se.conv_expand(self.se.act1(self.se.conv_reduce(pooled))))
            x1 = x1 * gate[:, : self.chs]
            x2 = x2 * gate[:, self.chs :]
        return self.project_tail(self.project1(x1) + self.project2(x2))
