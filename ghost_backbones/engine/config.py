"""Typed configuration: dataclasses loaded from YAML and overridden with dotted ``KEY=VALUE`` strings.

A task describes its whole configuration as one dataclass whose fields are dataclass sections
(``model``, ``data``, ``train``). YAML files mirror those sections; any unknown key is an error that
lists the valid keys, and values are checked against the field types. A `variant_section` (the ``model``
section) takes its dataclass from one of its keys (``arch``): each architecture declares its own options, and a
key the chosen one does not read is an error naming it and its keys.

Examples::

    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Recipe:
    ...     train: TrainConfig = field(default_factory=TrainConfig)
    >>> cfg = load_config(Recipe, None, ["train.epochs=3", "train.lr_steps=[8, 11]"])
    >>> cfg.train.epochs, cfg.train.lr_steps
    (3, [8, 11])
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from ..errors import ConfigError
from .coerce import coerce

__all__ = [
    "BackboneConfig",
    "CheckedSection",
    "check_choices",
    "NormName",
    "TrainConfig",
    "load_config",
    "parse_override",
    "apply_overrides",
    "config_to_dict",
    "config_from_dict",
    "valid_keys",
    "variant_section",
    "switch_variant",
    "convert_section",
]

T = TypeVar("T")

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


def valid_keys(cls: type, prefix: str = "") -> list[str]:
    """All dotted keys of a config dataclass, e.g. ``["model.width", "train.lr", ...]``."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = type(_field_default(f)) if "variants" in f.metadata else hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(valid_keys(tp, f"{prefix}{f.name}."))
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def variant_section(variants: Callable[[str], type], default: str, key: str = "arch") -> Any:
    """A section field whose dataclass is ``variants(value of key)``: the ``model`` section, by ``model.arch``.

    The section's keys are those of the chosen dataclass; any other is an error naming the choice and its keys.

    Args:
        variants: ``name -> dataclass`` (a model registry's ``options``); raises `ConfigError` for an unknown name.
        default: the ``key`` value of the default section.
        key: the field that chooses.

    Examples::

        >>> @dataclass
        ... class Small:
        ...     arch: str = "small"
        ...     width: int = 8
        >>> @dataclass
        ... class Big:
        ...     arch: str = "big"
        ...     depth: int = 50
        >>> @dataclass
        ... class Recipe:
        ...     model: Any = variant_section({"small": Small, "big": Big}.__getitem__, "small")
        >>> load_config(Recipe, None, ["model.arch=big", "model.depth=18"]).model
        Big(arch='big', depth=18)
        >>> load_config(Recipe, None, ["model.arch=big", "model.width=4"])
        Traceback (most recent call last):
          ...
        ghost_backbones.errors.ConfigError: overrides: ['model.width'] not read by model.arch='big'; its keys: \
['model.arch', 'model.depth']
    """
    return field(
        default_factory=lambda: variants(default)(**{key: default}), metadata={"variants": variants, "variant_key": key}
    )


def _build(cls: type[T], values: Mapping[str, Any], prefix: str, source: str, lenient: bool = False) -> T:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: section '{prefix.rstrip('.') or '<top>'}' must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(
            f"{source}: unknown config key(s) {[prefix + str(k) for k in unknown]}; "
            f"valid keys: {valid_keys(cls, prefix)}"
        )
    kwargs = {}
    for name, value in values.items():
        tp = hints[name]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a section given as its dataclass
            value = dataclasses.asdict(value)
        if "variants" in names[name].metadata:
            kwargs[name] = _build_variant(names[name], value, f"{prefix}{name}.", source, lenient)
        elif dataclasses.is_dataclass(tp):
            # Merge over the field's own default (a task may default to e.g. TrainConfig(lr_scheduler="poly")).
            default = _field_default(names[name])
            base = dataclasses.asdict(default) if dataclasses.is_dataclass(default) else {}
            if not isinstance(value or {}, Mapping):
                raise ConfigError(f"{source}: section '{prefix}{name}' must be a mapping, got {value!r}")
            kwargs[name] = _build(tp, _merge(base, value or {}), f"{prefix}{name}.", source, lenient)
        else:
            kwargs[name] = coerce(value, tp, f"{source}: {prefix}{name}")
    # Sections not mentioned keep their defaults.
    return cls(**kwargs)


