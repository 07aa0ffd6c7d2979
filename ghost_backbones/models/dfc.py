"""GhostNetV2's DFC attention: the decoupled-conv branch, its 2x pooling and the sigmoid gate.

GhostNetV2 (Tang et al., NeurIPS 2022) multiplies a Ghost module's output with an attention map computed at half
resolution from decoupled ``1x5``/``5x1`` depthwise convolutions, upsampled (nearest) to the output size.

Eager inference takes an in-place fast path for the gate (:func:`dfc_gate_`, bit-identical to :func:`dfc_gate`);
TorchScript, FX symbolic tracing, ``torch.jit.trace``, ``torch.compile``/``torch.export`` and autograd all see the
reference ops. :func:`dfc_pool` checks the input size, so it is registered with timm as an FX leaf
(``register_notrace_function``): traced graphs call it instead of branching on symbolic shapes.
"""

# no ``from __future__ import annotations``: TorchScript reads the real annotations of the @torch.jit.unused stub
import torch
import torch.nn.functional as F
from timm.models import register_notrace_function
from torch import nn

from .norm import NormFactory, resolve_norm_layer

__all__ = ["apply_dfc_gate", "dfc_attention", "dfc_gate", "dfc_gate_", "dfc_pool", "fast_inference"]


@torch.jit.unused
def fast_inference(x: torch.Tensor) -> bool:
    """True when in-place inference shortcuts may run: a real tensor, no autograd, NCHW-contiguous, not traced.

    ``False`` for FX proxies (symbolic tracing), under ``torch.jit.trace``, ``torch.compile`` and ``torch.export``;
    never called from TorchScript (:func:`apply_dfc_gate` checks ``torch.jit.is_scripting()`` first).

    Args:
        x: the tensor about to be processed.

    Examples::

        >>> with torch.no_grad():
        ...     fast_inference(torch.rand(1, 2, 4, 4))
        True
        >>> fast_inference(torch.rand(1, 2, 4, 4))  # grad mode on
        False
    """
    return (
        isinstance(x, torch.Tensor)  # an FX Proxy is not a tensor
        and not torch.is_grad_enabled()
        and x.is_contiguous()
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
    )


def dfc_attention(
    in_chs: int,
    out_chs: int,
    kernel_size: int = 1,
    stride: int = 1,
    dilation: int = 1,
    norm_layer: NormFactory | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """GhostNetV2's DFC (decoupled fully connected) attention branch, before its sigmoid gate.

    A pointwise conv followed by a horizontal ``1x5`` and a vertical ``5x1`` depthwise conv, each normalized; it
    runs on a 2x average-pooled input and its sigmoid is upsampled (nearest) onto the Ghost module's output.

    Args:
        in_chs: input channels.
        out_chs: output channels (the Ghost module's).
        kernel_size: pointwise conv kernel (the Ghost module's primary kernel).
        stride: pointwise conv stride.
        dilation: dilation of the decoupled convs (set by ``output_stride``).
        norm_layer: norm factory (BatchNorm when ``None``).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples::

        >>> dfc_attention(16, 32)(torch.rand(1, 16, 6, 6)).shape
        torch.Size([1, 32, 6, 6])
    """
    norm = resolve_norm_layer(norm_layer)
    dd = {"device": device, "dtype": dtype}
    return nn.Sequential(
        nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False, **dd),
        norm(out_chs, **dd),
        nn.Conv2d(
            out_chs, out_chs, (1, 5), 1, (0, 2 * dilation), dilation=(1, dilation), groups=out_chs, bias=False, **dd
        ),
        norm(out_chs, **dd),
        nn.Conv2d(
            out_chs, out_chs, (5, 1), 1, (2 * dilation, 0), dilation=(dilation, 1), groups=out_chs, bias=False, **dd
        ),
        norm(out_chs, **dd),
    )


@register_notrace_function
def dfc_pool(x: torch.Tensor) -> torch.Tensor:
    """The DFC branch's 2x average pooling, with a clear error for maps too small to pool.

    An FX leaf (timm's ``register_notrace_function``): the size check needs concrete shapes.

    Args:
        x: the Ghost module input ``(N, C, H, W)``, ``H, W >= 2``.

    Examples::

        >>> dfc_pool(torch.rand(1, 4, 7, 6)).shape
        torch.Size([1, 4, 3, 3])
    """
    if x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(
            f"GhostNetV2/V3 DFC attention needs feature maps of at least 2x2, got ({x.shape[-2]}, {x.shape[-1]}): "
            "use inputs of at least 64x64 pixels (or a smaller output_stride)"
        )
    return F.avg_pool2d(x, kernel_size=2, stride=2)


def dfc_gate(out: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
    """Multiply ``out`` by ``sigmoid(res)`` upsampled (nearest) to ``out``'s size.

    Args:
        out: Ghost module output ``(N, C, H, W)``.
        res: DFC attention logits ``(N, C, h, w)`` at about half resolution.

    Examples::

        >>> dfc_gate(torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)).unique().tolist()
        [0.5]
    """
    return out * F.interpolate(torch.sigmoid(res), size=(out.shape[-2], out.shape[-1]), mode="nearest")


def dfc_gate_(out: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
    """In-place :func:`dfc_gate` for inference: no upsampled copy of the gate when the sizes are exactly 2x.

    Args:
        out: Ghost module output ``(N, C, H, W)``, overwritten.
        res: DFC attention logits ``(N, C, h, w)``, overwritten.

    Examples::

        >>> out, res = torch.rand(1, 2, 6, 4), torch.randn(1, 2, 3, 2)
        >>> torch.equal(dfc_gate_(out.clone(), res.clone()), dfc_gate(out, res))
        True
    """
    n, c, h, w = res.shape
    gate = res.sigmoid_()
    if out.shape[-2] == 2 * h and out.shape[-1] == 2 * w and out.is_contiguous():
        out.view(n, c, h, 2, w, 2).mul_(gate.view(n, c, h, 1, w, 1))
        return out
    return out.mul_(F.interpolate(gate, size=(out.shape[-2], out.shape[-1]), mode="nearest"))


def apply_dfc_gate(out: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
    """Gate ``out`` with ``res``: in place in eager inference (:func:`fast_inference`), else :func:`dfc_gate`.

    Args:
        out: Ghost module output ``(N, C, H, W)`` (overwritten on the fast path).
        res: DFC attention logits ``(N, C, h, w)`` (overwritten on the fast path).

    Examples::

        >>> out, res = torch.rand(1, 2, 6, 4), torch.randn(1, 2, 3, 2)
        >>> with torch.no_grad():
        ...     torch.equal(apply_dfc_gate(out.clone(), res.clone()), dfc_gate(out, res))
        True
    """
    if not torch.jit.is_scripting() and fast_inference(res):
        return dfc_gate_(out, res)
    return dfc_gate(out, res)
