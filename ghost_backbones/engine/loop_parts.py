"""Pieces of the training loop, some used by tasks too: progress bars, autocast, metric lookup, data loaders, seeds.

Examples::

    >>> get_metric({"bbox": {"AP": 0.3}}, "bbox.AP")
    0.3
    >>> list(ShardSampler(range(5), rank=1, world_size=2))
    [1, 3]
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from ..errors import ConfigError, DataError, NonFiniteLossError
from . import distributed as du

__all__ = [
    "ShardSampler",
    "autocast",
    "build_loaders",
    "checked_losses",
    "get_metric",
    "progress",
    "seed_all",
    "worker_init",
]


class ShardSampler(Sampler[int]):
    """Rank ``r`` of ``n`` gets indices ``r, r + n, ...``: every sample exactly once overall (no padding)."""

    def __init__(self, dataset: Dataset, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, len(dataset), world_size))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs: Any) -> tqdm:
    """tqdm shown by the main process only (other ranks iterate silently)."""
    return tqdm(iterable, desc=desc, total=total, disable=not du.is_main_process(), dynamic_ncols=True, **kwargs)


def get_metric(metrics: dict[str, Any], path: str) -> float:
    """``get_metric({"bbox": {"AP": 0.3}}, "bbox.AP") -> 0.3``; a missing key is a clear error."""
    node: Any = metrics
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"metric {path!r} not in evaluation results (keys: {sorted(metrics)})")
        node = node[part]
    return float(node)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Mixed precision: float16 on CUDA, bfloat16 on CPU; a no-op when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_all(seed: int) -> None:
    """Seed Python, numpy and torch (each rank and epoch pass their own seed)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed Python and numpy from the seed torch gave the worker."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_loaders(
    task: Any, env: du.DistEnv, datasets: tuple[Dataset, Dataset]
) -> tuple[DataLoader, tuple[DistributedSampler, DataLoader] | None]:
    """The validation loader (each rank its shard) and, unless ``test_only``, the training sampler and loader.

    Args:
        task: the `Task` (collate function, batch sampler, validation batch size; ``cfg.train``).
        env: this process's place in the run.
        datasets: ``(train, val)`` from ``task.build_datasets()``.

    Raises:
        DataError: an empty validation set.
        ConfigError: an empty training set, or fewer images than one batch.
    """
    cfg = task.cfg.train
    train_ds, val_ds = datasets
    if len(val_ds) == 0:
        raise DataError("the validation set is empty: nothing to evaluate or to choose best.pth on")
    val_loader = DataLoader(
        val_ds,
        batch_size=task.val_batch_size,
        sampler=ShardSampler(val_ds, env.rank, env.world_size),
        num_workers=cfg.workers,
        collate_fn=task.collate_fn,
        worker_init_fn=worker_init,
    )
    if cfg.test_only:
        return val_loader, None
    if len(train_ds) == 0:
        raise ConfigError("the training set is empty: check data paths and split files")
    sampler = DistributedSampler(train_ds, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=cfg.seed)
    train_loader = DataLoader(
        train_ds,
        batch_sampler=task.train_batch_sampler(train_ds, sampler, cfg.batch_size),
        num_workers=cfg.workers,
        collate_fn=task.collate_fn,
        worker_init_fn=worker_init,
        pin_memory=env.device.type == "cuda",
    )
    if len(train_loader) == 0:
        raise ConfigError(f"no training batch: {len(train_ds)} images for batch size {cfg.batch_size}")
    return val_loader, (sampler, train_loader)


def checked_losses(
    losses: dict[str, torch.Tensor], world_size: int, epoch: int, i: int, iters_per_epoch: int, last_good: str
) -> dict[str, float]:
    """A batch's losses averaged over ranks, ``loss`` (their sum) first; a non-finite one stops the run.

    Args:
        losses: the task's named losses of batch ``i`` of ``epoch`` (both 0-based).
        world_size: processes of the run (every rank calls this: it all-reduces).
        iters_per_epoch: batches per epoch (for the global iteration in the message).
        last_good: the last good checkpoint, named in the message.

    Raises:
        NonFiniteLossError: naming the epoch, iteration, each loss and the checkpoint to resume from.
    """
    loss = sum(losses.values())
    values = torch.stack([loss.detach().float()] + [v.detach().float() for v in losses.values()])
    values = du.all_reduce_tensor(values) / world_size
    named = {k: float(v) for k, v in zip(losses, values[1:].tolist())}
    if not bool(torch.isfinite(values).all()):
        raise NonFiniteLossError(
            f"non-finite loss {float(values[0])} at epoch {epoch + 1}, iteration {i + 1} "
            f"(global iteration {epoch * iters_per_epoch + i + 1}); losses: {named}. Last good checkpoint: "
            f"{last_good}. Lower --lr, raise train.warmup_iters or set train.clip_grad_norm, then --resume from it."
        )
    return {"loss": float(values[0]), **named}
