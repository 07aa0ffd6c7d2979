"""A trained detector loaded from its ``detection.train`` checkpoint: predict, export and the demo read it here."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ghost_backbones.engine import load_trained_model

from .config import DetectionConfig
from .data.coco import CategoryMap
from .models import build_model

__all__ = ["TASK", "load_detector"]

#: The task's name, saved in (and checked against) every checkpoint.
TASK = "detection"


def load_detector(weights: str | Path) -> tuple[nn.Module, CategoryMap]:
    """The detector saved in a ``detection.train`` checkpoint (eval mode, on CPU) and its category mapping.

    Args:
        weights: ``checkpoint.pth`` or ``best.pth`` written by ``detection.train`` (model + config).

    Examples::

        >>> model, categories = load_detector("runs/frcnn/best.pth")  # doctest: +SKIP
        >>> categories.names  # doctest: +SKIP
        ('circle', 'square', 'triangle')
    """
    model, cfg = load_trained_model(weights, TASK, DetectionConfig, build_model)
    if not cfg.data.categories:
        raise ValueError(f"{weights}: the checkpoint config has no data.categories; cannot map labels to categories")
    return model, CategoryMap.from_categories(cfg.data.categories)
