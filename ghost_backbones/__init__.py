"""GhostNet V1/V2/V3 backbones registered in timm, and the shared machinery of the detection and segmentation tasks.

``import ghost_backbones`` registers the timm models ``ghostnet``, ``ghostnetv2`` and ``ghostnetv3`` (keyword
``width``); timm's own ``ghostnet_100``, ``ghostnetv2_*``, ``ghostnetv3_*`` are left untouched. The entrypoints are
importable too: ``from ghost_backbones import ghostnet``.

Layout: ``models/`` (the networks; imports only torch and timm), ``engine/`` (training machinery shared by the
tasks), ``data/`` (image reading, synthetic COCO / VOC datasets), ``bench/`` (timing harness and the backbone
benchmark, ``python -m ghost_backbones.bench``), ``torchvision_registry`` (our models in torchvision's
``get_model``: the feature extractors ``ghostnet_features``, ``ghostnetv2_features``, ``ghostnetv3_features``).

Examples::

    >>> import timm, torch, ghost_backbones
    >>> model = timm.create_model("ghostnet", features_only=True)
    >>> [f.shape[1:] for f in model(torch.rand(1, 3, 224, 224))]
    [torch.Size([16, 112, 112]), torch.Size([24, 56, 56]), torch.Size([40, 28, 28]), torch.Size([112, 14, 14]), \
torch.Size([960, 7, 7])]
    >>> ghost_backbones.ghostnet(width=0.5).num_features
    480
"""

from .models import (
    GHOSTNET_STAGES,
    BlockSpec,
    GhostNet,
    GhostNetFeatures,
    checkpoint_filter_fn,
    deploy,
    resolve_norm_layer,
)
from .models.entrypoints import ghostnet, ghostnetv2, ghostnetv3
from .torchvision_registry import ghostnet_features, ghostnetv2_features, ghostnetv3_features

__all__ = [
    "GHOSTNET_STAGES",
    "BlockSpec",
    "GhostNet",
    "GhostNetFeatures",
    "checkpoint_filter_fn",
    "deploy",
    "ghostnet",
    "ghostnet_features",
    "ghostnetv2",
    "ghostnetv2_features",
    "ghostnetv3",
    "ghostnetv3_features",
    "resolve_norm_layer",
]
