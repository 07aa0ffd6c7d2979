"""GhostNet V1/V2/V3 backbones registered in timm.

``import ghost_backbones`` registers the timm models ``ghostnet``, ``ghostnetv2`` and ``ghostnetv3`` (keyword
``width``); timm's own ``ghostnet_100``, ``ghostnetv2_*``, ``ghostnetv3_*`` are left untouched.

Examples::

    >>> import timm, torch, ghost_backbones
    >>> model = timm.create_model("ghostnet", features_only=True)
    >>> [f.shape[1:] for f in model(torch.rand(1, 3, 224, 224))]
    [torch.Size([16, 112, 112]), torch.Size([24, 56, 56]), torch.Size([40, 28, 28]), torch.Size([112, 14, 14]), \
torch.Size([960, 7, 7])]
"""

from . import ghostnet, ghostnetv2, ghostnetv3
from .builder import checkpoint_filter_fn
from .model import GHOSTNET_STAGES, BlockSpec, GhostNet, GhostNetFeatures, deploy
from .norm import resolve_norm_layer

__all__ = [
    "GHOSTNET_STAGES",
    "BlockSpec",
    "GhostNet",
    "GhostNetFeatures",
    "checkpoint_filter_fn",
    "deploy",
    "ghostnet",
    "ghostnetv2",
    "ghostnetv3",
    "resolve_norm_layer",
]
