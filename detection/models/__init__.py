"""Detection models: the registry (``model.arch``) and one module per architecture.

Adding an architecture is one module in this folder: its options dataclass (the shared
:class:`~detection.sections.ModelConfig` plus its own keys) and a builder ``build_x(cfg, **kwargs)`` decorated with
``@MODELS.register("x", options=..., counterpart=..., recipe=...)``, plus its recipe ``configs/<recipe>_demo.yaml``.
Every module here is imported when the package is, so the config check, the CLIs, the demo and the benchmark find
it by name with no other edit (README: "Adding a detection head").

The public builders are torchvision-style and registered in torchvision's model registry when the package is
imported: ``torchvision.models.get_model("fasterrcnn_ghostnet_fpn" | "maskrcnn_ghostnet_fpn" |
"retinanet_ghostnet_fpn" | "fcos_ghostnet_fpn" | "ssdlite_ghostnet", weights=None, weights_backbone=None,
num_classes=..., trainable_backbone_layers=..., **kwargs)`` (:mod:`detection.models.torchvision_style`).
"""

from ghost_backbones.plugins import import_plugins

from .anchors import anchor_generator_for
from .faster_rcnn import build_faster_rcnn, fasterrcnn_ghostnet_fpn
from .fcos import fcos_ghostnet_fpn
from .mask_rcnn import build_mask_rcnn, maskrcnn_ghostnet_fpn
from .registry import MASKS, MODELS, build_model, needs_masks
from .retinanet import retinanet_ghostnet_fpn
from .ssdlite import ssdlite_ghostnet

import_plugins(__name__, __path__)  # every architecture module of this folder registers itself

__all__ = [
    "MASKS",
    "MODELS",
    "anchor_generator_for",
    "build_faster_rcnn",
    "build_mask_rcnn",
    "build_model",
    "fasterrcnn_ghostnet_fpn",
    "fcos_ghostnet_fpn",
    "maskrcnn_ghostnet_fpn",
    "needs_masks",
    "retinanet_ghostnet_fpn",
    "ssdlite_ghostnet",
]
