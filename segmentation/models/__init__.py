"""Segmentation models: the registry (``model.arch``) and one module per architecture.

Adding a head is one module in this folder: its options dataclass (the shared
:class:`~segmentation.sections.ModelConfig` plus its own keys) and a builder ``build_x(cfg)`` decorated with
``@MODELS.register("x", options=..., counterpart=..., recipe=...)``, plus its recipe ``configs/<recipe>_demo.yaml``.
Every module here is imported when the package is, so the config check, the CLIs, the demo and the benchmark find
it by name with no other edit.
"""

from ghost_backbones.plugins import import_plugins

from .deeplab import deeplabv3_ghostnet, deeplabv3plus_ghostnet
from .fcn import fcn_ghostnet
from .heads import DeepLabV3Plus
from .lraspp import lraspp_ghostnet
from .registry import MODELS, build_model

import_plugins(__name__, __path__)  # every architecture module of this folder registers itself

__all__ = [
    "MODELS",
    "DeepLabV3Plus",
    "build_model",
    "deeplabv3_ghostnet",
    "deeplabv3plus_ghostnet",
    "fcn_ghostnet",
    "lraspp_ghostnet",
]
