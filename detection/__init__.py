"""Object detection with a GhostNet-FPN backbone in torchvision's detectors.

Architectures are registry entries (``detection.models.MODELS``), chosen by ``model.arch`` in the recipe.

Library API::

    >>> import torch
    >>> from detection import fasterrcnn_ghostnet_fpn
    >>> model = fasterrcnn_ghostnet_fpn(num_classes=91, min_size=320, max_size=320).eval()
    >>> [sorted(d) for d in model([torch.rand(3, 320, 320)])]
    [['boxes', 'labels', 'scores']]

The builders are in torchvision's model registry once the package is imported:
``torchvision.models.get_model("fasterrcnn_ghostnet_fpn", weights=None, num_classes=91)`` (torchvision's
``references/detection/train.py --model fasterrcnn_ghostnet_fpn`` too, after ``import detection``).

Entry points: ``python -m detection.train`` (COCO-format training / evaluation), ``python -m detection.predict``,
``python -m detection.benchmark`` (against torchvision's MobileNetV3-Large-FPN) and ``python -m detection.demo``
(synthetic data, CPU, a few minutes).
"""

from .config import DetectionConfig
from .data.coco import CategoryMap, CocoDetection
from .evaluate import coco_evaluate
from .fpn import TimmFPNBackbone, ghostnet_fpn_backbone
from .models import (
    MODELS,
    anchor_generator_for,
    build_model,
    fasterrcnn_ghostnet_fpn,
    fcos_ghostnet_fpn,
    maskrcnn_ghostnet_fpn,
    retinanet_ghostnet_fpn,
    ssdlite_ghostnet,
)

__all__ = [
    "MODELS",
    "CategoryMap",
    "CocoDetection",
    "DetectionConfig",
    "TimmFPNBackbone",
    "anchor_generator_for",
    "build_model",
    "coco_evaluate",
    "fasterrcnn_ghostnet_fpn",
    "fcos_ghostnet_fpn",
    "ghostnet_fpn_backbone",
    "maskrcnn_ghostnet_fpn",
    "retinanet_ghostnet_fpn",
    "ssdlite_ghostnet",
]
