"""The GhostNet models: blocks, re-parameterisable blocks, norms, the model class, the timm builder and entrypoints.

Imports only torch, torchvision's ``FrozenBatchNorm2d`` and timm: nothing of the engine, data or benchmarks.
Importing it registers ``ghostnet``, ``ghostnetv2`` and ``ghostnetv3`` in timm.
"""

from . import entrypoints as _entrypoints  # noqa: F401  (registers the timm models)
from .builder import checkpoint_filter_fn, create_ghostnet
from .ghostnet import GHOSTNET_STAGES, BlockSpec, GhostNet, GhostNetFeatures, deploy
from .norm import resolve_norm_layer

__all__ = [
    "GHOSTNET_STAGES",
    "BlockSpec",
    "GhostNet",
    "GhostNetFeatures",
    "checkpoint_filter_fn",
    "create_ghostnet",
    "deploy",
    "resolve_norm_layer",
]
