"""Registries of plug-ins by name: a `Registry` per kind (data formats), and a `ModelRegistry` per task, keyed by
``model.arch`` (torchvision's ``register_model`` / ``get_model`` pattern).

A task keeps one `ModelRegistry`. Each architecture module registers its builder together with everything that belongs
to the architecture (an `Entry`): the dataclass of its ``model`` options (the shared section's fields plus its own,
so a key the architecture does not read is an error when the recipe is loaded), its torchvision counterpart, the
stem of its recipe files in ``configs/`` and what its demo compares and reports. Adding a head is one module plus
one ``@MODELS.register(...)``: the config check, the CLIs, the demo and the benchmarks find it by name.

Examples::

    >>> from dataclasses import dataclass
    >>> from torch import nn
    >>> @dataclass
    ... class LinearOptions:
    ...     arch: str = "linear"
    ...     in_features: int = 4
    >>> MODELS = ModelRegistry("toy model")
    >>> @MODELS.register("linear", options=LinearOptions, recipe="linear_toy")
    ... def linear(cfg, num_classes):
    ...     return nn.Linear(cfg.in_features, num_classes)
    >>> MODELS.names(), MODELS.recipe("linear").name
    (['linear'], 'linear_toy_demo.yaml')
    >>> MODELS.get("linear")(MODELS.options("linear")(in_features=3), 2)
    Linear(in_features=3, out_features=2, bias=True)
    >>> MODELS.get("conv")
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: unknown toy model 'conv'; registered: ['linear']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError

__all__ = ["CONFIGS", "Entry", "ModelRegistry", "Registry"]

F = TypeVar("F", bound=Callable[..., Any])

#: The recipes folder of the source tree (``configs/``): ``<recipe>_<data>.yaml`` per architecture.
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class Entry:
    """What a registered architecture is made of.

    Args:
        name: the ``model.arch`` value.
        build: ``build(cfg, **kwargs) -> nn.Module``, ``cfg`` an instance of ``options``.
        options: the dataclass of the ``model`` section for this architecture (shared fields + its own).
        baseline: a reference model (torchvision's MobileNetV3 models), not ours.
        counterpart: the torchvision model ours is compared with (``demo --compare``, the benchmarks).
        recipe: stem of the recipe files ``configs/<recipe>_<data>.yaml`` (``_demo``, ``_coco``, ``_voc`` ...).
        compare: what ``demo --compare`` trains beside it (default: the counterpart).
        demo_metrics: more dotted metrics the demo summary shows beside the task's own (``("segm.AP",)``).
        tags: traits the task reads (detection: ``"masks"`` for a model that learns instance masks).
    """

    name: str
    build: Callable[..., Any]
    options: type
    baseline: bool = False
    counterpart: str | None = None
    recipe: str | None = None
    compare: tuple[str, ...] = ()
    demo_metrics: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()

    @property
    def compared_with(self) -> tuple[str, ...]:
        """What ``demo --compare`` trains beside this architecture."""
        return self.compare or ((self.counterpart,) if self.counterpart else ())


class Registry:
    """Name -> registered object (a data format's builder, a model's `Entry`), one instance per kind of plug-in.

    Args:
        kind: what the entries are, for error messages (``"detection data format (data.format)"``).

    Examples::

        >>> FORMATS = Registry("toy format")
        >>> @FORMATS.register("csv")
        ... def read_csv(path):
        ...     return path
        >>> FORMATS.names(), FORMATS.get("csv") is read_csv, "tsv" in FORMATS
        (['csv'], True, False)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator registering an object (a function, a class, a record) under ``name``."""

        def wrap(item: F) -> F:
            self._add(name, item)
            return item

        return wrap

    def _add(self, name: str, item: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = item

    def unregister(self, name: str) -> Any:
        """Remove ``name`` (a test or notebook undoing its own registration); returns what was registered."""
        self.get(name)
        return self._entries.pop(name)

    def get(self, name: str) -> Any:
        """What is registered as ``name``; a `ConfigError` listing the registered names otherwise."""
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; registered: {self.names()}")
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


class ModelRegistry(Registry):
    """Name -> `Entry` of an architecture, one instance per task.

    Args:
        kind: what the entries are, for error messages (``"detection architecture (model.arch)"``).
    """

    def register(self, name: str, *, options: type, **details: Any) -> Callable[[F], F]:  # type: ignore[override]
        """Decorator registering a builder under ``name`` with its ``options`` dataclass and `Entry` ``details``."""

        def wrap(builder: F) -> F:
            for key in ("compare", "demo_metrics"):
                details[key] = tuple(details.get(key, ()))
            details["tags"] = frozenset(details.get("tags", ()))
            self._add(name, Entry(name, builder, options, **details))
            return builder

        return wrap

    @contextmanager
    def registered(self, name: str, builder: Callable[..., Any], *, options: type, **details: Any) -> Iterator[Entry]:
        """Register ``builder`` for the duration of a ``with`` block (tests, notebooks trying a head)."""
        self.register(name, options=options, **details)(builder)
        try:
            yield self._entries[name]
        finally:
            self.unregister(name)

    def entry(self, name: str) -> Entry:
        """The `Entry` registered as ``name``; a `ConfigError` listing the registered names otherwise."""
        return super().get(name)

    def get(self, name: str) -> Callable[..., Any]:
        """The builder registered as ``name``."""
        return self.entry(name).build

    def options(self, name: str) -> type:
        """The dataclass of the ``model`` section when ``model.arch`` is ``name``."""
        return self.entry(name).options

    def recipe(self, name: str, data: str = "demo") -> Path:
        """The recipe ``configs/<recipe>_<data>.yaml`` of architecture ``name`` (``data``: ``demo``, ``coco`` ...)."""
        entry = self.entry(name)
        if not entry.recipe:
            raise ConfigError(f"{self.kind} {name!r} has no recipe of its own")
        return CONFIGS / f"{entry.recipe}_{data}.yaml"

    def counterparts(self) -> dict[str, str]:
        """Each of our architectures -> its torchvision counterpart (those that have one)."""
        return {n: e.counterpart for n, e in sorted(self._entries.items()) if not e.baseline and e.counterpart}

    def names(self, *, baselines: bool = True) -> list[str]:
        """Registered names, sorted; ``baselines=False`` leaves out the reference models."""
        return sorted(n for n, e in self._entries.items() if baselines or not e.baseline)

    def is_baseline(self, name: str) -> bool:
        """Whether ``name`` is a reference model (torchvision's MobileNetV3 counterparts)."""
        return self.entry(name).baseline

    def has_tag(self, name: str, tag: str) -> bool:
        """Whether the architecture ``name`` carries ``tag``."""
        return tag in self.entry(name).tags
