"""Atomic checkpoint files: written to a temporary file in the same folder, then renamed over the target.

An interrupted write therefore never leaves a truncated ``checkpoint.pth`` behind; with ``keep_previous`` the file
it replaces stays as ``checkpoint_prev.pth``, so one older good checkpoint is always there.

Examples::

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.pth")
    >>> _ = save_checkpoint(path, {"model": {}, "epoch": 3})
    >>> load_checkpoint(path)["epoch"]
    3
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .config import config_from_dict, config_to_dict
from .describe import describe_run, model_differences
from .outputs import refuse_existing_run
from .sections import TrainConfig

__all__ = [
    "RESUMED_KEYS",
    "UnreadableCheckpointError",
    "check_resume_recipe",
    "load_checkpoint",
    "load_model_weights",
    "load_run_weights",
    "load_trained_model",
    "plan_resume",
    "previous_path",
    "read_trained_checkpoint",
    "resume_alternatives",
    "save_checkpoint",
]

# The ``train`` keys a resumed run must share with its checkpoint: the optimizer and the schedule come back from the
# checkpoint, so another value here would be logged but not used (the schedule counts optimizer steps, hence
# ``accumulate_steps``; the EMA comes back too). ``epochs`` may grow (train longer).
RESUMED_KEYS = (
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "norm_weight_decay",
    "lr_scheduler",
    "lr_steps",
    "lr_gamma",
    "poly_power",
    "warmup_iters",
    "warmup_factor",
    "batch_size",
    "accumulate_steps",
    "ema_decay",
)


class UnreadableCheckpointError(ValueError):
    """A checkpoint file exists but cannot be read (truncated, another format)."""


def previous_path(path: str | Path) -> Path:
    """Where `save_checkpoint` keeps the file it replaces: ``checkpoint.pth`` -> ``checkpoint_prev.pth``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_prev{path.suffix}")


