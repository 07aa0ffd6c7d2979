"""A Ghost bottleneck's strides under ``output_stride``: where it downsamples, and the dilation after that."""

from __future__ import annotations

__all__ = ["block_strides"]


def block_strides(stride: int, dilation: int, out_dilation: int | None) -> tuple[int, int]:
    """Resolve a bottleneck's applied stride and output-side dilation.

    ``stride`` is the block's nominal stride (it decides which layers exist, so weights always match). When
    ``output_stride`` is reached the builder passes ``out_dilation = dilation * stride``: the block then runs its
    strided convs with stride 1 and everything after its downsampling point with ``out_dilation``.

    Args:
        stride: nominal stride, 1 or 2.
        dilation: dilation at the block input.
        out_dilation: dilation after the downsampling point, ``None`` for ``dilation``.

    Returns:
        ``(applied_stride, out_dilation)``.

    Examples::

        >>> block_strides(2, 1, None), block_strides(2, 1, 2), block_strides(1, 2, None)
        ((2, 1), (1, 2), (1, 2))
    """
    if stride < 1 or dilation < 1:
        raise ValueError(f"stride and dilation must be >= 1, got stride={stride}, dilation={dilation}")
    out_dilation = dilation if out_dilation is None else out_dilation
    if out_dilation == dilation:
        return stride, dilation
    if stride > 1 and out_dilation == dilation * stride:
        return 1, out_dilation
    raise ValueError(
        f"out_dilation must be dilation ({dilation}) or dilation * stride ({dilation * stride}), got {out_dilation}"
    )
