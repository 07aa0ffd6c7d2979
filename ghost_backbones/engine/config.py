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
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..errors import ConfigError
from .coerce import coerce
from .sections import TrainConfig  # noqa: F401  (the doctests' sections resolve their annotations here)
from .yamlfile import DuplicateKeyError, load_yaml

__all__ = [
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

        >>> from dataclasses import dataclass
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

        >>> from dataclasses import dataclass
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
        ConfigError: unknown key (the message lists the valid keys), wrong type, unreadable YAML, a key written
            twice (naming both lines).
        FileNotFoundError: ``path`` does not exist.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            loaded = load_yaml(path.read_text())
        except DuplicateKeyError as e:
            raise ConfigError(f"{path}: {e}") from e
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
