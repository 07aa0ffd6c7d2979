"""Pictures of a run, as PNG files drawn by matplotlib (optional extra: ``pip install 'ghost-backbones[plots]'``).

* :func:`plot_training_curves`: every loss and the learning rate per iteration, the metric per evaluation, from
  ``log.jsonl``.
* :func:`plot_pr_curves` and :func:`plot_per_class_bars`: detection's precision-recall curves per class (from the
  COCOeval accumulation) and per-class AP; segmentation's per-class IoU.
* :func:`plot_confusion_matrix`: segmentation's row-normalised confusion matrix with the class names on the axes.
* :func:`draw_safely`: how the training loop calls them (and a task's `Task.plot`): a failing picture is a warning.

No display is needed (the ``Agg`` backend). Without matplotlib, :func:`matplotlib_or_none` says once how to install
it and the plots are skipped; training never fails for want of a picture.

Examples::

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> records = [{"type": "train", "epoch": 0, "iter": i, "step": i, "loss": 2.0 / i, "lr": 0.01} for i in (1, 2, 3)]
    >>> records.append({"type": "eval", "epoch": 0, "mIoU": 40.0})
    >>> _ = (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in records))
    >>> plot_training_curves(folder / "log.jsonl", folder / "plots", metric="mIoU").name
    'training_curves.png'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .jsonl import read_jsonl

__all__ = [
    "draw_safely",
    "matplotlib_or_none",
    "plot_confusion_matrix",
    "plot_per_class_bars",
    "plot_pr_curves",
    "plot_training_curves",
]

_WARNED = False
_SKIP_KEYS = {"type", "epoch", "iter", "step", "lr", "time", "data_time", "eta_s", "images_per_s", "effective_batch"}


def matplotlib_or_none() -> Any:
    """``matplotlib.pyplot`` on the ``Agg`` backend, or ``None`` (with one warning) when matplotlib is missing."""
    global _WARNED
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not _WARNED:
            warnings.warn(
                "plots skipped: matplotlib is not installed (pip install 'ghost-backbones[plots]')", stacklevel=2
            )
            _WARNED = True
        return None
    return plt


def draw_safely(draw: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``draw(*args, **kwargs)``, or ``None`` with a warning when it raises: a picture never fails a training run.

    Examples::

        >>> def broken_plot(folder):
        ...     raise OSError("disk full")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     draw_safely(broken_plot, "plots")
        >>> str(caught[0].message)
        'plots skipped: broken_plot failed (OSError: disk full); training goes on'
    """
    try:
        return draw(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - any failure of a picture is reported and skipped
        name = getattr(draw, "__qualname__", repr(draw))
        warnings.warn(f"plots skipped: {name} failed ({type(e).__name__}: {e}); training goes on", stacklevel=2)
        return None


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_training_curves(log_path: str | Path, folder: str | Path, *, metric: str) -> Path | None:
    """``folder/training_curves.png``: losses and lr per iteration, ``metric`` per evaluation.

    Args:
        log_path: the run's ``log.jsonl`` (``train`` records with losses, ``lr`` and ``step``, ``eval`` records);
            read with ``deduplicate=True``, so an epoch trained again after a resume counts once.
        folder: where the PNG goes.
        metric: dotted metric of the eval records (``"bbox.AP"``, ``"mIoU"``).

    Returns:
        The PNG's path, or ``None`` when matplotlib is missing or the log holds no training record.
    """
    plt = matplotlib_or_none()
    records = read_jsonl(log_path, deduplicate=True)
    train = [r for r in records if r.get("type") == "train"]
    if plt is None or not train:
        return None
    evals = [r for r in records if r.get("type") == "eval"]
    steps = [r.get("step", i) for i, r in enumerate(train)]
    losses = sorted({k for r in train for k, v in r.items() if k not in _SKIP_KEYS and isinstance(v, (int, float))})
    marker = "o" if len(train) <= 30 else None  # a short run's few points stay visible
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key in losses:
        axes[0].plot(steps, [r.get(key, np.nan) for r in train], label=key, marker=marker)
    axes[0].set(title="losses", xlabel="optimizer step", yscale="log")
    axes[0].legend(fontsize=8)
    axes[1].plot(steps, [r.get("lr", np.nan) for r in train], marker=marker)
    axes[1].set(title="learning rate", xlabel="optimizer step")
    values = [_get(r, metric) for r in evals]
    epochs = [r.get("epoch", i) + 1 for i, r in enumerate(evals)]
    axes[2].plot(epochs, values, marker="o")
    for epoch, value in zip(epochs, values):  # the figures themselves, readable from a picture of a short run
        axes[2].annotate(f"{value:.3g}", (epoch, value), textcoords="offset points", xytext=(0, 6), ha="center")
    axes[2].set(title=metric, xlabel="epoch", xlim=(0.5, max([*epochs, 1]) + 0.5))
    axes[2].xaxis.get_major_locator().set_params(integer=True)
    axes[2].margins(y=0.15)  # room for the labels
    return _save(fig, Path(folder) / "training_curves.png")


def _get(record: dict[str, Any], dotted: str) -> float:
    node: Any = record
    for part in dotted.split("."):
        node = node.get(part, np.nan) if isinstance(node, dict) else np.nan
    return float(node)


def plot_pr_curves(
    precision: np.ndarray, names: Sequence[str], folder: str | Path, *, iou_thresholds: Sequence[float] = (0.5, 0.75)
) -> Path | None:
    """``folder/pr_curves.png``: per-class precision-recall curves at the given IoU thresholds.

    Args:
        precision: COCOeval's ``eval["precision"]``, ``[T=10 IoUs 0.50:0.95, R=101 recalls, K classes, A areas,
            M max-dets]``; area "all" and the largest max-dets are plotted (-1 entries, no ground truth, are skipped).
        names: the K class names.
        folder: where the PNG goes.
        iou_thresholds: which of COCO's IoU thresholds to plot, one panel each.
    """
    plt = matplotlib_or_none()
    if plt is None:
        return None
    recall = np.linspace(0, 1, precision.shape[1])
    fig, axes = plt.subplots(1, len(iou_thresholds), figsize=(6 * len(iou_thresholds), 5), squeeze=False)
    for ax, iou in zip(axes[0], iou_thresholds):
        t = int(round((iou - 0.5) / 0.05))
        for k, name in enumerate(names):
            curve = precision[t, :, k, 0, -1]
            if (curve >= 0).any():
                ax.plot(recall, np.clip(curve, 0, None), label=f"{name} (AP {curve[curve >= 0].mean():.2f})")
        ax.set(title=f"precision-recall at IoU {iou:.2f}", xlabel="recall", ylabel="precision", xlim=(0, 1))
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    return _save(fig, Path(folder) / "pr_curves.png")


def plot_per_class_bars(values: dict[str, float], folder: str | Path, *, name: str, title: str) -> Path | None:
    """``folder/<name>.png``: one bar per class (per-class AP or IoU), value printed on each bar."""
    plt = matplotlib_or_none()
    if plt is None or not values:
        return None
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(values) + 2), 4))
    bars = ax.bar(list(values), list(values.values()), color="#4363d8")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set(title=title)
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, Path(folder) / f"{name}.png")


def plot_confusion_matrix(confmat: np.ndarray, names: Sequence[str], folder: str | Path) -> Path | None:
    """``folder/confusion_matrix.png``: rows (ground truth) normalised to 1, class names on both axes.

    Args:
        confmat: ``[C, C]`` counts, rows = ground truth, columns = prediction.
        names: the C class names.
        folder: where the PNG goes.
    """
    plt = matplotlib_or_none()
    if plt is None:
        return None
    confmat = np.asarray(confmat, dtype=np.float64)
    rows = confmat.sum(axis=1, keepdims=True)
    norm = np.divide(confmat, rows, out=np.zeros_like(confmat), where=rows > 0)
    fig, ax = plt.subplots(figsize=(0.6 * len(names) + 3, 0.6 * len(names) + 2.5))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="ground truth", title="confusion matrix (rows normalised)")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")  # fmt: skip
    fig.colorbar(image, ax=ax)
    return _save(fig, Path(folder) / "confusion_matrix.png")
