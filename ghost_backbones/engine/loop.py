"""The shared train / evaluate loop: `fit(task)` runs a whole recipe for any `Task`.

It handles, once for every task: torchrun/DDP setup, seeding, optimizer and per-iteration schedule with warmup,
AMP, gradient clipping, non-finite loss detection, tqdm progress, ``OUT/log.jsonl``, evaluation every N epochs with
``OUT/metrics.json``, atomic ``OUT/checkpoint.pth`` every epoch (the one before kept as ``checkpoint_prev.pth``)
plus ``OUT/best.pth``, ``resume`` and ``test_only``.

Nothing a finished run wrote is overwritten: ``OUT`` is checked before the data and model are built (a file, not
writable, or already holding a run that this one does not resume are errors); ``test_only`` writes
``metrics_test.json`` next to a run's ``metrics.json``; a resumed run must keep its checkpoint's optimizer and
schedule (``train.epochs`` may grow) and marks its place in ``log.jsonl`` with a ``resume`` record.

Examples::

    >>> metrics = fit(SegmentationTask(cfg))  # doctest: +SKIP
    >>> sorted(p.name for p in Path(cfg.train.output_dir).iterdir())  # doctest: +SKIP
    ['best.pth', 'checkpoint.pth', 'log.jsonl', 'metrics.json']
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from ..errors import ConfigError, DataError, NonFiniteLossError
from . import distributed as du
from .checkpoint import (
    describe_run,
    load_checkpoint,
    load_model_weights,
    plan_resume,
    read_trained_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig, config_to_dict
from .jsonl import JsonlLogger, count_superseded, write_json
from .outputs import evaluation_path, prepare_output_dir
from .schedule import lr_lambda
from .task import Task

__all__ = ["fit", "progress", "ShardSampler", "get_metric", "autocast"]


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


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def _default_param_groups(model: nn.Module, weight_decay: float, norm_weight_decay: float | None) -> list[dict]:
    if norm_weight_decay is None:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": norm_weight_decay}]


class _Runner:
    def __init__(self, task: Task, env: du.DistEnv) -> None:
        self.task = task
        self.cfg: TrainConfig = task.cfg.train
        self.env = env
        self.device = env.device
        self.main = env.rank == 0
        self.out = Path(self.cfg.output_dir)
        if self.main:
            prepare_output_dir(self.out, flag="train.output_dir (--output-dir)")
        self.log = JsonlLogger(self.out / "log.jsonl", enabled=self.main)
        self.ckpt_path = self.out / "checkpoint.pth"
        self.best_path = self.out / "best.pth"
        self.best: float | None = None
        self.last_good: str = "none written yet"
        self.weights_epoch = -1
        self.resume_path: Path | None = None
        self.resume_state: dict[str, Any] | None = None

    def note(self, message: str) -> None:
        """One line on stderr from the main process: what the run decided (resume, where results went)."""
        if self.main:
            print(f"note: {message}", file=sys.stderr, flush=True)

    # ----------------------------------------------------------------- setup
    def _build(self) -> None:
        cfg, env = self.cfg, self.env
        _seed_all(cfg.seed + env.rank)
        if cfg.test_only and not (cfg.weights or cfg.resume):
            raise ConfigError("--test-only needs the weights to evaluate: pass --weights CKPT or --resume CKPT")
        model = self.task.build_model()
        if cfg.weights:
            self._load_weights(model, cfg.weights)
        model.to(self.device)
        if env.distributed and cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model
        self.ddp = (
            nn.parallel.DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.task.find_unused_parameters,
            )
            if env.distributed
            else model
        )
        train_ds, val_ds = self.task.build_datasets()
        if len(val_ds) == 0:
            raise DataError("the validation set is empty: nothing to evaluate or to choose best.pth on")
        self.val_loader = DataLoader(
            val_ds,
            batch_size=self.task.val_batch_size,
            sampler=ShardSampler(val_ds, env.rank, env.world_size),
            num_workers=cfg.workers,
            collate_fn=self.task.collate_fn,
            worker_init_fn=_worker_init,
        )
        if cfg.test_only:
            return
        if len(train_ds) == 0:
            raise ConfigError("the training set is empty: check data paths and split files")
        self.train_sampler = DistributedSampler(
            train_ds, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=cfg.seed
        )
        self.train_loader = DataLoader(
            train_ds,
            batch_sampler=self.task.train_batch_sampler(train_ds, self.train_sampler, cfg.batch_size),
            num_workers=cfg.workers,
            collate_fn=self.task.collate_fn,
            worker_init_fn=_worker_init,
            pin_memory=self.device.type == "cuda",
        )
        self.iters_per_epoch = len(self.train_loader)
        if self.iters_per_epoch == 0:
            raise ConfigError(f"no training batch: {len(train_ds)} images for batch size {cfg.batch_size}")
        self._build_optimizer(model)

    def _build_optimizer(self, model: nn.Module) -> None:
        """Optimizer, per-iteration schedule and gradient scaler of the training run."""
        cfg = self.cfg
        groups = self.task.param_groups(model) or _default_param_groups(model, cfg.weight_decay, cfg.norm_weight_decay)
        if cfg.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lr_lambda(
                cfg.lr_scheduler,
                total_iters=cfg.epochs * self.iters_per_epoch,
                iters_per_epoch=self.iters_per_epoch,
                steps=cfg.lr_steps,
                gamma=cfg.lr_gamma,
                power=cfg.poly_power,
                warmup_iters=cfg.warmup_iters,
                warmup_factor=cfg.warmup_factor,
            ),
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and self.device.type == "cuda")

    def _load_weights(self, model: nn.Module, path: str | Path, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Load a checkpoint's weights into ``model``: one clear error for another task, architecture or width."""
        if state is None:  # --weights: a trained checkpoint (checked to be of this task) or a plain state dict
            state = load_checkpoint(path)
            if "model" in state:
                state = read_trained_checkpoint(path, self.task.name)
        trained_as = describe_run(state["config"]) if "config" in state else "another model"
        load_model_weights(model, state.get("model", state), path, trained_as, describe_run(self.task.cfg))
        self.weights_epoch = int(state.get("epoch", -1))
        return state

    def _plan(self) -> None:
        """Decide what this run starts from and check it against ``OUT``, before anything is built."""
        self.resume_path, self.resume_state = plan_resume(self.cfg, self.out, self.task.name)
        if self.cfg.resume == "auto" and self.resume_path is None:
            self.note(f"--resume auto: no checkpoint in {self.out}, starting from scratch")

    def _resume(self) -> int:
        """Load the planned checkpoint (model, optimizer, schedule); the first epoch to train."""
        state, path = self.resume_state, self.resume_path
        if state is None or path is None:
            return 0
        self._load_weights(self.model, path, state)
        epoch = int(state.get("epoch", -1))
        if self.cfg.test_only:
            return epoch + 1
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.best = state.get("best")
        self.last_good = f"{path} (epoch {epoch + 1})"
        saved_epochs = state["config"].get("train", {}).get("epochs", self.cfg.epochs)
        longer = ""
        if saved_epochs != self.cfg.epochs:
            stretched = (
                "" if self.cfg.lr_scheduler == "multistep" else f"; the {self.cfg.lr_scheduler} schedule now ends there"
            )
            longer = f", train.epochs {saved_epochs} -> {self.cfg.epochs}{stretched}"
        self.note(f"resuming from {path}: epoch {epoch + 2} of {self.cfg.epochs}{longer}")
        return epoch + 1

    def _finished(self) -> dict[str, Any] | None:
        """The saved metrics when the resumed checkpoint already ends the run (nothing left to train), else None."""
        state = self.resume_state
        if self.cfg.test_only or state is None or int(state.get("epoch", -1)) + 1 < self.cfg.epochs:
            return None
        self.note(
            f"{self.resume_path} ends the run (epoch {int(state['epoch']) + 1} of {self.cfg.epochs}): nothing to "
            "train; raise --epochs to train longer"
        )
        return state.get("metrics") or {}

    # ------------------------------------------------------------ main work
    def _state(self, epoch: int, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "best": self.best,
            "metrics": metrics,
            "config": config_to_dict(self.task.cfg),
            "task": self.task.name,
        }

    def evaluate(self, epoch: int) -> dict[str, Any]:
        self.model.eval()
        if self.env.distributed:
            # BatchNorm statistics drift apart per rank after the last training forward: every rank evaluates
            # with rank 0's buffers, the ones saved in the checkpoint.
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, src=0)
        with torch.no_grad(), autocast(self.device, self.cfg.amp):
            metrics = self.task.evaluate(self.model, self.val_loader, self.device)
        if self.main:
            self._write_metrics(metrics, epoch)
        return metrics

    def _write_metrics(self, metrics: dict[str, Any], epoch: int) -> None:
        if not self.cfg.test_only:
            write_json(self.out / "metrics.json", {**metrics, "epoch": epoch})
            self.log.write({"type": "eval", "epoch": epoch, **metrics})
            return
        path = write_json(evaluation_path(self.out), {**metrics, "epoch": epoch})
        self.log.write({"type": "test", "epoch": epoch, "file": path.name, **metrics})
        kept = " (the run's metrics.json is kept)" if path.name != "metrics.json" else ""
        self.note(f"--test-only: evaluation written to {path}{kept}")

    def train_one_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        self.train_sampler.set_epoch(epoch)
        # Per-epoch seeds make augmentation identical whether or not the run was resumed.
        _seed_all(cfg.seed + 1000 * (epoch + 1) + self.env.rank)
        sums: dict[str, float] = {}
        count = 0
        bar = progress(self.train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", total=self.iters_per_epoch)
        for i, batch in enumerate(bar):
            global_it = epoch * self.iters_per_epoch + i
            with autocast(self.device, cfg.amp):
                losses = self.task.training_step(self.ddp, batch, self.device)
            loss = sum(losses.values())
            values = torch.stack([loss.detach().float()] + [v.detach().float() for v in losses.values()])
            values = du.all_reduce_tensor(values) / self.env.world_size
            if not bool(torch.isfinite(values).all()):
                named = {k: float(v) for k, v in zip(losses, values[1:].tolist())}
                raise NonFiniteLossError(
                    f"non-finite loss {float(values[0])} at epoch {epoch + 1}, iteration {i + 1} "
                    f"(global iteration {global_it + 1}); losses: {named}. Last good checkpoint: {self.last_good}. "
                    "Lower --lr, raise train.warmup_iters or set train.clip_grad_norm, then --resume from it."
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.clip_grad_norm > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            record = {"loss": float(values[0]), **{k: float(v) for k, v in zip(losses, values[1:].tolist())}}
            for k, v in record.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            lr = self.optimizer.param_groups[0]["lr"]
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.2e}")
            if (i + 1) % cfg.log_every == 0 or i + 1 == self.iters_per_epoch:
                self.log.write({"type": "train", "epoch": epoch, "iter": i + 1, "lr": lr, **record})
        return {k: v / max(count, 1) for k, v in sums.items()}

    def run(self) -> dict[str, Any]:
        self._plan()
        finished = self._finished()
        if finished is not None:
            return finished
        self._build()
        start_epoch = self._resume()
        if self.cfg.test_only:
            return self.evaluate(start_epoch - 1 if self.resume_path else self.weights_epoch)
        if self.resume_path is not None and self.main:  # the records of epochs >= start_epoch before it are superseded
            resume = {"type": "resume", "epoch": start_epoch, "checkpoint": str(self.resume_path)}
            self.log.write({**resume, "superseded": count_superseded(self.log.path, start_epoch)})
        self.log.write(
            {
                "type": "start",
                "epoch": start_epoch,
                "world_size": self.env.world_size,
                "device": str(self.device),
                "iters_per_epoch": self.iters_per_epoch,
                "params": sum(p.numel() for p in self.model.parameters()),
                "config": config_to_dict(self.task.cfg),
            }
        )
        metrics: dict[str, Any] = {}
        for epoch in range(start_epoch, self.cfg.epochs):
            t0 = time.time()
            averages = self.train_one_epoch(epoch)
            self.log.write({"type": "epoch", "epoch": epoch, "seconds": round(time.time() - t0, 2), **averages})
            last = epoch + 1 == self.cfg.epochs
            evaluated = (epoch + 1) % self.cfg.eval_every == 0 or last
            if evaluated:
                metrics = self.evaluate(epoch)
                if self.main:
                    score = get_metric(metrics, self.task.best_metric)
                    if self.best is None or (math.isfinite(score) and score > self.best):
                        self.best = score
                        save_checkpoint(self.best_path, self._state(epoch, metrics))
            if self.main:
                save_checkpoint(self.ckpt_path, self._state(epoch, metrics if evaluated else None), keep_previous=True)
            self.last_good = f"{self.ckpt_path} (epoch {epoch + 1})"
            du.barrier()
        return metrics


def fit(task: Task) -> dict[str, Any]:
    """Train (or, with ``train.test_only``, evaluate) ``task`` as ``task.cfg.train`` says; returns the last metrics.

    Launch under ``torchrun --nproc_per_node N`` for DDP (gloo on CPU, nccl on CUDA).
    """
    env = du.init_distributed(task.cfg.train.device)
    try:
        return _Runner(task, env).run()
    finally:
        du.cleanup()
