"""The sections every task's recipe shares: ``model.backbone`` (`BackboneConfig`) and ``train`` (`TrainConfig`),
and the checks of a section's values (`check_choices`, `CheckedSection`).

Examples::

    >>> TrainConfig(epochs=3).lr_scheduler
    'multistep'
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["BackboneConfig", "CheckedSection", "NormName", "TrainConfig", "check_choices"]

NormName = Literal["", "batchnorm", "frozenbn", "groupnorm", "syncbn"]


def check_choices(section: Any, prefix: str) -> None:
    """Check every ``Literal[...]`` field of the dataclass instance ``section``; the error lists the valid values.

    The config loader checks them too; this also covers configs built in code (``ModelConfig(arch=...)``).

    Examples::

        >>> TrainConfig(optimizer="adam")
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.ConfigError: train.optimizer must be one of ['sgd', 'adamw'], got 'adam'
    """
    hints = typing.get_type_hints(type(section))
    for f in dataclasses.fields(section):
        tp = hints[f.name]
        if typing.get_origin(tp) is typing.Literal and getattr(section, f.name) not in typing.get_args(tp):
            raise ConfigError(
                f"{prefix}.{f.name} must be one of {list(typing.get_args(tp))}, got {getattr(section, f.name)!r}"
            )


class CheckedSection:
    """Base of a section made of option groups (dataclass mixins): after ``__init__`` it checks every
    ``Literal[...]`` field (`check_choices`) and runs the ``_check`` method of each class of its MRO that defines
    one, so each group checks its own fields.

    Examples::

        >>> @dataclass
        ... class Width:
        ...     width: int = 8
        ...     def _check(self):
        ...         if self.width < 1:
        ...             raise ConfigError(f"model.width must be >= 1, got {self.width}")
        >>> @dataclass
        ... class Net(Width, CheckedSection):
        ...     arch: Literal["net"] = "net"
        >>> Net(width=0)
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.ConfigError: model.width must be >= 1, got 0
    """

    #: the section's name in error messages
    section_name = "model"

    def __post_init__(self) -> None:
        check_choices(self, self.section_name)
        for klass in reversed(type(self).__mro__):
            if "_check" in vars(klass):
                vars(klass)["_check"](self)


@dataclass
class BackboneConfig:
    """The timm backbone of a detection or segmentation model (``model.backbone`` in both tasks' recipes).

    Args:
        name: timm model: ``ghostnet``, ``ghostnetv2``, ``ghostnetv3`` or any model timm builds with
            ``features_only=True`` (``mobilenetv3_large_100``, ``resnet50`` ...).
        width: channel multiplier of the GhostNet models (other timm models have none: leave it at 1.0).
        pretrained: start from ImageNet weights (timm's hub, or a file through
            ``timm_kwargs: {pretrained_cfg_overlay: {file: PATH}}``).
        frozen_stages: GhostNet levels frozen (weights and BN statistics); ``null`` freezes nothing.
        norm_layer: the backbone's norm; ``""`` is the task's default (detection: frozen BN when ``pretrained``, as
            torchvision; otherwise trainable BN).
        timm_kwargs: more ``timm.create_model`` arguments (``drop_path_rate``, ``pretrained_cfg_overlay`` ...).

    Examples::

        >>> BackboneConfig(name="ghostnetv2", width=1.3).width
        1.3
        >>> BackboneConfig(name="ghostnet_v9")
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.ConfigError: model.backbone.name: 'ghostnet_v9' is not a timm model (ours: \
['ghostnet', 'ghostnetv2', 'ghostnetv3'], or any name of timm.list_models())
    """

    name: str = "ghostnet"
    width: float = 1.0
    pretrained: bool = False
    frozen_stages: int | None = None
    norm_layer: NormName = ""
    timm_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import timm

        import ghost_backbones  # noqa: F401  (registers ours)

        check_choices(self, "model.backbone")
        if not timm.is_model(self.name):
            raise ConfigError(
                f"model.backbone.name: {self.name!r} is not a timm model (ours: ['ghostnet', 'ghostnetv2', "
                f"'ghostnetv3'], or any name of timm.list_models())"
            )
        if not self.width > 0:
            raise ConfigError(f"model.backbone.width must be > 0, got {self.width}")


@dataclass
class TrainConfig:
    """Options of the shared training loop (`ghost_backbones.engine.fit`), identical for every task.

    Args:
        output_dir: folder for ``checkpoint.pth``, ``best.pth``, ``log.jsonl``, ``metrics.json``, ``plots/``, ``tb/``.
        epochs: number of training epochs.
        batch_size: images per process and batch (see ``accumulate_steps``).
        workers: data-loading worker processes per training process.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: mixed precision (float16 + GradScaler on CUDA, bfloat16 autocast on CPU).
        seed: base random seed (each rank and epoch derive their own from it).
        optimizer: ``"sgd"`` (momentum, nesterov off) or ``"adamw"``.
        lr: peak learning rate, for the whole (global) batch.
        momentum: SGD momentum.
        weight_decay: L2 weight decay for weights; see ``norm_weight_decay``.
        norm_weight_decay: weight decay for normalisation and bias parameters (``None``: same as weights).
        lr_scheduler: ``"multistep"`` (``lr_steps`` in epochs, times ``lr_gamma``), ``"cosine"`` or ``"poly"``
            (``(1 - it / total) ** poly_power``); all are stepped every optimizer step.
        lr_steps: epochs at which ``multistep`` multiplies the rate by ``lr_gamma``.
        lr_gamma: multistep factor.
        poly_power: exponent of the ``poly`` schedule.
        warmup_iters: optimizer steps of linear warmup from ``warmup_factor * lr`` to ``lr`` (0 disables).
        warmup_factor: starting fraction of the warmup.
        clip_grad_norm: clip the global gradient norm to this value (0 disables).
        eval_every: evaluate every N epochs (and always after the last one).
        log_every: write a training line to ``log.jsonl`` every N iterations.
        resume: checkpoint to resume from (model, optimizer, scheduler, scaler, epoch), or ``""``.
        weights: checkpoint whose model weights initialise the model (fine-tuning, ``test_only``), or ``""``.
        test_only: only evaluate (with ``resume`` or ``weights``) and write ``metrics.json``.
        sync_bn: convert every BatchNorm to SyncBatchNorm when the run is distributed (``torchrun`` with more than
            one process, on CUDA), so batch statistics come from the global batch; a single process keeps BatchNorm.
        ema_decay: keep an exponential moving average of the weights and BatchNorm buffers (timm's ``ModelEmaV3``,
            with its decay warmup: ``min(ema_decay, 1 - step ** (-2/3))``), updated after every optimizer
            step; evaluation, ``best.pth`` and the ``model`` weights of every checkpoint are then the EMA's (the
            training weights are kept as ``train_model`` for resuming). ``0`` turns it off; ``0.9998`` is usual.
        accumulate_steps: gradient accumulation: sum the gradients of this many batches (each loss scaled by
            ``1 / accumulate_steps``) before one optimizer step; clipping applies to the summed gradient, DDP
            synchronises only the last batch of each step; a shorter last group of an epoch averages its own
            batches. The schedule, ``warmup_iters`` and the EMA count optimizer steps. The effective batch is
            ``batch_size x accumulate_steps x processes`` (logged). ``1`` turns it off.
        early_stop_patience: stop training when ``best_metric`` has not improved for this many evaluations in a
            row (an ``early_stop`` record in ``log.jsonl`` and one line say so); ``0`` turns it off.
        grad_checkpointing: call ``set_grad_checkpointing(True)`` on every module of the model that has it (the
            GhostNet backbones, timm's feature wrappers): less activation memory, more compute, same gradients.
        tensorboard: write TensorBoard event files in ``OUT/tb/`` (losses, lr, every numeric metric, the task's
            pictures) when ``tensorboard`` is installed; without it one note says so and training goes on.
        plots: after each evaluation draw ``OUT/plots/``: ``training_curves.png`` (losses, lr, the metric) and the
            task's pictures (detection: PR curves, per-class AP; segmentation: confusion matrix, per-class IoU).
            Needs matplotlib (without it one warning); a picture that fails is a warning, never a failed run.

    Examples::

        >>> TrainConfig(ema_decay=1.0)
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.ConfigError: train.ema_decay must be in [0, 1) (0 turns the EMA off), got 1.0
    """

    output_dir: str = "runs/default"
    epochs: int = 12
    batch_size: int = 2
    workers: int = 2
    device: str = "auto"
    amp: bool = False
    seed: int = 42
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    norm_weight_decay: float | None = None
    lr_scheduler: Literal["multistep", "cosine", "poly"] = "multistep"
    lr_steps: list[int] = field(default_factory=lambda: [8, 11])
    lr_gamma: float = 0.1
    poly_power: float = 0.9
    warmup_iters: int = 500
    warmup_factor: float = 0.001
    clip_grad_norm: float = 0.0
    eval_every: int = 1
    log_every: int = 20
    resume: str = ""
    weights: str = ""
    test_only: bool = False
    sync_bn: bool = False
    ema_decay: float = 0.0
    accumulate_steps: int = 1
    early_stop_patience: int = 0
    grad_checkpointing: bool = False
    tensorboard: bool = True
    plots: bool = True

    def __post_init__(self) -> None:
        check_choices(self, "train")
        for name in ("epochs", "batch_size", "eval_every", "log_every", "accumulate_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0 or self.warmup_iters < 0:
            raise ConfigError(f"train.workers and train.warmup_iters must be >= 0: {self.workers}, {self.warmup_iters}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"train.lr must be a finite number > 0, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:  # also refuses NaN
            raise ConfigError(f"train.ema_decay must be in [0, 1) (0 turns the EMA off), got {self.ema_decay}")
        if self.early_stop_patience < 0:
            raise ConfigError(
                f"train.early_stop_patience must be >= 0 (0 turns early stopping off), got {self.early_stop_patience}"
            )
