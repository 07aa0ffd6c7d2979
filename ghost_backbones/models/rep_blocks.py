"""GhostNetV3 blocks: Ghost module and bottleneck with re-parameterisable branches.

GhostNetV3 (Liu et al., 2024) trains every convolution of the Ghost module and of the strided depthwise conv as a
sum of ``num_branches`` conv + norm branches, plus a 1x1 "scale" branch and, where shapes allow, a norm-only
identity branch (RepVGG/MobileOne style). ``reparameterize()`` merges the branches into one conv with bias, so the
deployed network has exactly GhostNet's layout. Attribute names follow timm's ``GhostModuleV3`` and
``GhostBottleneckV3``.

Both forms script (TorchScript) and trace (FX): the forward picks the form from which modules are ``None``
(``primary_conv`` / ``conv_dw`` before merging, the ``*_rpr_*`` branches after it), which TorchScript resolves
when it compiles the module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

from .blocks import SE_LAYER, ActLayer, ConvNormAct, Device, block_strides, make_act, projection_shortcut
from .dfc import apply_dfc_gate, dfc_attention, dfc_pool
from .halves import join_halves, split_channels
from .norm import NormLayer, conv_like, factory_kwargs, fold_norm, fuse_sequential, is_foldable_norm, resolve_norm_layer

__all__ = ["GhostBottleneckV3", "GhostModuleV3", "merge_branches"]


def _identity_kernel(norm_like: torch.Tensor, channels: int, groups: int, kernel_size: int) -> torch.Tensor:
    in_per_group = channels // groups
    kernel = torch.zeros(
        channels, in_per_group, kernel_size, kernel_size, dtype=norm_like.dtype, device=norm_like.device
    )
    centre = kernel_size // 2
    for i in range(channels):
        kernel[i, i % in_per_group, centre, centre] = 1.0
    return kernel


def merge_branches(
    convs: Sequence[ConvNormAct], scale: ConvNormAct | None = None, skip: nn.Module | None = None
) -> nn.Conv2d:
    """Merge parallel ``conv + norm`` branches (same stride/dilation/groups) into one ``nn.Conv2d`` with bias.

    ``scale`` is a 1x1 branch zero-padded to the main kernel; ``skip`` is a norm-only identity branch (its kernel
    is a centred delta). Works for any dilation: the centre tap of a dilated kernel still reads the same pixel.

    Args:
        convs: the ``k x k`` branches (each with ``conv`` and a foldable ``bn1``).
        scale: optional ``1 x 1`` branch.
        skip: optional identity norm branch (requires ``in == out`` channels and stride 1).

    Examples::

        >>> branches = [ConvNormAct(4, 4, 3, groups=4, act_layer=None).eval() for _ in range(3)]
        >>> x = torch.rand(1, 4, 8, 8)
        >>> merged = merge_branches(branches)
        >>> torch.allclose(merged(x), sum(b(x) for b in branches), atol=1e-5)
        True
    """
    ref = convs[0].conv
    kernel_size = ref.kernel_size[0]
    kernel = torch.zeros_like(ref.weight)
    bias = torch.zeros(ref.out_channels, dtype=kernel.dtype, device=kernel.device)
    for branch in convs:
        k, b = fold_norm(branch.conv.weight, branch.conv.bias, branch.bn1)
        kernel, bias = kernel + k, bias + b
    if scale is not None:
        k, b = fold_norm(scale.conv.weight, scale.conv.bias, scale.bn1)
        pad = kernel_size // 2
        kernel, bias = kernel + F.pad(k, [pad, pad, pad, pad]), bias + b
    if skip is not None:
        k, b = fold_norm(_identity_kernel(kernel, ref.out_channels, ref.groups, kernel_size), None, skip)
        kernel, bias = kernel + k, bias + b
    return conv_like(ref, kernel, bias)


def _foldable(*modules: nn.Module | None) -> bool:
    norms = []
    for m in modules:
        if m is None:
            continue
        norms.append(m.bn1 if isinstance(m, ConvNormAct) else m)
    return all(is_foldable_norm(n) for n in norms)


class GhostModuleV3(nn.Module):
    """GhostNetV3 Ghost module: re-parameterisable primary and cheap convs, optional DFC attention.

    Training form: ``x1 = act(sum(primary_rpr_conv(x)))``; ``x2 = act(cheap_rpr_scale(x1) + cheap_rpr_skip(x1) +
    sum(cheap_rpr_conv(x1)))``; output ``cat(x1, x2)`` (times the DFC gate with ``attn``). After
    ``reparameterize()``: ``primary_conv`` and ``cheap_operation`` are single convs with bias and the ``*_rpr_*``
    branches are ``None``.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel_size: primary kernel (1).
        ratio: ``out / intrinsic`` channel ratio (2).
        dw_size: cheap depthwise kernel (3).
        stride: primary stride.
        dilation: dilation of the cheap convs and the DFC convs.
        act_layer: activation, ``None`` for the linear projection module.
        attn: add GhostNetV2's DFC attention (timm's mode ``shortcut``).
        norm_layer: norm name or factory, BatchNorm by default.
        num_branches: parallel ``k x k`` branches per conv (3).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> m = GhostModuleV3(16, 32, attn=True).eval()
        >>> x = torch.rand(1, 16, 8, 8)
        >>> y = m(x)
        >>> m.reparameterize()
        >>> y.shape, torch.allclose(m(x), y, atol=1e-5)
        (torch.Size([1, 32, 8, 8]), True)
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 1,
        ratio: int = 2,
        dw_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        act_layer: ActLayer = nn.ReLU,
        attn: bool = False,
        norm_layer: str | NormLayer | None = None,
        num_branches: int = 3,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if ratio < 2:
            raise ValueError(f"GhostModuleV3 ratio must be >= 2, got {ratio}")
        if num_branches < 1:
            raise ValueError(f"num_branches must be >= 1, got {num_branches}")
        dd = factory_kwargs(device, dtype)
        norm = resolve_norm_layer(norm_layer)
        branch = dict(norm_layer=norm, act_layer=None, **dd)
        self.out_chs = out_chs
        init_chs, new_chs, self.trim = split_channels(out_chs, ratio)
        self.infer_mode = False
        self.primary_rpr_conv = nn.ModuleList(
            ConvNormAct(in_chs, init_chs, kernel_size, stride, **branch) for _ in range(num_branches)
        )
        self.primary_activation = make_act(act_layer)
        self.cheap_rpr_skip = norm(init_chs, **dd) if new_chs == init_chs else None
        self.cheap_rpr_conv = nn.ModuleList(
            ConvNormAct(init_chs, new_chs, dw_size, 1, dilation, init_chs, **branch) for _ in range(num_branches)
        )
        self.cheap_rpr_scale = ConvNormAct(init_chs, new_chs, 1, 1, 1, init_chs, **branch)
        self.cheap_activation = make_act(act_layer)
        self.short_conv = dfc_attention(in_chs, out_chs, kernel_size, stride, dilation, norm, **dd) if attn else None
        self.primary_conv = None  # the merged convs, set by reparameterize()
        self.cheap_operation = None

    def _primary(self, x: torch.Tensor) -> torch.Tensor:
        if self.primary_conv is not None:
            y = self.primary_conv(x)
        else:
            y = self.primary_rpr_conv[0](x)
            for i, branch in enumerate(self.primary_rpr_conv):
                if i > 0:
                    y += branch(x)
        return y

    def _cheap(self, x1: torch.Tensor) -> torch.Tensor:
        if self.cheap_operation is not None:
            y = self.cheap_operation(x1)
        else:
            y = self.cheap_rpr_scale(x1)
            if self.cheap_rpr_skip is not None:
                y += self.cheap_rpr_skip(x1)
            for branch in self.cheap_rpr_conv:
                y += branch(x1)
        return y

    def _ghost(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary_activation(self._primary(x))
        x2 = self.cheap_activation(self._cheap(x1))
        return join_halves(x1, x2, self.out_chs, self.trim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.short_conv is None:
            return self._ghost(x)
        res = self.short_conv(dfc_pool(x))
        return apply_dfc_gate(self._ghost(x), res)

    def reparameterize(self) -> None:
        """Merge the branches into ``primary_conv``/``cheap_operation`` and fold the DFC norms.

        A no-op for the branches when a norm has no running statistics (e.g. GroupNorm): they cannot be merged.
        """
        if self.short_conv is not None:
            fuse_sequential(self.short_conv)
        if self.infer_mode or not _foldable(*self.primary_rpr_conv, *self.cheap_rpr_conv, self.cheap_rpr_scale):
            return
        if not _foldable(self.cheap_rpr_skip):
            return
        self.primary_conv = merge_branches(self.primary_rpr_conv)
        self.cheap_operation = merge_branches(self.cheap_rpr_conv, self.cheap_rpr_scale, self.cheap_rpr_skip)
        self.primary_rpr_conv = self.cheap_rpr_conv = self.cheap_rpr_scale = self.cheap_rpr_skip = None
        self.infer_mode = True


class GhostBottleneckV3(nn.Module):
    """GhostNetV3 bottleneck: re-parameterisable ghost1, [strided dw branches], [SE], ghost2, + shortcut.

    Args:
        in_chs: input channels.
        mid_chs: expansion channels.
        out_chs: output channels.
        dw_kernel_size: kernel of the strided depthwise branches and of the projection shortcut.
        stride: nominal stride (2 adds ``dw_rpr_conv``/``dw_rpr_scale`` and a projection shortcut).
        dilation: dilation at the block input.
        out_dilation: dilation after the downsampling point (see ``blocks.block_strides``).
        act_layer: activation.
        se_ratio: squeeze-excite ratio, 0 for none.
        attn: DFC attention in ghost1.
        norm_layer: norm name or factory, BatchNorm by default.
        drop_path_rate: stochastic depth on the residual branch.
        num_branches: parallel branches per re-parameterisable conv.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> block = GhostBottleneckV3(16, 48, 24, 3, stride=2, se_ratio=0.25, attn=True).eval()
        >>> x = torch.rand(1, 16, 16, 16)
        >>> y = block(x)
        >>> from timm.utils import reparameterize_model
        >>> _ = reparameterize_model(block, inplace=True)
        >>> y.shape, torch.allclose(block(x), y, atol=1e-5)
        (torch.Size([1, 24, 8, 8]), True)
    """

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        dw_kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        out_dilation: int | None = None,
        act_layer: ActLayer = nn.ReLU,
        se_ratio: float = 0.0,
        attn: bool = False,
        norm_layer: str | NormLayer | None = None,
        drop_path_rate: float = 0.0,
        num_branches: int = 3,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        norm = resolve_norm_layer(norm_layer)
        ghost = dict(norm_layer=norm, num_branches=num_branches, **dd)
        applied_stride, out_dilation = block_strides(stride, dilation, out_dilation)
        self.stride = applied_stride
        self.infer_mode = False
        self.ghost1 = GhostModuleV3(in_chs, mid_chs, dilation=dilation, act_layer=act_layer, attn=attn, **ghost)
        self.has_dw = stride > 1
        if self.has_dw:
            dw = dict(groups=mid_chs, norm_layer=norm, act_layer=None, **dd)
            self.dw_rpr_conv = nn.ModuleList(
                ConvNormAct(mid_chs, mid_chs, dw_kernel_size, applied_stride, dilation, **dw)
                for _ in range(num_branches)
            )
            self.dw_rpr_scale = ConvNormAct(mid_chs, mid_chs, 1, applied_stride, 1, **dw)
        else:
            self.dw_rpr_conv = nn.ModuleList()
            self.dw_rpr_scale = None
        self.conv_dw = None  # the merged depthwise conv, set by reparameterize()
        self.se = SE_LAYER(mid_chs, rd_ratio=se_ratio, **dd) if se_ratio else None
        self.ghost2 = GhostModuleV3(mid_chs, out_chs, dilation=out_dilation, act_layer=None, **ghost)
        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = projection_shortcut(in_chs, out_chs, dw_kernel_size, applied_stride, dilation, norm, **dd)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.ghost1(x)
        if self.conv_dw is not None:  # merged
            x = self.conv_dw(x)
        elif self.dw_rpr_scale is not None:  # training form of a downsampling block
            x1 = self.dw_rpr_scale(x)
            for branch in self.dw_rpr_conv:
                x1 += branch(x)
            x = x1
        if self.se is not None:
            x = self.se(x)
        x = self.drop_path(self.ghost2(x))
        x += self.shortcut(shortcut)
        return x

    def reparameterize(self) -> None:
        """Merge the depthwise branches into ``conv_dw`` and fold the shortcut's norms (ghost modules do their own)."""
        if isinstance(self.shortcut, nn.Sequential):
            fuse_sequential(self.shortcut)
        if self.infer_mode:
            return
        if self.has_dw:
            if not _foldable(*self.dw_rpr_conv, self.dw_rpr_scale):
                return
            self.conv_dw = merge_branches(self.dw_rpr_conv, self.dw_rpr_scale)
        self.dw_rpr_conv = self.dw_rpr_scale = None
        self.infer_mode = True
