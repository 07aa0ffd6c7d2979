"""The GhostNet models: blocks, re-parameterisable blocks, norms, the model class, the timm builder and entrypoints.

Imports only torch, torchvision's ``FrozenBatchNorm2d`` and timm: nothing of the engine, data or benchmarks.
Importing it registers ``ghostnet``, ``ghostnetv2`` and ``ghostnetv3`` in timm.

Modules: ``blocks`` (Ghost module and bottleneck), ``dfc`` (GhostNetV2's DFC attention), ``rep_blocks``
(GhostNetV3's re-parameterisable blocks), ``split_hidden`` (the deploy form's unconcatenated expansion),
``strides`` (a block's strides under ``output_stride``), ``norm`` (norm factories, conv + norm folding), ``stages`` (the
architecture table), ``ghostnet`` (the model class), ``features`` (the ``features_only`` wrapper), ``deploy``
(inference fusion), ``builder`` (timm's ``build_model_with_cfg``, checkpoint filter), ``entrypoints`` (the timm
names and their pretrained cfgs).
"""

from . import entrypoints as _entrypoints  # noqa: F401  (registers the timm models)
from .builder import checkpoint_filter_fn, create_ghostnet
from .deploy import deploy
from .features import GhostNetFeatures
from .ghostnet import GhostNet
from .norm import resolve_norm_layer
from .stages import GHOSTNET_STAGES, BlockSpec

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
