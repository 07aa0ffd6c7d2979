"""GhostNet V1/V2 building blocks: Ghost module (with DFC attention), Ghost bottleneck, ConvNormAct.

Attribute names follow timm's ``timm/models/ghostnet.py`` exactly, so timm's (and Huawei's) checkpoints load
strictly. Every block implements ``reparameterize()`` (conv + norm folding) for
``timm.utils.reparameterize_model``, takes timm's ``device``/``dtype`` factory arguments, and scripts
(TorchScript) and traces (FX) as it is.

Ghost module (Han et al., CVPR 2020): a primary convolution makes ``ceil(out / ratio)`` intrinsic maps and a
cheap depthwise convolution makes the ``ghost`` maps from them; the two are concatenated. GhostNetV2 adds DFC
attention (see :mod:`.dfc`).
"""

from __future__ import annotations

from functools import partial

import torch
from timm.layers import DropPath, create_act_layer, create_conv2d, make_divisible

# timm's EfficientNet SE (``conv_reduce``/``conv_expand``): timm.layers' SqueezeExcite names its convs fc1/fc2,
# which would break loading timm's GhostNet weights; timm exports no public SE with these key names.
from timm.models._efficientnet_blocks import SqueezeExcite
from torch import nn

from .dfc import apply_dfc_gate, dfc_attention, dfc_pool
from .halves import join_halves, split_channels
from .norm import NormLayer, factory_kwargs, fuse_conv_norm, fuse_sequential, is_foldable_norm, resolve_norm_layer
from .split_hidden import SplitHidden
from .strides import block_strides

__all__ = [
    "SE_LAYER",
    "ActLayer",
    "ConvNormAct",
    "Device",
    "GhostBottleneck",
    "GhostModule",
    "GhostModuleV2",
    "block_strides",
    "make_act",
    "projection_shortcut",
]

ActLayer = str | type[nn.Module] | None
Device = torch.device | str | None

# timm's ``_SE_LAYER``: squeeze to make_divisible(chs * ratio, 4) channels, hard-sigmoid gate.
SE_LAYER = partial(SqueezeExcite, gate_layer="hard_sigmoid", rd_round_fn=partial(make_divisible, divisor=4))


def make_act(act_layer: ActLayer) -> nn.Module:
    """Instantiate an activation (in place where supported), or ``nn.Identity`` for ``None``.

    Args:
        act_layer: a timm activation name (``'relu'``, ``'hard_swish'``...), a module class, or ``None``.

    Examples::

        >>> make_act("relu"), make_act(None)
        (ReLU(inplace=True), Identity())
    """
    act = create_act_layer(act_layer, inplace=True)
    return nn.Identity() if act is None else act


def _same_padding(kernel_size: int, dilation: int) -> int:
    return dilation * (kernel_size - 1) // 2


