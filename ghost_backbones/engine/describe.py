"""Runs described in messages: what a checkpoint or a config builds, and which ``model`` keys two configs set apart.

Examples::

    >>> describe_run({"model": {"arch": "lraspp", "backbone": {"name": "ghostnet", "width": 1.0}}})
    'lraspp on ghostnet (width 1.0)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import config_to_dict

__all__ = ["describe_run", "model_differences"]


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


def _flat(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def model_differences(saved: Mapping[str, Any], asked: Any) -> list[str]:
    """The ``model`` keys a run sets otherwise than the checkpoint's saved config (keys the file lacks are skipped).

    Examples::

        >>> model_differences({"model": {"arch": "fcn", "head_norm": "batchnorm"}},
        ...                   {"model": {"arch": "fcn", "head_norm": "groupnorm", "new_key": 1}})
        ["model.head_norm='groupnorm' (the file's: 'batchnorm')"]
    """
    asked = asked if isinstance(asked, Mapping) else config_to_dict(asked)
    old, new = _flat(saved.get("model", {}), "model."), _flat(asked.get("model", {}), "model.")
    return [f"{k}={new[k]!r} (the file's: {old[k]!r})" for k in new if k in old and old[k] != new[k]]
