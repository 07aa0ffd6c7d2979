"""Atomic checkpoint files: written to a temporary file in the same folder, then renamed over the target.

An interrupted write therefore never leaves a truncated ``checkpoint.pth`` behind.

Examples::

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.pth")
    >>> _ = save_checkpoint(path, {"model": {}, "epoch": 3})
    >>> load_checkpoint(path)["epoch"]
    3
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .config import config_from_dict

__all__ = [
    "describe_run",
    "load_checkpoint",
    "load_model_weights",
    "load_trained_model",
    "read_trained_checkpoint",
    "save_checkpoint",
]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (or any dict saved with ``torch.save``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a readable checkpoint (truncated, another format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        # Our checkpoints hold the config as plain dicts; numpy-free, so the safe loader suffices.
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(state).__name__}")
    return state


def describe_run(config: Any) -> str:
    """``"<arch> on <backbone> (width W)"`` of a task config (object or the dict saved in a checkpoint).

    Examples::

        >>> describe_run({"model": {"arch": "fcn", "backbone": {"name": "ghostnet", "width": 0.5}}})
        'fcn on ghostnet (width 0.5)'
    """
    model = config.get("model", {}) if isinstance(config, dict) else getattr(config, "model", None)
    get = (lambda obj, key: obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)) if model else None
    if get is None:
        return "an unknown model"
    backbone = get(model, "backbone")
    name = get(backbone, "name") if backbone is not None else None
    width = get(backbone, "width") if backbone is not None else None
    return f"{get(model, 'arch')} on {name} (width {width})"


def load_model_weights(model: nn.Module, state_dict: Mapping[str, Any], path: str | Path, trained_as: str, asked: str):
    """``model.load_state_dict(state_dict)`` with one clear error instead of torch's key-by-key traceback.

    Args:
        model: the freshly built model.
        state_dict: the checkpoint's weights.
        path: the checkpoint file (named in the error).
        trained_as: what the checkpoint was trained as (see :func:`describe_run`).
        asked: what the current recipe builds.

    Raises:
        ValueError: missing / unexpected keys or shape mismatches, counted with the first of each.

    Examples::

        >>> load_model_weights(nn.Linear(2, 3), nn.Linear(2, 4).state_dict(), "a.pth", "4 classes", "3 classes")
        Traceback (most recent call last):
          ...
        ValueError: a.pth holds the weights of 4 classes, which do not fit 3 classes: 2 tensor(s) of another shape \
(first: weight (4, 2) in the file, (3, 2) in the model)
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        k for k in own if k in state_dict and hasattr(state_dict[k], "shape") and state_dict[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensor(s) (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) (first: {unexpected[0]})")
    if shapes:
        k = shapes[0]
        problems.append(
            f"{len(shapes)} tensor(s) of another shape (first: {k} {tuple(state_dict[k].shape)} in the file, "
            f"{tuple(own[k].shape)} in the model)"
        )
    if problems:
        raise ValueError(f"{path} holds the weights of {trained_as}, which do not fit {asked}: " + "; ".join(problems))
    model.load_state_dict(state_dict)


def read_trained_checkpoint(path: str | Path, task: str) -> dict[str, Any]:
    """Read a checkpoint written by ``<task>.train`` and check it is one (model, config, and the same task).

    Args:
        path: ``checkpoint.pth`` / ``best.pth``.
        task: ``"detection"`` or ``"segmentation"``.

    Raises:
        FileNotFoundError, ValueError: no file, not a checkpoint, or a checkpoint of the other task.
    """
    state = load_checkpoint(path)
    if "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a {task}.train checkpoint (it needs 'model' and 'config', has {sorted(state)})")
    trained_task = state.get("task")
    if trained_task is None:  # written before checkpoints named their task: tell by the recipe's sections
        data = state["config"].get("data", {})
        trained_task = "detection" if "train_annotations" in data else "segmentation" if "crop_size" in data else None
    if trained_task is not None and trained_task != task:
        raise ValueError(
            f"{path} is a {trained_task} checkpoint ({describe_run(state['config'])}); {task} needs a checkpoint "
            f"written by {task}.train"
        )
    return state


def load_trained_model(
    path: str | Path, task: str, config_cls: type, build: Callable[[Any], nn.Module]
) -> tuple[nn.Module, Any]:
    """The model of a ``<task>.train`` checkpoint, rebuilt from its saved recipe, in eval mode on the CPU.

    The one way both tasks load a trained model (predict, export, demo): the recipe saved in the checkpoint decides
    the architecture, so any registered architecture comes back as it was trained.

    Args:
        path: ``checkpoint.pth`` / ``best.pth``.
        task: ``"detection"`` or ``"segmentation"``; a checkpoint of the other task is an error naming both.
        config_cls: the task's config dataclass.
        build: ``build(cfg.model) -> nn.Module`` (the task's registry).

    Returns:
        ``(model, cfg)``.
    """
    state = read_trained_checkpoint(path, task)
    try:
        cfg = config_from_dict(config_cls, state["config"])
    except ConfigError as e:
        raise ConfigError(f"{path}: the recipe saved in this {task} checkpoint does not load: {e}") from e
    cfg.model.backbone.pretrained = False  # the checkpoint holds every weight
    model = build(cfg.model)
    described = describe_run(cfg)
    load_model_weights(model, state["model"], path, described, described)
    return model.eval(), cfg
