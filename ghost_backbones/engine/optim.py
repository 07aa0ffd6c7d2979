"""Optimizer, per-step learning-rate schedule and gradient scaler of a training run, and gradient accumulation.

The schedule is stepped once per optimizer step: with ``train.accumulate_steps = k`` an epoch of ``n`` batches
takes ``ceil(n / k)`` optimizer steps, and ``warmup_iters``, ``lr_steps`` and the run's length all count those.

Examples::

    >>> cfg = TrainConfig(lr=0.1, warmup_iters=0, lr_scheduler="cosine", epochs=2)
    >>> optimizer, scheduler, scaler = build_optimizer(nn.Linear(2, 1), cfg, None, steps_per_epoch=5)
    >>> type(optimizer).__name__, scheduler.get_last_lr()
    ('SGD', [0.1])
    >>> accumulation_plan(5, 2)
    [(2, False), (2, True), (2, False), (2, True), (1, True)]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .schedule import lr_lambda
from .sections import TrainConfig

__all__ = ["accumulation_plan", "build_optimizer", "default_param_groups", "optimizer_steps"]


def default_param_groups(model: nn.Module, weight_decay: float, norm_weight_decay: float | None) -> list[dict]:
    """The trainable parameters; with ``norm_weight_decay``, 1-d ones (norms, biases) in a group of their own.

    Examples::

        >>> [len(g["params"]) for g in default_param_groups(nn.Linear(2, 1), 1e-4, 0.0)]
        [1, 1]
    """
    if norm_weight_decay is None:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": norm_weight_decay}]


def optimizer_steps(num_batches: int, accumulate_steps: int) -> int:
    """Optimizer steps of an epoch of ``num_batches`` batches (a last, shorter accumulation still steps).

    Examples::

        >>> optimizer_steps(10, 1), optimizer_steps(10, 4)
        (10, 3)
    """
    return math.ceil(num_batches / accumulate_steps)


def accumulation_plan(num_batches: int, accumulate_steps: int) -> list[tuple[int, bool]]:
    """``(divisor, step)`` of each batch of an epoch: its loss is divided by ``divisor`` (the size of its
    accumulation group), and ``step`` says the optimizer steps after it (the group's last batch).

    A last group shorter than ``accumulate_steps`` divides by its own size, so every step averages its batches.
    """
    plan = []
    for i in range(num_batches):
        start = i - i % accumulate_steps
        end = min(num_batches, start + accumulate_steps)
        plan.append((end - start, i + 1 == end))
    return plan


def build_optimizer(
    model: nn.Module,
    cfg: TrainConfig,
    param_groups: list[dict[str, Any]] | None,
    *,
    steps_per_epoch: int,
    device: torch.device | None = None,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, torch.amp.GradScaler]:
    """Optimizer (``train.optimizer``), its schedule stepped per optimizer step, and the AMP gradient scaler.

    Args:
        model: the (unwrapped) model whose trainable parameters are optimised.
        cfg: the ``train`` section.
        param_groups: the task's groups (`Task.param_groups`), or ``None`` for :func:`default_param_groups`.
        steps_per_epoch: optimizer steps per epoch (:func:`optimizer_steps`).
        device: the training device (the scaler is enabled for ``amp`` on CUDA only).
    """
    groups = param_groups or default_param_groups(model, cfg.weight_decay, cfg.norm_weight_decay)
    if cfg.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    else:
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lr_lambda(
            cfg.lr_scheduler,
            total_iters=cfg.epochs * steps_per_epoch,
            iters_per_epoch=steps_per_epoch,
            steps=cfg.lr_steps,
            gamma=cfg.lr_gamma,
            power=cfg.poly_power,
            warmup_iters=cfg.warmup_iters,
            warmup_factor=cfg.warmup_factor,
        ),
    )
    cuda = device is not None and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and cuda)
    return optimizer, scheduler, scaler
