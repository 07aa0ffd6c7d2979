"""Semantic segmentation on a dilated GhostNet: torchvision's DeepLabV3, FCN and LR-ASPP, plus DeepLabV3+.

Architectures are registry entries (``segmentation.models.MODELS``), chosen by ``model.arch`` in the recipe.

Library API::

    >>> import torch
    >>> from segmentation import deeplabv3_ghostnet
    >>> model = deeplabv3_ghostnet(num_classes=21, output_stride=16).eval()
    >>> model(torch.rand(1, 3, 520, 520))["out"].shape
    torch.Size([1, 21, 520, 520])

Entry points: ``python -m segmentation.train`` (VOC training / evaluation), ``python -m segmentation.predict``,
``python -m segmentation.benchmark`` (latency against torchvision's MobileNetV3 models) and
``python -m segmentation.demo`` (synthetic data, CPU, a few minutes).
"""

from .data.voc import VOC_CLASSES, VOCSegmentation
from .metrics import ConfusionMatrix
from .models import (
    MODELS,
    build_model,
    deeplabv3_ghostnet,
    deeplabv3plus_ghostnet,
    fcn_ghostnet,
    lraspp_ghostnet,
)
from .models.heads import DeepLabV3Plus

__all__ = [
    "ConfusionMatrix",
    "DeepLabV3Plus",
    "MODELS",
    "VOC_CLASSES",
    "VOCSegmentation",
    "build_model",
    "deeplabv3_ghostnet",
    "deeplabv3plus_ghostnet",
    "fcn_ghostnet",
    "lraspp_ghostnet",
]
