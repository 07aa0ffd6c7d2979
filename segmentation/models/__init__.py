"""Segmentation models: the registry (``model.arch``) and one module per architecture.

Adding a head: a module with a builder ``build_x(cfg: ModelConfig)`` decorated with ``@MODELS.register("x")``,
imported here. The config check, the CLIs, the demo and the benchmark find it by name.
"""

from . import baselines, deeplab, fcn, lraspp  # noqa: F401  (register the architectures)
from .deeplab import deeplabv3_ghostnet, deeplabv3plus_ghostnet
from .fcn import fcn_ghostnet
from .heads import DeepLabV3Plus
from .lraspp import lraspp_ghostnet
from .registry import MODELS, build_model

__all__ = [
    "MODELS",
    "DeepLabV3Plus",
    "build_model",
    "deeplabv3_ghostnet",
    "deeplabv3plus_ghostnet",
    "fcn_ghostnet",
    "lraspp_ghostnet",
]
