"""What the engine does to a task's model before training: SyncBatchNorm and gradient checkpointing.

Examples::

    >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    >>> type(convert_sync_batchnorm(model, distributed=False)[1]).__name__  # one process: BatchNorm stays
    'BatchNorm2d'
    >>> type(convert_sync_batchnorm(model, distributed=True)[1]).__name__
    'SyncBatchNorm'
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["convert_sync_batchnorm", "enable_grad_checkpointing"]


def convert_sync_batchnorm(model: nn.Module, *, distributed: bool, device: torch.device | None = None) -> nn.Module:
    """``nn.SyncBatchNorm.convert_sync_batchnorm(model)`` in a distributed run (``train.sync_bn``), else ``model``.

    In one process SyncBatchNorm would only cost time (and needs a process group), so BatchNorm is left as it is.
    Frozen BatchNorm (``FrozenBatchNorm2d``) is not a BatchNorm and is never converted.

    Args:
        model: the model, BatchNorm layers anywhere in it.
        distributed: whether the run has more than one process.
        device: the training device, when known: a distributed CPU run is refused (SyncBatchNorm has no CPU
            kernel; torch would fail at the first forward pass).

    Raises:
        ConfigError: ``distributed`` on a CPU ``device``.
    """
    if not distributed:
        return model
    if device is not None and torch.device(device).type == "cpu":
        raise ConfigError(
            "train.sync_bn: SyncBatchNorm needs CUDA devices (torch has no CPU implementation); set "
            "train.sync_bn=false for a distributed CPU run"
        )
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def enable_grad_checkpointing(model: nn.Module) -> list[str]:
    """Call ``set_grad_checkpointing(True)`` on every submodule that has it (``train.grad_checkpointing``).

    Found by the method, not by path: our GhostNet models, timm's ``features_only`` wrappers and any timm backbone
    inside a task model. A wrapper and the model it wraps are both called (harmless: the same flag).

    Returns:
        The names of the outermost modules switched on (``""`` is the model itself); empty when none has it.

    Examples::

        >>> import timm
        >>> model = nn.ModuleDict({"backbone": timm.create_model("ghostnet", width=0.5, features_only=True)})
        >>> enable_grad_checkpointing(model)
        ['backbone']
        >>> model["backbone"].model.grad_checkpointing
        True
    """
    enabled: list[str] = []
    for name, module in model.named_modules():
        method = getattr(module, "set_grad_checkpointing", None)
        if not callable(method):
            continue
        method(True)
        if not any(name == e or name.startswith(f"{e}.") or e == "" for e in enabled):
            enabled.append(name)
    return enabled
