"""Learning-rate schedules stepped every iteration: linear warmup, then multistep, cosine or poly.

Examples::

    >>> f = lr_lambda("multistep", total_iters=100, iters_per_epoch=10, steps=[5, 8], warmup_iters=10)
    >>> round(f(0), 4), f(10), f(50), f(80)
    (0.001, 1.0, 0.1, 0.010000000000000002)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["lr_lambda"]


def lr_lambda(
    kind: str,
    *,
    total_iters: int,
    iters_per_epoch: int,
    steps: Sequence[int] = (),
    gamma: float = 0.1,
    power: float = 0.9,
    warmup_iters: int = 0,
    warmup_factor: float = 0.001,
) -> Callable[[int], float]:
    """The multiplier of the base learning rate at iteration ``it`` (for ``torch.optim.lr_scheduler.LambdaLR``).

    Args:
        kind: ``"multistep"``, ``"cosine"`` or ``"poly"``.
        total_iters: iterations of the whole run.
        iters_per_epoch: iterations per epoch (multistep ``steps`` are epochs).
        steps: epochs at which multistep multiplies by ``gamma``.
        gamma: multistep factor.
        power: poly exponent.
        warmup_iters: linear warmup length (capped at the run's length).
        warmup_factor: multiplier at iteration 0.
    """
    if kind not in ("multistep", "cosine", "poly"):
        raise ValueError(f"lr schedule must be one of ['multistep', 'cosine', 'poly'], got {kind!r}")
    total_iters = max(1, total_iters)
    warmup_iters = min(warmup_iters, total_iters)
    milestones = sorted(s * iters_per_epoch for s in steps)

    def main(it: int) -> float:
        if kind == "multistep":
            return gamma ** sum(it >= m for m in milestones)
        progress = min(it, total_iters) / total_iters
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return (1.0 - progress) ** power

    def fn(it: int) -> float:
        factor = main(it)
        if it < warmup_iters:
            alpha = it / warmup_iters
            factor *= warmup_factor * (1 - alpha) + alpha
        return factor

    return fn