def save_checkpoint(path: str | Path, state: dict[str, Any], *, keep_previous: bool = False) -> Path:
    """Write ``state`` with ``torch.save`` atomically (temp file + ``os.replace``).

    Args:
        path: the checkpoint file.
        state: what to save.
        keep_previous: keep the file being replaced as :func:`previous_path` (``checkpoint_prev.pth``); ``path``
            itself exists at every moment (the old one is linked, or copied, before the new one replaces it).

    Raises:
        OSError: ``errno.ENOSPC`` when the disk is full, one line naming it (``path`` and the files before it stay
            as they were, no temporary file is left).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.is_file():
            _keep(path, previous_path(path))
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if _disk_full(e):
            raise _disk_full_error(path) from e
        raise
    return path


def _disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full: an ``OSError`` or torch's C++ writer's error."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, RuntimeError) and ("write failed" in str(error) or "No space left" in str(error))


def _disk_full_error(path: Path) -> OSError:
    """One line naming the full disk, what was not written and what is kept (``errno`` ENOSPC)."""
    free = shutil.disk_usage(path.parent).free / 2**20
    error = OSError(
        f"the disk holding {path.parent} is full ({free:.0f} MiB free): {path.name} was not written; the files "
        "written before it are kept as they were. Free some space, then continue with --resume auto"
    )
    error.errno = errno.ENOSPC
    return error


def _keep(path: Path, previous: Path) -> None:
    """Make ``previous`` a copy of ``path`` atomically (a hard link where the file system has them)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{previous.name}.", suffix=".tmp", dir=previous.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, previous)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (or any dict saved with ``torch.save``).

    Raises:
        FileNotFoundError: no file at ``path``.
        UnreadableCheckpointError: the file is not a readable checkpoint (truncated, another format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        # Our checkpoints hold the config as plain dicts; numpy-free, so the safe loader suffices.
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise UnreadableCheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise UnreadableCheckpointError(f"{path}: expected a dict checkpoint, got {type(state).__name__}")
    return state


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


def load_run_weights(
    model: nn.Module, path: str | Path, task: str, cfg: Any, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Load the weights of a checkpoint into ``model`` for a run of ``task`` (``--weights``, resume, test-only).

    Args:
        model: the freshly built model.
        path: the checkpoint: a ``<task>.train`` one (checked to be of this task) or a plain state dict.
        task: the run's task name.
        cfg: the run's config (named in the error when the weights do not fit).
        state: the checkpoint, when already read.

    Returns:
        The checkpoint read.
    """
    if state is None:
        state = load_checkpoint(path)
        if "model" in state:
            state = read_trained_checkpoint(path, task)
    trained_as = describe_run(state["config"]) if "config" in state else "another model"
    asked = describe_run(cfg)
    differences = model_differences(state["config"], cfg) if "config" in state else []
    if asked == trained_as and differences:  # the same arch, backbone and width: say which model keys differ
        asked += " with " + ", ".join(differences)
    load_model_weights(model, state.get("model", state), path, trained_as, asked)
    return state


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


def resume_alternatives(path: str | Path) -> str:
    """One sentence naming the readable checkpoints next to ``path`` that can resume its run (with their epoch).

    Examples::

        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = save_checkpoint(folder / "checkpoint_prev.pth", {"model": {}, "optimizer": {}, "epoch": 4})
        >>> resume_alternatives(folder / "checkpoint.pth")  # doctest: +ELLIPSIS
        'these checkpoints can resume the run: .../checkpoint_prev.pth (epoch 5; --resume .../checkpoint_prev.pth)'
    """
    path = Path(path)
    found = []
    for name in ("checkpoint.pth", "checkpoint_prev.pth", "best.pth"):
        other = path.parent / name
        if other.resolve() == path.resolve() or not other.is_file():
            continue
        try:
            state = load_checkpoint(other)
        except ValueError:
            continue
        if "optimizer" in state and "epoch" in state:
            found.append(f"{other} (epoch {int(state['epoch']) + 1}; --resume {other})")
    if not found:
        return f"no other checkpoint in {path.parent} can resume the run"
    return "these checkpoints can resume the run: " + ", ".join(found)


def check_resume_recipe(path: str | Path, saved: Mapping[str, Any], asked: Mapping[str, Any]) -> None:
    """Refuse to resume with another optimizer or schedule than the checkpoint's (:data:`RESUMED_KEYS`).

    The optimizer state and the schedule position come back from the checkpoint, so a changed ``train.lr``
    would be logged but not used. ``train.epochs`` may differ: a resumed run may train longer.

    Args:
        path: the checkpoint (named in the error).
        saved: the ``train`` section saved in the checkpoint.
        asked: the ``train`` section of this run.

    Raises:
        ConfigError: naming each key that differs, with both values.

    Examples::

        >>> check_resume_recipe("ck.pth", {"lr": 0.02, "epochs": 12}, {"lr": 0.001, "epochs": 24})
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.ConfigError: cannot resume ck.pth with another recipe: train.lr is 0.02 in the \
checkpoint, 0.001 now. The optimizer and schedule come from the checkpoint: drop these changes (train.epochs may \
grow), or start a new run with --weights ck.pth in another --output-dir
    """
    differ = [k for k in RESUMED_KEYS if k in saved and k in asked and saved[k] != asked[k]]
    if differ:
        changes = ", ".join(f"train.{k} is {saved[k]!r} in the checkpoint, {asked[k]!r} now" for k in differ)
        raise ConfigError(
            f"cannot resume {path} with another recipe: {changes}. The optimizer and schedule come from the "
            f"checkpoint: drop these changes (train.epochs may grow), or start a new run with --weights {path} in "
            "another --output-dir"
        )


def plan_resume(train: TrainConfig, out: Path, task: str) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint a run resumes from (``train.resume``) and its state, checked before anything is built.

    Args:
        train: the run's ``train`` section (``resume``: ``""``, ``"auto"`` or a path; ``test_only``).
        out: the run's output folder.
        task: the task's name (a checkpoint of the other task is an error).

    Returns:
        ``(path, state)``, or ``(None, None)`` when the run starts from scratch (``auto`` with no checkpoint).

    Raises:
        ConfigError: a training run that would overwrite another run in ``out`` (not the one it resumes), a
            changed optimizer or schedule (:func:`check_resume_recipe`), ``test_only`` with ``auto`` and no
            checkpoint.
        UnreadableCheckpointError: naming the other checkpoints of the folder that can resume the run.
    """
    path = None
    if train.resume == "auto":
        # checkpoint.pth; without one (its first write failed: a full disk), best.pth, which holds the same state
        names = ("checkpoint.pth",) if train.test_only else ("checkpoint.pth", "checkpoint_prev.pth", "best.pth")
        path = next((out / name for name in names if (out / name).is_file()), None)
        if path is None and train.test_only:
            raise ConfigError(f"--test-only --resume auto: no checkpoint.pth in {out} to evaluate")
    elif train.resume:
        path = Path(train.resume)
    if not train.test_only and (path is None or path.resolve().parent != out.resolve()):
        refuse_existing_run(out)
    if path is None:
        return None, None
    try:
        state = read_trained_checkpoint(path, task)
    except UnreadableCheckpointError as e:
        raise UnreadableCheckpointError(f"{e}; {resume_alternatives(path)}") from e
    if not train.test_only:
        missing = [key for key in ("optimizer", "scheduler", "scaler") if key not in state]
        if missing:
            raise ValueError(f"{path}: cannot resume training, the checkpoint has no {missing} (weights only?)")
        check_resume_recipe(path, state["config"].get("train", {}), config_to_dict(train))
    return path, state
