"""Detection models: the registry (``model.arch``) and one module per architecture.

Adding an architecture: a module with a builder ``build_x(cfg: ModelConfig, **kwargs)`` decorated with
``@MODELS.register("x")``, imported here (an architecture that learns instance masks also joins
``registry.MASK_ARCHS``). The config check, the CLIs, the demo and the benchmark find it by name.
"""

from . import baselines, faster_rcnn, fcos, mask_rcnn, retinanet, ssdlite  # noqa: F401  (register the architectures)
from .anchors import anchor_generator_for
from .faster_rcnn import build_faster_rcnn, fasterrcnn_ghostnet_fpn
from .mask_rcnn import build_mask_rcnn, maskrcnn_ghostnet_fpn
from .registry import MODELS, build_model, needs_masks

__all__ = [
    "MODELS",
    "anchor_generator_for",
    "build_faster_rcnn",
    "build_mask_rcnn",
    "build_model",
    "fasterrcnn_ghostnet_fpn",
    "maskrcnn_ghostnet_fpn",
    "needs_masks",
]