def _build_variant(f: dataclasses.Field, value: Any, prefix: str, source: str, lenient: bool) -> Any:
    """The `variant_section` ``f`` from ``value``: its dataclass chosen by the variant key (``lenient``: a
    checkpoint's config, whose keys other variants read are dropped)."""
    if not isinstance(value or {}, Mapping):
        raise ConfigError(f"{source}: section '{prefix.rstrip('.')}' must be a mapping, got {value!r}")
    values, key = dict(value or {}), f.metadata["variant_key"]
    chosen = values.setdefault(key, getattr(_field_default(f), key))
    try:
        cls = f.metadata["variants"](chosen)
    except (ConfigError, KeyError) as e:
        raise ConfigError(f"{source}: {e}") from None
    names = {g.name for g in dataclasses.fields(cls)}
    unknown = sorted(k for k in values if k not in names)
    if unknown and not lenient:
        raise ConfigError(
            f"{source}: {[prefix + str(k) for k in unknown]} not read by {prefix}{key}={chosen!r}; "
            f"its keys: {valid_keys(cls, prefix)}"
        )
    return _build(cls, {k: v for k, v in values.items() if k in names}, prefix, source, lenient)


def switch_variant(cfg: T, section: str, value: str) -> T:
    """A copy of ``cfg`` whose `variant_section` ``section`` is the variant ``value``: the keys both variants read
    keep their values, the others take the new variant's defaults (``demo --compare`` trains a baseline on the
    same recipe this way).

    Examples::

        >>> @dataclass
        ... class Small:
        ...     arch: str = "small"
        ...     width: int = 8
        ...     seed: int = 0
        >>> @dataclass
        ... class Big:
        ...     arch: str = "big"
        ...     depth: int = 50
        ...     seed: int = 0
        >>> @dataclass
        ... class Recipe:
        ...     model: Any = variant_section({"small": Small, "big": Big}.__getitem__, "small")
        >>> switch_variant(load_config(Recipe, None, ["model.seed=3"]), "model", "big").model
        Big(arch='big', depth=50, seed=3)
    """
    f = {g.name: g for g in dataclasses.fields(cfg)}[section]
    converted = convert_section(
        getattr(cfg, section), f.metadata["variants"](value), **{f.metadata["variant_key"]: value}
    )
    return dataclasses.replace(cfg, **{section: converted})


def convert_section(section: Any, cls: type[T], **changes: Any) -> T:
    """``section``'s values (a config dataclass or a mapping) of the keys ``cls`` has, with ``changes``, as a
    checked ``cls`` (other keys dropped).

    Examples::

        >>> convert_section(TrainConfig(epochs=3), TrainConfig, lr=0.1).epochs
        3
    """
    names = {g.name for g in dataclasses.fields(cls)}
    values = section if isinstance(section, Mapping) else config_to_dict(section)
    kept = {k: v for k, v in values.items() if k in names}
    return _build(cls, {**kept, **changes}, "", f"{cls.__name__}({', '.join(changes)})")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _parse_overrides(overrides: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    items = overrides.items() if isinstance(overrides, Mapping) else (parse_override(o) for o in overrides)
    for key, value in items:
        node = nested
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r} conflicts with another override of {p!r}")
        node[leaf] = value
    return nested


def parse_override(override: str) -> tuple[str, Any]:
    """``'train.lr=0.01'`` -> ``('train.lr', 0.01)`` (the value is parsed as YAML)."""
    if "=" not in override:
        raise ConfigError(f"override must look like KEY=VALUE (e.g. train.lr=0.01), got {override!r}")
    key, raw = override.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] | Mapping[str, Any] = ()) -> T:
    """Build ``cls`` from its defaults, then a YAML file, then dotted overrides.

    Args:
        cls: the task's top-level config dataclass.
        path: YAML file mirroring ``cls`` (sections as mappings), or ``None`` for the defaults.
        overrides: ``["train.lr=0.01", ...]`` (values parsed as YAML) or ``{"train.lr": 0.01}``.

    Raises:
        ConfigError: unknown key (the message lists the valid keys), wrong type, unreadable YAML.
        FileNotFoundError: ``path`` does not exist.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(loaded).__name__}")
        values = dict(loaded or {})
        source = str(path)
    else:
        source = "config"
    _build(cls, values, "", source)  # report file errors against the file before overrides
    over = _parse_overrides(overrides)
    return _build(cls, _merge(values, over), "", "overrides" if over else source)


def apply_overrides(cfg: T, overrides: Iterable[str] | Mapping[str, Any]) -> T:
    """Return a copy of ``cfg`` with dotted overrides applied (same checks as `load_config`)."""
    return _build(type(cfg), _merge(config_to_dict(cfg), _parse_overrides(overrides)), "", "overrides")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (for checkpoints and logs)."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type[T], values: Mapping[str, Any], *, source: str = "checkpoint config") -> T:
    """Rebuild a config saved with `config_to_dict` (e.g. from a checkpoint), with the same checks.

    A checkpoint's ``model`` section (a `variant_section`) may hold keys its architecture does not read (saved by
    releases whose ``model`` section had every architecture's keys): they are dropped.
    """
    return _build(cls, values, "", source, lenient=source == "checkpoint config")
