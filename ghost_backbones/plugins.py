"""Plug-in modules found by their place: every module of a package folder (optionally with a name suffix) is
imported, so a new architecture or export format registers itself with no edit elsewhere.

Examples::

    >>> import detection.models
    >>> "faster_rcnn" in import_plugins("detection.models", detection.models.__path__)
    True
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

__all__ = ["import_plugins"]


def import_plugins(package: str, path: Iterable[str], suffix: str = "") -> list[str]:
    """Import every module of ``package`` (its ``__path__``) whose name ends with ``suffix``, in name order.

    Args:
        package: the package's dotted name (``__name__`` inside its ``__init__``).
        path: the package's ``__path__``.
        suffix: only modules named ``*<suffix>`` (``"_format"``); ``""`` imports them all.

    Returns:
        The module names imported (without the package prefix).
    """
    names = sorted(m.name for m in pkgutil.iter_modules(list(path)) if m.name.endswith(suffix))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
