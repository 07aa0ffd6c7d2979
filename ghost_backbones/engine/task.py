"""The `Task` base class: what a task (detection, segmentation) supplies to the shared loop.

Examples::

    >>> class MyTask(Task):
    ...     best_metric = "mIoU"
    ...     def build_model(self): return MyNet(self.cfg.model)
    ...     def build_datasets(self): return MyData("train"), MyData("val")
    ...     def training_step(self, model, batch, device):
    ...         images, masks = batch
    ...         return {"ce": F.cross_entropy(model(images.to(device)), masks.to(device))}
    ...     def evaluate(self, model, loader, device): ...
    >>> fit(MyTask(cfg))  # doctest: +SKIP
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, Dataset, Sampler, default_collate

__all__ = ["PREVIEW_IMAGES", "Task"]

# How many validation images a task draws with its predictions for TensorBoard after each evaluation.
PREVIEW_IMAGES = 4


class Task(ABC):
    """Base class of a training task; `ghost_backbones.engine.fit` drives it.

    Args:
        cfg: the task's top-level config dataclass; the engine reads ``cfg.train`` (a `TrainConfig`).

    Attributes:
        name: the task's name, saved in every checkpoint (``detection``, ``segmentation``).
        best_metric: dotted path into `evaluate`'s result whose highest value selects ``best.pth``.
        val_batch_size: evaluation batch size per process.
        find_unused_parameters: passed to DistributedDataParallel.
    """

    name: str = "task"
    best_metric: str = "loss"
    val_batch_size: int = 1
    find_unused_parameters: bool = False

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @abstractmethod
    def build_datasets(self) -> tuple[Dataset, Dataset]:
        """``(train, val)`` datasets; the engine calls it first, as torchvision's references read the data (and its
        classes) before building the model. What the data decide (the classes) goes into a new ``self.cfg``
        (``dataclasses.replace``), which checkpoints save; the loaded config object is never changed."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The unwrapped model, on CPU, after `build_datasets`; the engine moves it to the device and wraps it for
        DDP."""

    def collate_fn(self, batch: list[Any]) -> Any:
        return default_collate(batch)

    def train_batch_sampler(self, dataset: Dataset, sampler: Sampler[int], batch_size: int) -> Sampler[list[int]]:
        """Batches of the training set; drops a last incomplete batch when a full one exists (BatchNorm needs > 1)."""
        return BatchSampler(sampler, batch_size, drop_last=len(sampler) >= batch_size)

    @abstractmethod
    def training_step(self, model: nn.Module, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        """Named losses for one batch; the engine sums them, checks they are finite and steps."""

    @abstractmethod
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
        """Metrics over this rank's shard of the validation set, merged across ranks (JSON-serialisable)."""

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]] | None:
        """Optional optimizer parameter groups; ``None`` uses the engine's (weight decay split for norms/biases)."""
        return None

    def previews(self) -> dict[str, np.ndarray]:
        """Optional: a few validation images with the last `evaluate`'s predictions drawn (name -> HWC uint8).

        The engine adds them to TensorBoard (``predictions/<name>``) after each evaluation of a training run, so
        the pictures show how predictions change; keep only a handful (`PREVIEW_IMAGES`) aside in `evaluate`.
        """
        return {}

    def plot(self, metrics: dict[str, Any], folder: Path) -> list[Path | None]:
        """Optional pictures of the evaluation that just ran (called on the main process after each one).

        Draw with `ghost_backbones.engine.plots` (each of its functions returns ``None`` without matplotlib);
        anything the last `evaluate` kept aside (a PR array, a confusion matrix) may be used. The engine adds the
        pictures to TensorBoard, and a failure here is a warning, never a failed run.

        Args:
            metrics: what `evaluate` returned.
            folder: where the PNGs go (``OUT/plots``; ``OUT/plots_test`` ... for ``--test-only`` beside a run).

        Returns:
            The PNGs written (``None`` entries are ignored).
        """
        return []
