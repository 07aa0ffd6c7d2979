"""An exponential moving average of the weights (``train.ema_decay``): timm's ``ModelEmaV3``, and its checkpoints.

The EMA covers parameters and floating-point buffers (BatchNorm statistics; integer buffers are copied), starts
as a copy of the model and follows it with timm's decay warmup: after optimizer step ``t`` (counted from 1)

    ``decay_t = min(ema_decay, 1 - t ** (-2/3))`` (0 at ``t = 1``: a copy), then
    ``ema = decay_t * ema + (1 - decay_t) * model``.

With the EMA on, a checkpoint's ``model`` holds the EMA weights, the ones evaluation used (so ``best.pth``,
``--weights``, ``--test-only`` and ``predict`` all take them), and ``train_model`` the training weights that a
resumed run continues from; ``ema_updates`` counts the updates.

Examples::

    >>> from torch import nn
    >>> model = nn.Linear(1, 1, bias=False)
    >>> ema = create_ema(model, 0.9)
    >>> _ = nn.init.constant_(model.weight, 1.0)
    >>> ema.update(model, step=1)  # the first update copies
    >>> _ = nn.init.constant_(model.weight, 3.0)
    >>> ema.update(model, step=2)  # decay 1 - 2 ** -2/3 = 0.370
    >>> round(ema.module.weight.item(), 4)
    2.2599
"""

from __future__ import annotations

from typing import Any

from timm.utils import ModelEmaV3
from torch import nn

__all__ = ["create_ema", "load_weights_state", "weights_state"]


def create_ema(model: nn.Module, decay: float) -> ModelEmaV3 | None:
    """timm's ``ModelEmaV3`` of ``model`` (the unwrapped one, not the DDP wrapper) with decay warmup; ``None``
    when ``decay`` is 0."""
    if decay <= 0:
        return None
    return ModelEmaV3(model, decay=decay, use_warmup=True)


def weights_state(model: nn.Module, ema: ModelEmaV3 | None, updates: int) -> dict[str, Any]:
    """The weights part of a checkpoint: ``{"model"}``, or with an EMA ``{"model": EMA, "train_model", ...}``.

    Args:
        model: the model being trained (unwrapped).
        ema: its EMA, or ``None``.
        updates: optimizer steps so far (the EMA's update count).
    """
    if ema is None:
        return {"model": model.state_dict()}
    return {"model": ema.module.state_dict(), "train_model": model.state_dict(), "ema_updates": updates}


def load_weights_state(model: nn.Module, ema: ModelEmaV3 | None, state: dict[str, Any]) -> str | None:
    """Put a checkpoint's training weights into ``model`` and its EMA into ``ema`` (the inverse of `weights_state`).

    The training weights are ``train_model`` when the checkpoint has an EMA, else ``model``. The model's weights
    must already be checked against the checkpoint (`load_model_weights`); this only copies.

    Returns:
        A note when ``ema`` had to start from the training weights (a checkpoint written without an EMA).
    """
    model.load_state_dict(state.get("train_model", state["model"]))
    if ema is None:
        return None
    if "train_model" in state:
        ema.module.load_state_dict(state["model"])
        return None
    ema.set(model)
    return "the checkpoint has no EMA of the weights: the EMA starts from its weights"
