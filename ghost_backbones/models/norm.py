"""Normalization layers for the GhostNet backbones, and conv + norm folding for deploy fusion.

``norm_layer`` accepted by the models is a name (``'batchnorm'``, ``'frozenbn'``, ``'groupnorm'``,
``'syncbn'``) or any callable taking ``num_channels`` and returning a module. Every norm keeps the
BatchNorm parameter names (``weight``, ``bias``, ``running_mean``, ``running_var``) where it has them,
so checkpoints load across norm types.

:func:`resolve_norm_layer` turns any of them into a factory ``(num_channels, device=None, dtype=None)``, the
timm way of building every layer on the requested device and dtype (``device='meta'``, ``dtype=torch.bfloat16``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

__all__ = [
    "NormFactory",
    "NormLayer",
    "conv_like",
    "factory_kwargs",
    "fold_norm",
    "fuse_conv_norm",
    "fuse_sequential",
    "group_norm",
    "is_foldable_norm",
    "module_factory_kwargs",
    "replace_batchnorms",
    "resolve_norm_layer",
]

NormLayer = Callable[..., nn.Module]


def factory_kwargs(device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """timm's ``dd`` (``{'device': ..., 'dtype': ...}``) holding only the values that were given.

    Layers get ``**factory_kwargs(device, dtype)``; leaving out the unset ones keeps timm layers of releases that
    predate their ``device``/``dtype`` arguments working when none is requested.

    Args:
        device: where to allocate parameters and buffers (``'meta'`` allocates nothing).
        dtype: floating point type of parameters and buffers.

    Examples::

        >>> factory_kwargs("meta", None), factory_kwargs(None, torch.bfloat16)
        ({'device': 'meta'}, {'dtype': torch.bfloat16})
    """
    return {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}


def module_factory_kwargs(module: nn.Module) -> dict[str, Any]:
    """``device``/``dtype`` of ``module``'s first parameter, to build a replacement layer next to it.

    Args:
        module: a module; one without parameters gives ``{}`` (defaults).

    Examples::

        >>> module_factory_kwargs(nn.Linear(2, 2, dtype=torch.float64))
        {'device': device(type='cpu'), 'dtype': torch.float64}
    """
    param = next(module.parameters(), None)
    return {} if param is None else {"device": param.device, "dtype": param.dtype}


def group_norm(
    num_channels: int,
    max_groups: int = 32,
    eps: float = 1e-5,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.GroupNorm:
    """GroupNorm whose group count divides ``num_channels``: ``gcd(num_channels, max_groups)`` groups.

    GhostNet's channel counts (multiples of 4, ghost halves of them, 1280 in the head) are not all multiples
    of 32, so the group count is chosen per layer and always divides the channels.

    Args:
        num_channels: channels to normalize.
        max_groups: the most groups to use (32 as in the GroupNorm paper).
        eps: added to the variance.
        device: device of the affine parameters.
        dtype: dtype of the affine parameters.

    Examples::

        >>> group_norm(40).num_groups, group_norm(96).num_groups, group_norm(1280).num_groups
        (8, 32, 32)
    """
    if num_channels < 1 or max_groups < 1:
        raise ValueError(f"group_norm needs num_channels >= 1 and max_groups >= 1, got {num_channels}, {max_groups}")
    return nn.GroupNorm(math.gcd(num_channels, max_groups), num_channels, eps=eps, device=device, dtype=dtype)


def replace_batchnorms(module: nn.Module, norm_layer: NormLayer) -> int:
    """Swap every ``BatchNorm2d`` under ``module`` for ``norm_layer(num_features)`` in place; returns how many.

    For models whose classes hard-code ``nn.BatchNorm2d`` (torchvision's segmentation heads): each replacement is
    built on the replaced norm's device and dtype (:class:`NormFactory`). ``SyncBatchNorm`` and frozen norms are
    left alone.

    Examples::

        >>> head = nn.Sequential(nn.Conv2d(8, 40, 3), nn.BatchNorm2d(40), nn.ReLU())
        >>> replace_batchnorms(head, group_norm), type(head[1]).__name__, head[1].num_groups
        (1, 'GroupNorm', 8)
    """
    factory = resolve_norm_layer(norm_layer)
    swapped = 0
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                setattr(parent, name, factory(child.num_features, **module_factory_kwargs(child)))
                swapped += 1
    return swapped


_NORM_LAYERS: dict[str, NormLayer] = {
    "batchnorm": nn.BatchNorm2d,
    "frozenbn": FrozenBatchNorm2d,
    "groupnorm": group_norm,
    "syncbn": nn.SyncBatchNorm,
}
_ALIASES = {"bn": "batchnorm", "batchnorm2d": "batchnorm", "frozenbatchnorm2d": "frozenbn", "gn": "groupnorm"}


def _takes_factory_kwargs(layer: Callable[..., nn.Module]) -> bool:
    try:
        params = inspect.signature(layer).parameters
    except (TypeError, ValueError):  # no introspectable signature (some builtins, C extensions)
        return False
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return has_var_kw or {"device", "dtype"} <= params.keys()


class NormFactory:
    """A norm layer made callable as ``factory(num_channels, device=None, dtype=None)``.

    Layers that take ``device``/``dtype`` (``nn.BatchNorm2d``, ``nn.SyncBatchNorm``, :func:`group_norm`,
    ``partial(nn.GroupNorm, 4)``) get them at construction; others (torchvision's ``FrozenBatchNorm2d``, a
    ``lambda c: ...``) are built with ``num_channels`` only and then moved with ``.to(device, dtype)``.

    Args:
        layer: the norm class or callable taking ``num_channels``.

    Examples::

        >>> NormFactory(FrozenBatchNorm2d)(4, device="meta").running_mean.device
        device(type='meta')
        >>> NormFactory(lambda c: nn.GroupNorm(2, c))(4, dtype=torch.bfloat16).weight.dtype
        torch.bfloat16
    """

    def __init__(self, layer: Callable[..., nn.Module]) -> None:
        self.layer = layer
        self.takes_factory_kwargs = _takes_factory_kwargs(layer)

    def __call__(
        self, num_channels: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> nn.Module:
        dd = factory_kwargs(device, dtype)
        if self.takes_factory_kwargs or not dd:
            return self.layer(num_channels, **dd)
        return self.layer(num_channels).to(**dd)

    def __repr__(self) -> str:
        return f"NormFactory({getattr(self.layer, '__name__', self.layer)!r})"


def resolve_norm_layer(norm_layer: str | NormLayer | None) -> NormFactory:
    """Turn a norm name or callable into a factory ``(num_channels, device=None, dtype=None) -> nn.Module``.

    Args:
        norm_layer: ``'batchnorm'`` (default when ``None``), ``'frozenbn'`` (torchvision's
            ``FrozenBatchNorm2d``), ``'groupnorm'`` (see :func:`group_norm`), ``'syncbn'``
            (``nn.SyncBatchNorm``), or a callable such as ``partial(nn.GroupNorm, 4)``.

    Examples::

        >>> resolve_norm_layer("frozenbn")(8)
        FrozenBatchNorm2d(8, eps=1e-05)
        >>> from functools import partial
        >>> resolve_norm_layer(partial(nn.GroupNorm, 2))(8).num_groups
        2
        >>> resolve_norm_layer("groupnorm")(8, device="meta").weight.is_meta
        True
    """
    if isinstance(norm_layer, NormFactory):
        return norm_layer
    if norm_layer is None:
        return NormFactory(nn.BatchNorm2d)
    if isinstance(norm_layer, str):
        key = norm_layer.lower().replace("_", "").replace("-", "")
        key = _ALIASES.get(key, key)
        if key not in _NORM_LAYERS:
            raise ValueError(f"norm_layer must be one of {sorted(_NORM_LAYERS)} or a callable, got {norm_layer!r}")
        return NormFactory(_NORM_LAYERS[key])
    if callable(norm_layer):
        return NormFactory(norm_layer)
    raise TypeError(f"norm_layer must be a str or a callable taking num_channels, got {type(norm_layer).__name__}")


def is_foldable_norm(norm: nn.Module) -> bool:
    """True when ``norm`` is a per-channel affine map at inference (BatchNorm with running stats, FrozenBN).

    Args:
        norm: the norm module to check.

    Examples::

        >>> is_foldable_norm(nn.BatchNorm2d(4)), is_foldable_norm(nn.GroupNorm(2, 4))
        (True, False)
    """
    if isinstance(norm, nn.modules.batchnorm._BatchNorm):
        return norm.running_mean is not None and norm.running_var is not None
    return all(isinstance(getattr(norm, n, None), torch.Tensor) for n in ("running_mean", "running_var")) and hasattr(
        norm, "eps"
    )


def fold_norm(kernel: torch.Tensor, bias: torch.Tensor | None, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an inference-mode norm that follows a conv into the conv's ``kernel`` and ``bias``.

    Args:
        kernel: conv weight ``(out, in/groups, kh, kw)``.
        bias: conv bias ``(out,)`` or ``None``.
        norm: a foldable norm (see :func:`is_foldable_norm`) over ``out`` channels.

    Returns:
        ``(kernel * scale, (bias - mean) * scale + beta)`` with ``scale = gamma / sqrt(var + eps)``.

    Examples::

        >>> bn = nn.BatchNorm2d(2).eval()
        >>> k, b = fold_norm(torch.ones(2, 1, 1, 1), None, bn)
        >>> torch.allclose(k.flatten(), torch.full((2,), (1 + 1e-5) ** -0.5)), b.tolist()
        (True, [0.0, 0.0])
    """
    if not is_foldable_norm(norm):
        raise ValueError(f"cannot fold {type(norm).__name__} into a conv: it has no running statistics")
    std = (norm.running_var + norm.eps).sqrt()
    gamma = norm.weight if norm.weight is not None else torch.ones_like(std)
    beta = norm.bias if norm.bias is not None else torch.zeros_like(std)
    scale = gamma / std
    if bias is None:
        bias = torch.zeros_like(norm.running_mean)
    return kernel * scale.reshape(-1, 1, 1, 1), beta + (bias - norm.running_mean) * scale


def fuse_conv_norm(conv: nn.Conv2d, norm: nn.Module) -> nn.Conv2d:
    """Return a new ``nn.Conv2d`` (with bias) computing ``norm(conv(x))`` in inference mode.

    Args:
        conv: the convolution (any stride, dilation, groups).
        norm: a foldable norm over ``conv.out_channels``.

    Examples::

        >>> conv, bn = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4).eval()
        >>> x = torch.rand(1, 3, 8, 8)
        >>> torch.allclose(fuse_conv_norm(conv, bn)(x), bn(conv(x)), atol=1e-6)
        True
    """
    kernel, bias = fold_norm(conv.weight.detach(), None if conv.bias is None else conv.bias.detach(), norm)
    return conv_like(conv, kernel, bias)


def conv_like(ref: nn.Conv2d, kernel: torch.Tensor, bias: torch.Tensor | None, groups: int | None = None) -> nn.Conv2d:
    """A new ``nn.Conv2d`` with ``ref``'s geometry, mode and trainability, holding ``kernel`` and ``bias``.

    The one way fused, merged and split convolutions are made (:func:`fuse_conv_norm`, GhostNetV3's branch merging,
    :func:`ghost_backbones.models.split_hidden.conv_part`). The channels follow ``kernel`` (``(out, in / groups, kh,
    kw)``); ``groups`` defaults to ``ref``'s; ``bias=None`` makes a convolution without one.

    Examples::

        >>> ref = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False).requires_grad_(False)
        >>> conv = conv_like(ref, torch.ones(4, 2, 3, 3), torch.zeros(4))
        >>> conv.stride, conv.weight.requires_grad, float(conv.weight.sum())
        ((2, 2), False, 72.0)
        >>> conv_like(ref, torch.ones(3, 1, 3, 3), None, groups=1).in_channels
        1
    """
    groups = ref.groups if groups is None else groups
    conv = nn.Conv2d(
        kernel.shape[1] * groups,
        kernel.shape[0],
        ref.kernel_size,
        stride=ref.stride,
        padding=ref.padding,
        dilation=ref.dilation,
        groups=groups,
        bias=bias is not None,
        padding_mode=ref.padding_mode,
        device=kernel.device,
        dtype=kernel.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(kernel)
        if bias is not None:
            conv.bias.copy_(bias)
    conv.weight.requires_grad_(ref.weight.requires_grad)  # frozen stays frozen
    if bias is not None:
        conv.bias.requires_grad_(ref.weight.requires_grad)
    conv.train(ref.training)
    return conv


def fuse_sequential(seq: nn.Sequential) -> None:
    """Fuse, in place, every ``Conv2d`` directly followed by a foldable norm inside ``seq``.

    The conv is replaced by the fused conv and the norm by ``nn.Identity`` (indices stay stable); pairs whose
    norm cannot be folded (e.g. GroupNorm) are left as they are.

    Args:
        seq: a sequential container such as ``[conv, bn, act]`` or timm's shortcut ``[dw, bn, pw, bn]``.

    Examples::

        >>> seq = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU())
        >>> fuse_sequential(seq.eval())
        >>> [type(m).__name__ for m in seq]
        ['Conv2d', 'Identity', 'ReLU']
    """
    for i in range(len(seq) - 1):
        conv, norm = seq[i], seq[i + 1]
        if isinstance(conv, nn.Conv2d) and is_foldable_norm(norm):
            seq[i] = fuse_conv_norm(conv, norm)
            seq[i + 1] = nn.Identity()
