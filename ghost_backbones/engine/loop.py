"""The shared train / evaluate loop: `fit(task)` runs a whole recipe for any `Task`.

It handles, once for every task: torchrun/DDP setup (``sync_bn``), seeding, optimizer and per-step schedule with
warmup, gradient accumulation, AMP, gradient clipping, an EMA of the weights, gradient checkpointing, non-finite
loss detection, tqdm progress and one summary line per epoch, ``OUT/log.jsonl``, TensorBoard in ``OUT/tb``,
evaluation every N epochs with ``OUT/metrics.json`` and pictures in ``OUT/plots``, early stopping, atomic
``OUT/checkpoint.pth`` every epoch (the one before kept as ``checkpoint_prev.pth``) plus ``OUT/best.pth``,
``resume`` and ``test_only``.

Nothing a finished run wrote is overwritten: ``OUT`` is checked before the data and model are built (a file, not
writable, already holding a run that this one does not resume, or in use by a run still going are errors);
``test_only`` writes ``metrics_test.json`` (and ``plots_test/``) next to a run's ``metrics.json``; a resumed run must
keep its checkpoint's optimizer and schedule (``train.epochs`` may grow) and marks its place in ``log.jsonl`` with a
``resume`` record.

Examples::

    >>> metrics = fit(SegmentationTask(cfg))  # doctest: +SKIP
    >>> sorted(p.name for p in Path(cfg.train.output_dir).iterdir())  # doctest: +SKIP
    ['best.pth', 'checkpoint.pth', 'log.jsonl', 'metrics.json', 'plots', 'tb']
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from . import distributed as du
from .checkpoint import load_run_weights, plan_resume, save_checkpoint
from .config import config_to_dict
from .console import epoch_line, start_line
from .ema import create_ema, load_weights_state, weights_state
from .jsonl import JsonlLogger, count_superseded, write_json
from .loop_parts import ShardSampler, autocast, build_loaders, checked_losses, get_metric, progress, seed_all
from .optim import accumulation_plan, build_optimizer, optimizer_steps
from .outputs import evaluation_path, prepare_output_dir
from .plots import draw_safely, plot_training_curves
from .prepare import convert_sync_batchnorm, enable_grad_checkpointing
from .runlock import RunLock
from .sections import TrainConfig
from .task import Task
from .tensorboard import TensorBoard

__all__ = ["fit", "progress", "ShardSampler", "get_metric", "autocast"]


class _Runner:
    def __init__(self, task: Task, env: du.DistEnv) -> None:
        self.task = task
        self.cfg: TrainConfig = task.cfg.train
        self.env = env
        self.device = env.device
        self.main = env.rank == 0
        self.out = Path(self.cfg.output_dir)
        self.lock = None  # one run at a time in OUT (held by the main process)
        if self.main:
            prepare_output_dir(self.out, flag="train.output_dir (--output-dir)")
            self.lock = RunLock.acquire(self.out)
        self.log = JsonlLogger(self.out / "log.jsonl", enabled=self.main)
        self.tb = TensorBoard(self.out / "tb", enabled=False)
        self.ckpt_path = self.out / "checkpoint.pth"
        self.best_path = self.out / "best.pth"
        self.best: float | None = None
        self.stale_evals = 0  # evaluations since the best one (early stopping)
        self.epoch_seconds: list[float] = []
        self.last_good: str = "none written yet"
        self.weights_epoch = -1
        self.resume_path: Path | None = None
        self.resume_state: dict[str, Any] | None = None
        self.ema: Any = None

    def note(self, message: str) -> None:
        """One line on stderr from the main process: what the run decided (resume, where results went)."""
        if self.main:
            print(f"note: {message}", file=sys.stderr, flush=True)

    # ----------------------------------------------------------------- setup
    def _build(self) -> None:
        cfg, env = self.cfg, self.env
        seed_all(cfg.seed + env.rank)
        if cfg.test_only and not (cfg.weights or cfg.resume):
            raise ConfigError("--test-only needs the weights to evaluate: pass --weights CKPT or --resume CKPT")
        datasets = self.task.build_datasets()  # the data and its classes first, then the model they decide
        model = self.task.build_model()
        if cfg.weights:
            self.weights_epoch = int(
                load_run_weights(model, cfg.weights, self.task.name, self.task.cfg).get("epoch", -1)
            )
        model.to(self.device)
        if cfg.sync_bn:
            model = convert_sync_batchnorm(model, distributed=env.distributed, device=self.device)
        if cfg.grad_checkpointing:
            enabled = enable_grad_checkpointing(model)
            where = f"on in {[name or type(model).__name__ for name in enabled]}" if enabled else "no module has it"
            self.note(f"train.grad_checkpointing: {where}")
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
        self.val_loader, loaders = build_loaders(self.task, env, datasets)
        if cfg.test_only:
            return
        self.train_sampler, self.train_loader = loaders
        self.iters_per_epoch = len(self.train_loader)
        self.ema = create_ema(model, cfg.ema_decay)  # of the unwrapped model, after SyncBN and --weights
        self.steps_per_epoch = optimizer_steps(self.iters_per_epoch, cfg.accumulate_steps)
        self.optimizer, self.scheduler, self.scaler = build_optimizer(
            model, cfg, self.task.param_groups(model), steps_per_epoch=self.steps_per_epoch, device=self.device
        )

    def _plan(self) -> None:
        """Decide what this run starts from and check it against ``OUT``, before anything is built."""
        self.resume_path, self.resume_state = plan_resume(self.cfg, self.out, self.task.name)
        if self.cfg.resume == "auto" and self.resume_path is None:
            self.note(f"--resume auto: no checkpoint in {self.out}, starting from scratch")

    def _resume(self) -> int:
        """Load the planned checkpoint (model, EMA, optimizer, schedule); the first epoch to train."""
        state, path = self.resume_state, self.resume_path
        if state is None or path is None:
            return 0
        load_run_weights(self.model, path, self.task.name, self.task.cfg, state)  # with an EMA: its weights
        epoch = int(state.get("epoch", -1))
        if self.cfg.test_only:
            return epoch + 1
        ema_note = load_weights_state(self.model, self.ema, state)
        if ema_note:
            self.note(ema_note)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.best = state.get("best")
        self.stale_evals = int(state.get("stale_evals", 0))
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
        if self.cfg.test_only or state is None:
            return None
        epoch, stale = int(state.get("epoch", -1)), int(state.get("stale_evals", 0))
        stopped = 0 < self.cfg.early_stop_patience <= stale
        if not stopped and epoch + 1 < self.cfg.epochs:
            return None
        why, longer = (
            (f"stopped early, no better {self.task.best_metric} for {stale} evaluations", "raise "
             "train.early_stop_patience (0: off) to train on") if stopped else ("ends the run", "raise --epochs to "
             "train longer")
        )  # fmt: skip
        self.note(f"{self.resume_path} {why} (epoch {epoch + 1} of {self.cfg.epochs}): nothing to train; {longer}")
        return state.get("metrics") or {}

    # ------------------------------------------------------------ main work
    def _state(self, epoch: int, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            **weights_state(self.model, self.ema, self.scheduler.last_epoch),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "best": self.best,
            "stale_evals": self.stale_evals,
            "metrics": metrics,
            "config": config_to_dict(self.task.cfg),
            "task": self.task.name,
        }

    def evaluate(self, epoch: int) -> dict[str, Any]:
        """Evaluate the EMA of the weights when there is one, else the model; write metrics, TensorBoard, plots."""
        model = self.ema.module if self.ema is not None else self.model
        model.eval()
        if self.env.distributed:
            # BatchNorm statistics drift apart per rank after the last training forward: every rank evaluates
            # with rank 0's buffers, the ones saved in the checkpoint.
            for buffer in model.buffers():
                torch.distributed.broadcast(buffer, src=0)
        start = time.perf_counter()
        with torch.no_grad(), autocast(self.device, self.cfg.amp):
            metrics = self.task.evaluate(model, self.val_loader, self.device)
        if self.main:
            folder = self._write_metrics(metrics, epoch, round(time.perf_counter() - start, 3))
            self._plots(metrics, folder)
            if self.tb.enabled and not self.cfg.test_only:  # a few validation images with predictions drawn
                self.tb.arrays(draw_safely(self.task.previews) or {}, self.scheduler.last_epoch)
        return metrics

    def _write_metrics(self, metrics: dict[str, Any], epoch: int, seconds: float) -> Path:
        """Write ``metrics.json`` and the ``eval`` record (``test`` with ``test_only``); the plots' folder.

        The record's ``seconds`` is the evaluation's own time (the epoch record's is the training's).
        """
        if not self.cfg.test_only:
            write_json(self.out / "metrics.json", {**metrics, "epoch": epoch})
            self.log.write({"type": "eval", "epoch": epoch, "seconds": seconds, **metrics})
            self.tb.scalars(metrics, self.scheduler.last_epoch)
            return self.out / "plots"
        path = write_json(evaluation_path(self.out), {**metrics, "epoch": epoch})
        self.log.write({"type": "test", "epoch": epoch, "file": path.name, **metrics})
        kept = " (the run's metrics.json is kept)" if path.name != "metrics.json" else ""
        self.note(f"--test-only: evaluation written to {path}{kept}")
        return self.out / path.stem.replace("metrics", "plots")  # plots, plots_test, plots_test_2 ...

    def _plots(self, metrics: dict[str, Any], folder: Path) -> None:
        """The training curves and the task's pictures of this evaluation (the latter also to TensorBoard)."""
        if not self.cfg.plots:
            return
        if not self.cfg.test_only:
            draw_safely(plot_training_curves, self.log.path, folder, metric=self.task.best_metric)
        pictures = draw_safely(self.task.plot, metrics, folder) or []
        if not self.cfg.test_only:
            self.tb.images(pictures, self.scheduler.last_epoch)

    def _train_step(self, batch: Any, epoch: int, i: int, divisor: int, step: bool) -> dict[str, float]:
        """Forward and backward one batch (loss / ``divisor``), then an optimizer step when ``step``."""
        # DDP all-reduces the gradients of the last batch of an accumulation only.
        sync = self.ddp.no_sync() if self.env.distributed and not step else contextlib.nullcontext()
        with sync:
            with autocast(self.device, self.cfg.amp):
                losses = self.task.training_step(self.ddp, batch, self.device)
            record = checked_losses(losses, self.env.world_size, epoch, i, self.iters_per_epoch, self.last_good)
            self.scaler.scale(sum(losses.values()) / divisor).backward()
        if step:
            if self.cfg.clip_grad_norm > 0:  # on the accumulated gradient
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update(self.model, step=self.scheduler.last_epoch)
        return record

    def train_one_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        self.train_sampler.set_epoch(epoch)
        # Per-epoch seeds make augmentation identical whether or not the run was resumed.
        seed_all(cfg.seed + 1000 * (epoch + 1) + self.env.rank)
        sums: dict[str, float] = {}
        plan = accumulation_plan(self.iters_per_epoch, cfg.accumulate_steps)
        self.optimizer.zero_grad(set_to_none=True)
        bar = progress(self.train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", total=self.iters_per_epoch)
        for i, batch in enumerate(bar):
            record = self._train_step(batch, epoch, i, *plan[i])
            for k, v in record.items():
                sums[k] = sums.get(k, 0.0) + v
            lr, step = self.optimizer.param_groups[0]["lr"], self.scheduler.last_epoch
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.2e}")
            if (i + 1) % cfg.log_every == 0 or i + 1 == self.iters_per_epoch:
                self.log.write({"type": "train", "epoch": epoch, "iter": i + 1, "step": step, "lr": lr, **record})
                self.tb.scalars({**record, "lr": lr}, step, prefix="train/")
        return {k: v / max(self.iters_per_epoch, 1) for k, v in sums.items()}

    def _track_best(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Keep ``best.pth`` on a new best ``best_metric``; count the evaluations since the best one."""
        score = get_metric(metrics, self.task.best_metric)
        if self.best is None or (math.isfinite(score) and score > self.best):
            self.best, self.stale_evals = score, 0
            if self.main:
                save_checkpoint(self.best_path, self._state(epoch, metrics))
        else:
            self.stale_evals += 1

    def _early_stop(self, epoch: int) -> bool:
        """Whether ``train.early_stop_patience`` ends the run after ``epoch`` (said in one line and the log)."""
        patience = self.cfg.early_stop_patience
        if patience == 0 or self.stale_evals < patience or epoch + 1 >= self.cfg.epochs:
            return False
        metric = self.task.best_metric
        self.log.write(
            {"type": "early_stop", "epoch": epoch, "metric": metric, "best": self.best, "patience": patience,
             "evaluations_without_improvement": self.stale_evals}
        )  # fmt: skip
        self.note(
            f"early stop after epoch {epoch + 1} of {self.cfg.epochs}: {metric} has not improved on its best "
            f"{self.best:.4f} for {self.stale_evals} evaluations (train.early_stop_patience={patience})"
        )
        return True

    def _start(self, start_epoch: int) -> None:
        """The ``resume`` and ``start`` records, the TensorBoard writer, the effective batch line."""
        cfg = self.cfg
        if self.resume_path is not None and self.main:  # the records of epochs >= start_epoch before it are superseded
            resume = {"type": "resume", "epoch": start_epoch, "checkpoint": str(self.resume_path)}
            self.log.write({**resume, "superseded": count_superseded(self.log.path, start_epoch)})
        self.effective_batch = cfg.batch_size * cfg.accumulate_steps * self.env.world_size
        self.log.write(
            {
                "type": "start",
                "epoch": start_epoch,
                "world_size": self.env.world_size,
                "device": str(self.device),
                "iters_per_epoch": self.iters_per_epoch,
                "steps_per_epoch": self.steps_per_epoch,
                "effective_batch": self.effective_batch,
                "params": sum(p.numel() for p in self.model.parameters()),
                "config": config_to_dict(self.task.cfg),
            }
        )
        purge = start_epoch * self.steps_per_epoch + 1 if self.resume_path is not None else None  # after the ckpt
        self.tb = TensorBoard(self.out / "tb", enabled=self.main and cfg.tensorboard, purge_step=purge, note=self.note)
        self.note(start_line(cfg, self.env.world_size, self.steps_per_epoch))

    def _end_epoch(self, epoch: int, averages: dict[str, float], metrics: dict[str, Any] | None, t0: float) -> None:
        """The console line of the epoch (losses, metric, time, ETA); TensorBoard's epoch means."""
        self.epoch_seconds.append(time.time() - t0)
        self.tb.scalars(averages, self.scheduler.last_epoch, prefix="epoch/")
        self.tb.flush()
        if not self.main:
            return
        metric = None
        if metrics is not None:
            name = self.task.best_metric + (" (EMA)" if self.ema is not None else "")
            metric = (name, get_metric(metrics, self.task.best_metric), self.best)
        eta = sum(self.epoch_seconds) / len(self.epoch_seconds) * (self.cfg.epochs - epoch - 1)
        lr = self.optimizer.param_groups[0]["lr"]
        print(epoch_line(epoch, self.cfg.epochs, averages, lr=lr, metric=metric, seconds=self.epoch_seconds[-1],
                         eta_s=eta), flush=True)  # fmt: skip

    def run(self) -> dict[str, Any]:
        self._plan()
        finished = self._finished()
        if finished is not None:
            return finished
        self._build()
        start_epoch = self._resume()
        if self.cfg.test_only:
            return self.evaluate(start_epoch - 1 if self.resume_path else self.weights_epoch)
        self._start(start_epoch)
        metrics: dict[str, Any] = {}
        for epoch in range(start_epoch, self.cfg.epochs):
            t0 = time.time()
            averages = self.train_one_epoch(epoch)
            seconds = round(time.time() - t0, 2)
            self.log.write(
                {"type": "epoch", "epoch": epoch, "seconds": seconds, "effective_batch": self.effective_batch,
                 **averages}
            )  # fmt: skip
            last = epoch + 1 == self.cfg.epochs
            evaluated = (epoch + 1) % self.cfg.eval_every == 0 or last
            if evaluated:
                metrics = self.evaluate(epoch)
                self._track_best(epoch, metrics)
            if self.main:
                save_checkpoint(self.ckpt_path, self._state(epoch, metrics if evaluated else None), keep_previous=True)
            self.last_good = f"{self.ckpt_path} (epoch {epoch + 1})"
            self._end_epoch(epoch, averages, metrics if evaluated else None, t0)
            du.barrier()
            if evaluated and self._early_stop(epoch):
                break
        return metrics

    def close(self) -> None:
        self.tb.close()
        if self.lock is not None:
            self.lock.release()


def fit(task: Task) -> dict[str, Any]:
    """Train (or, with ``train.test_only``, evaluate) ``task`` as ``task.cfg.train`` says; returns the last metrics.

    Launch under ``torchrun --nproc_per_node N`` for DDP (gloo on CPU, nccl on CUDA).
    """
    env = du.init_distributed(task.cfg.train.device)
    runner = None
    try:
        runner = _Runner(task, env)
        return runner.run()
    finally:
        if runner is not None:
            runner.close()
        du.cleanup()
