"""Confusion-matrix segmentation metrics (mIoU, pixel accuracy, mean accuracy, frequency-weighted IoU).

Rows of the matrix are ground-truth classes, columns predicted classes; pixels labelled 255 are ignored. Each rank
accumulates its own shard and `ConfusionMatrix.reduce_from_all_processes` sums the matrices over ranks, so
distributed evaluation gives exactly the single-process figures. Classes absent from both the prediction and
the ground truth have no IoU: they are left out of the means and listed under ``"absent_classes"``.

Examples::

    >>> import torch
    >>> cm = ConfusionMatrix(3)
    >>> cm.update(torch.tensor([0, 0, 1, 255]), torch.tensor([0, 1, 1, 2]))
    >>> m = cm.compute(["bg", "a", "b"])
    >>> round(m["mIoU"], 2), m["per_class_IoU"], m["absent_classes"]
    (50.0, {'bg': 50.0, 'a': 50.0, 'b': None}, ['b'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ghost_backbones.engine import distributed

from .data.transforms import IGNORE_INDEX

__all__ = ["ConfusionMatrix"]


class ConfusionMatrix:
    """Accumulates a ``num_classes x num_classes`` confusion matrix (int64) over batches.

    Args:
        num_classes: number of classes, background included.
        ignore_index: ground-truth label excluded from the metric.
        device: where the matrix lives (the evaluation device, so the cross-rank sum uses its backend).

    Examples::

        >>> cm = ConfusionMatrix(2)
        >>> cm.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> cm.mat.tolist()
        [[1, 0], [1, 2]]
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device: str | torch.device = "cpu") -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, target: Tensor, pred: Tensor) -> None:
        """Add the pixels of ``target`` (labels) and ``pred`` (predicted classes), tensors of the same shape."""
        if target.shape != pred.shape:
            raise ValueError(f"target and prediction shapes differ: {tuple(target.shape)} vs {tuple(pred.shape)}")
        n = self.num_classes
        target, pred = target.to(self.mat.device).flatten().long(), pred.to(self.mat.device).flatten().long()
        keep = target != self.ignore_index
        target, pred = target[keep], pred[keep]
        if target.numel() and (target.min() < 0 or target.max() >= n):
            bad = target[(target < 0) | (target >= n)].unique()[:5].tolist()
            raise ValueError(f"label value(s) {bad} outside [0, {n}) and not the ignore index {self.ignore_index}")
        if pred.numel() and (pred.min() < 0 or pred.max() >= n):
            bad = pred[(pred < 0) | (pred >= n)].unique()[:5].tolist()
            raise ValueError(f"predicted class outside [0, {n}): {bad}")
        self.mat += torch.bincount(target * n + pred, minlength=n * n).reshape(n, n)

    def numpy(self) -> np.ndarray:
        """The matrix as an int64 numpy array on the CPU (rows: ground truth, columns: prediction), for the plots."""
        return self.mat.cpu().numpy()

    def reduce_from_all_processes(self) -> None:
        """Sum the matrices of all ranks (in place; no-op in a single process)."""
        distributed.all_reduce_tensor(self.mat)

    def compute(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """Metrics in percent: ``mIoU``, ``pixel_acc``, ``mean_acc``, ``fw_IoU``, ``per_class_IoU``, ``absent_classes``.

        Args:
            class_names: one name per class (default: ``"0"``, ``"1"``, ...).

        Raises:
            ValueError: nothing was accumulated (no labelled pixel), or the names do not match ``num_classes``.
        """
        names = [str(i) for i in range(self.num_classes)] if class_names is None else list(class_names)
        if len(names) != self.num_classes:
            raise ValueError(f"expected {self.num_classes} class names, got {len(names)}: {names}")
        h = self.mat.double().cpu()
        total = h.sum()
        if total == 0:
            raise ValueError("no labelled pixels were evaluated (every target pixel is the ignore index?)")
        tp, gt, pr = h.diag(), h.sum(1), h.sum(0)
        union = gt + pr - tp
        present, labelled = union > 0, gt > 0
        iou = torch.where(present, tp / union.clamp(min=1), torch.zeros_like(tp))
        freq = gt / total
        return {
            "mIoU": 100 * iou[present].mean().item(),
            "pixel_acc": 100 * (tp.sum() / total).item(),
            "mean_acc": 100 * (tp[labelled] / gt[labelled]).mean().item(),
            "fw_IoU": 100 * (freq[labelled] * iou[labelled]).sum().item(),
            "per_class_IoU": {n: (100 * v if p else None) for n, v, p in zip(names, iou.tolist(), present.tolist())},
            "absent_classes": [n for n, p in zip(names, present.tolist()) if not p],
        }
