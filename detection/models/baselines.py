"""torchvision's MobileNetV3 detectors as registry entries: the baselines of ``demo --compare`` and the benchmarks.

They keep torchvision's own settings (backbone, FPN, anchors, proposal counts) and read only ``num_classes``,
``min_size`` and ``max_size`` from the ``model`` section; randomly initialised (no weights offline).
"""

from __future__ import annotations

from typing import Any

from torchvision.models.detection import FasterRCNN, fasterrcnn_mobilenet_v3_large_fpn

from ..config import ModelConfig
from .registry import MODELS

__all__ = ["build_fasterrcnn_mobilenet_v3_large_fpn"]


@MODELS.register("fasterrcnn_mobilenet_v3_large_fpn", baseline=True)
def build_fasterrcnn_mobilenet_v3_large_fpn(cfg: ModelConfig, **kwargs: Any) -> FasterRCNN:
    """torchvision's ``fasterrcnn_mobilenet_v3_large_fpn`` from scratch, its own defaults otherwise.

    Examples::

        >>> from detection.config import ModelConfig
        >>> cfg = ModelConfig(arch="fasterrcnn_mobilenet_v3_large_fpn", num_classes=4, min_size=320, max_size=320)
        >>> build_fasterrcnn_mobilenet_v3_large_fpn(cfg).roi_heads.box_predictor.cls_score.out_features
        4
    """
    return fasterrcnn_mobilenet_v3_large_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=cfg.num_classes,
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        **kwargs,
    )
