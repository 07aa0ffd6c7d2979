"""Segmentation models on a dilated GhostNet and torchvision's MobileNetV3 baselines."""

from .builders import (
    DEFAULT_HEAD_CHANNELS,
    MODELS,
    create_model,
    deeplabv3_ghostnet,
    deeplabv3plus_ghostnet,
    fcn_ghostnet,
    lraspp_ghostnet,
)
from .heads import DeepLabV3Plus

__all__ = [
    "DEFAULT_HEAD_CHANNELS",
    "MODELS",
    "DeepLabV3Plus",
    "create_model",
    "deeplabv3_ghostnet",
    "deeplabv3plus_ghostnet",
    "fcn_ghostnet",
    "lraspp_ghostnet",
]