class ConvNormAct(nn.Module):
    """Conv2d (no bias) + norm + activation, with timm's ``ConvBnAct`` parameter names (``conv``, ``bn1``).

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel_size: square kernel size.
        stride: convolution stride.
        dilation: convolution dilation (padding keeps the size for stride 1).
        groups: convolution groups.
        norm_layer: norm name or factory (see :func:`~.norm.resolve_norm_layer`), BatchNorm by default.
        act_layer: activation, ``None`` for a linear output.
        device: device of the parameters (timm's factory argument).
        dtype: dtype of the parameters.

    Examples::

        >>> m = ConvNormAct(16, 32, 3, stride=2)
        >>> m(torch.rand(1, 16, 20, 20)).shape
        torch.Size([1, 32, 10, 10])
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm_layer: str | NormLayer | None = None,
        act_layer: ActLayer = nn.ReLU,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        self.conv = create_conv2d(
            in_chs, out_chs, kernel_size, stride=stride, dilation=dilation, groups=groups, padding="", **dd
        )
        self.bn1 = resolve_norm_layer(norm_layer)(out_chs, **dd)
        self.act1 = make_act(act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv(x)))

    def reparameterize(self) -> None:
        """Fold ``bn1`` into ``conv`` (no-op for norms without running statistics, e.g. GroupNorm)."""
        if is_foldable_norm(self.bn1):
            self.conv = fuse_conv_norm(self.conv, self.bn1)
            self.bn1 = nn.Identity()


class GhostModule(nn.Module):
    """Ghost module: primary conv to ``ceil(out/ratio)`` channels, cheap depthwise conv for the rest, concat.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel_size: primary convolution kernel (1 in GhostNet).
        ratio: ``out / intrinsic`` channel ratio (2 in GhostNet).
        dw_size: kernel of the cheap depthwise operation.
        stride: primary convolution stride.
        dilation: dilation of the cheap operation (set by ``output_stride``).
        act_layer: activation after both convs, ``None`` for the linear projection module.
        norm_layer: norm name or factory, BatchNorm by default.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> m = GhostModule(16, 48)
        >>> m(torch.rand(2, 16, 8, 8)).shape
        torch.Size([2, 48, 8, 8])
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
        norm_layer: str | NormLayer | None = None,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if ratio < 2:
            raise ValueError(f"GhostModule ratio must be >= 2, got {ratio}")
        dd = factory_kwargs(device, dtype)
        norm = resolve_norm_layer(norm_layer)
        self.out_chs = out_chs
        init_chs, new_chs, self.trim = split_channels(out_chs, ratio)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_chs, init_chs, kernel_size, stride, kernel_size // 2, bias=False, **dd),
            norm(init_chs, **dd),
            make_act(act_layer),
        )
        padding = _same_padding(dw_size, dilation)
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(init_chs, new_chs, dw_size, 1, padding, dilation=dilation, groups=init_chs, bias=False, **dd),
            norm(new_chs, **dd),
            make_act(act_layer),
        )

    def _ghost(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        return join_halves(x1, x2, self.out_chs, self.trim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._ghost(x)

    def reparameterize(self) -> None:
        """Fold the norms into the primary and cheap convolutions."""
        fuse_sequential(self.primary_conv)
        fuse_sequential(self.cheap_operation)


class GhostModuleV2(GhostModule):
    """Ghost module with GhostNetV2's DFC attention (timm's ``GhostModuleV2``, mode ``attn``).

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel_size: primary convolution kernel.
        ratio: ``out / intrinsic`` channel ratio.
        dw_size: kernel of the cheap depthwise operation.
        stride: primary convolution stride.
        dilation: dilation of the cheap operation and the DFC convs.
        act_layer: activation after both Ghost convs.
        norm_layer: norm name or factory, BatchNorm by default.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> m = GhostModuleV2(16, 48)
        >>> m(torch.rand(2, 16, 9, 9)).shape
        torch.Size([2, 48, 9, 9])
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
        norm_layer: str | NormLayer | None = None,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        dd = factory_kwargs(device, dtype)
        norm = resolve_norm_layer(norm_layer)
        super().__init__(in_chs, out_chs, kernel_size, ratio, dw_size, stride, dilation, act_layer, norm, **dd)
        self.short_conv = dfc_attention(in_chs, out_chs, kernel_size, stride, dilation, norm, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.short_conv(dfc_pool(x))
        return apply_dfc_gate(self._ghost(x), res)

    def reparameterize(self) -> None:
        """Fold the norms of the Ghost convs and of the DFC branch."""
        super().reparameterize()
        fuse_sequential(self.short_conv)


def projection_shortcut(
    in_chs: int,
    out_chs: int,
    kernel_size: int,
    stride: int,
    dilation: int,
    norm_layer: str | NormLayer | None = None,
    device: Device = None,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """Ghost bottleneck shortcut when shape changes: depthwise ``k x k`` (strided) conv, norm, 1x1 conv, norm.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel_size: depthwise kernel (the bottleneck's).
        stride: depthwise stride.
        dilation: depthwise dilation.
        norm_layer: norm name or factory, BatchNorm by default.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> projection_shortcut(16, 24, 3, 2, 1)(torch.rand(1, 16, 8, 8)).shape
        torch.Size([1, 24, 4, 4])
    """
    dd = factory_kwargs(device, dtype)
    norm = resolve_norm_layer(norm_layer)
    padding = _same_padding(kernel_size, dilation)
    return nn.Sequential(
        nn.Conv2d(in_chs, in_chs, kernel_size, stride, padding, dilation=dilation, groups=in_chs, bias=False, **dd),
        norm(in_chs, **dd),
        nn.Conv2d(in_chs, out_chs, 1, stride=1, padding=0, bias=False, **dd),
        norm(out_chs, **dd),
    )


class GhostBottleneck(nn.Module):
    """Ghost bottleneck (V1, and V2 with ``attn=True``): ghost1 expand, [strided dw], [SE], ghost2 project, +shortcut.

    Args:
        in_chs: input channels.
        mid_chs: expansion channels.
        out_chs: output channels.
        dw_kernel_size: kernel of the strided depthwise conv and of the projection shortcut.
        stride: nominal stride (2 adds ``conv_dw``/``bn_dw`` and a projection shortcut).
        dilation: dilation at the block input (``output_stride``).
        out_dilation: dilation after the downsampling point, see :func:`block_strides`.
        act_layer: activation.
        se_ratio: squeeze-excite ratio, 0 for none.
        attn: use GhostNetV2's DFC attention in ghost1.
        norm_layer: norm name or factory, BatchNorm by default.
        drop_path_rate: stochastic depth on the residual branch.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> block = GhostBottleneck(16, 48, 24, 3, stride=2, se_ratio=0.25)
        >>> block(torch.rand(2, 16, 16, 16)).shape
        torch.Size([2, 24, 8, 8])
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
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        norm = resolve_norm_layer(norm_layer)
        applied_stride, out_dilation = block_strides(stride, dilation, out_dilation)
        self.stride = applied_stride
        ghost = GhostModuleV2 if attn else GhostModule
        self.ghost1 = ghost(in_chs, mid_chs, dilation=dilation, act_layer=act_layer, norm_layer=norm, **dd)
        if stride > 1:
            padding = _same_padding(dw_kernel_size, dilation)
            self.conv_dw = nn.Conv2d(
                mid_chs, mid_chs, dw_kernel_size, applied_stride, padding, dilation, groups=mid_chs, bias=False, **dd
            )
            self.bn_dw = norm(mid_chs, **dd)
        else:
            self.conv_dw = None
            self.bn_dw = None
        self.se = SE_LAYER(mid_chs, rd_ratio=se_ratio, **dd) if se_ratio else None
        self.ghost2 = GhostModule(mid_chs, out_chs, dilation=out_dilation, act_layer=None, norm_layer=norm, **dd)
        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = projection_shortcut(in_chs, out_chs, dw_kernel_size, applied_stride, dilation, norm, **dd)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.hidden: SplitHidden | None = None  # set by reparameterize()
        self.split_on_deploy = True  # ghost_backbones.deploy(split_hidden=...) sets it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.hidden is not None:  # the deploy form: ghost1 .. ghost2's primary conv, halves kept apart
            x = self.hidden(x)
        else:
            x = self.ghost1(x)
            if self.conv_dw is not None:
                x = self.bn_dw(self.conv_dw(x))
            if self.se is not None:
                x = self.se(x)
        x = self.drop_path(self.ghost2(x))
        x += self.shortcut(shortcut)
        return x

    def reparameterize(self) -> None:
        """Fold ``bn_dw`` into ``conv_dw`` and the shortcut's norms into its convs (ghost modules fold their own);
        then, where ghost1 is a plain Ghost module and ``bn_dw`` folded, keep ghost1's halves apart: ghost1,
        ``conv_dw``, ``se`` and ghost2's primary convolution move into ``hidden`` (:class:`SplitHidden`)."""
        if self.conv_dw is not None and is_foldable_norm(self.bn_dw):
            self.conv_dw = fuse_conv_norm(self.conv_dw, self.bn_dw)
            self.bn_dw = nn.Identity()
        fuse_sequential(self.shortcut)
        plain = type(self.ghost1) is GhostModule and not self.ghost1.trim
        folded = self.bn_dw is None or isinstance(self.bn_dw, nn.Identity)
        if getattr(self, "split_on_deploy", True) and self.hidden is None and plain and folded:
            self.ghost1.reparameterize()
            self.ghost2.reparameterize()
            g1, g2 = self.ghost1, self.ghost2
            self.hidden = SplitHidden(g1.primary_conv, g1.cheap_operation, self.conv_dw, self.se, g2.primary_conv)
            self.ghost1 = self.conv_dw = self.bn_dw = self.se = None
            g2.primary_conv = nn.Sequential()  # ghost2 now starts from its primary features
