"""What a training run prints: one summary line per epoch (losses, metric, time, ETA) on the main process.

Examples::

    >>> print(epoch_line(1, 12, {"loss": 0.4312, "loss_ce": 0.4, "loss_aux": 0.0312}, lr=0.01,
    ...                  metric=("mIoU", 45.25, 47.5), seconds=12.3, eta_s=125))
    epoch 2/12: loss 0.4312 (loss_ce 0.4000, loss_aux 0.0312), lr 1.00e-02, mIoU 45.2500 (best 47.5000), \
12.3 s, ETA 2m05s
"""

from __future__ import annotations

from .sections import TrainConfig

__all__ = ["epoch_line", "format_duration", "start_line"]


def format_duration(seconds: float) -> str:
    """``59`` -> ``'59s'``, ``125`` -> ``'2m05s'``, ``3725`` -> ``'1h02m'``.

    Examples::

        >>> format_duration(59.4), format_duration(125), format_duration(3725)
        ('59s', '2m05s', '1h02m')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def epoch_line(
    epoch: int,
    epochs: int,
    losses: dict[str, float],
    *,
    lr: float,
    metric: tuple[str, float, float | None] | None,
    seconds: float,
    eta_s: float,
) -> str:
    """The one console line of a finished epoch.

    Args:
        epoch: the epoch (0-based; shown 1-based).
        epochs: the run's epochs.
        losses: the epoch's mean losses; ``loss`` (their sum) first, the others in brackets.
        lr: the learning rate at the epoch's end.
        metric: ``(name, value, best)`` when the epoch was evaluated, else ``None``.
        seconds: the epoch's time (training and evaluation).
        eta_s: the estimated time left.
    """
    parts = [f"loss {losses.get('loss', float('nan')):.4f}"]
    others = [f"{k} {v:.4f}" for k, v in losses.items() if k != "loss"]
    if others:
        parts[0] += f" ({', '.join(others)})"
    parts.append(f"lr {lr:.2e}")
    if metric is not None:
        name, value, best = metric
        parts.append(f"{name} {value:.4f}" + (f" (best {best:.4f})" if best is not None else ""))
    parts.append(f"{seconds:.1f} s")
    if epoch + 1 < epochs:
        parts.append(f"ETA {format_duration(eta_s)}")
    return f"epoch {epoch + 1}/{epochs}: " + ", ".join(parts)


def start_line(cfg: TrainConfig, world_size: int, steps_per_epoch: int) -> str:
    """What a training run says when it starts: its effective batch, optimizer steps per epoch, EMA.

    Examples::

        >>> start_line(TrainConfig(batch_size=4, accumulate_steps=2, ema_decay=0.999), 2, 50)
        'effective batch 16 = batch_size 4 x accumulate_steps 2 x 2 process(es); 50 optimizer steps per epoch; \
evaluation on the EMA of the weights (decay 0.999)'
    """
    effective = cfg.batch_size * cfg.accumulate_steps * world_size
    ema = f"; evaluation on the EMA of the weights (decay {cfg.ema_decay})" if cfg.ema_decay > 0 else ""
    return (
        f"effective batch {effective} = batch_size {cfg.batch_size} x accumulate_steps {cfg.accumulate_steps} x "
        f"{world_size} process(es); {steps_per_epoch} optimizer steps per epoch{ema}"
    )
