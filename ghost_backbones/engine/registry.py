"""A model registry per task: torchvision's ``register_model`` / ``get_model`` pattern, keyed by ``model.arch``.

A task keeps one `Registry`; each architecture module registers its builder, which takes the task's typed
``model`` config section (plus the number of classes) and declares no defaults of its own. Adding a head is one
module plus one ``@MODELS.register("name")`` line: the config check, the CLIs, the demo and the benchmarks find it
by name.

Examples::

    >>> from torch import nn
    >>> MODELS = Registry("toy model")
    >>> @MODELS.register("linear")
    ... def linear(cfg, num_classes):
    ...     return nn.Linear(cfg["in_features"], num_classes)
    >>> MODELS.names()
    ['linear']
    >>> MODELS.get("linear")({"in_features": 4}, 2)
    Linear(in_features=4, out_features=2, bias=True)
    >>> MODELS.get("conv")
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: unknown toy model 'conv'; registered: ['linear']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ConfigError

__all__ = ["Registry"]

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """Name -> model builder, one instance per task.

    Args:
        kind: what the entries are, for error messages (``"detection architecture"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}
        self._baselines: set[str] = set()

    def register(self, name: str, *, baseline: bool = False) -> Callable[[F], F]:
        """Decorator registering a builder under ``name`` (``baseline``: a reference model, not ours)."""

        def wrap(builder: F) -> F:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = builder
            if baseline:
                self._baselines.add(name)
            return builder

        return wrap

    def get(self, name: str) -> Callable[..., Any]:
        """The builder registered as ``name``; a `ConfigError` listing the registered names otherwise."""
        if name not in self._builders:
            raise ConfigError(f"unknown {self.kind} {name!r}; registered: {self.names()}")
        return self._builders[name]

    def names(self, *, baselines: bool = True) -> list[str]:
        """Registered names, sorted; ``baselines=False`` leaves out the reference models."""
        return sorted(n for n in self._builders if baselines or n not in self._baselines)

    def is_baseline(self, name: str) -> bool:
        """Whether ``name`` is a reference model (torchvision's MobileNetV3 counterparts)."""
        return name in self._baselines

    def __contains__(self, name: object) -> bool:
        return name in self._builders
