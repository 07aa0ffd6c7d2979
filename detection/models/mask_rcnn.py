"""torchvision's Mask R-CNN on a GhostNet-FPN backbone: our Faster R-CNN plus torchvision's mask branch.

Everything Faster R-CNN has (backbone, anchors, RPN, box head: :func:`detection.models.faster_rcnn.faster_rcnn_kwargs`)
plus, as torchvision's ``maskrcnn_resnet50_fpn``: ``MultiScaleRoIAlign`` to 14 x 14 over the backbone's levels,
``MaskRCNNHeads`` (3x3 convolutions, ``model.mask_head_layers``, norm ``model.mask_head_norm``) and
``MaskRCNNPredictor`` (a 2x transposed convolution, then one 28 x 28 mask per class), its mask logits initialised as
detectron2's (see :func:`_small_mask_logits`). Trained on COCO instance masks (``detection.data.coco``); evaluated with
box and mask AP. Recipe: ``configs/mask_rcnn_ghostnet_fpn_coco.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from ghost_backbones.engine import ConfigError
from ghost_backbones.torchvision_registry import register_torchvision_model

from ..fpn import make_norm
from ..sections import Norm
from .faster_rcnn import FasterRCNNConfig, faster_rcnn_kwargs
from .registry import MASKS, MODELS
from .torchvision_style import build_torchvision_style

__all__ = ["MaskRCNNConfig", "build_mask_rcnn", "maskrcnn_ghostnet_fpn"]


@dataclass
class MaskRCNNConfig(FasterRCNNConfig):
    """``model`` keys of ``mask_rcnn``: every key of :class:`~detection.models.faster_rcnn.FasterRCNNConfig` plus
    the mask head.

    Args:
        mask_head_layers: 3x3 conv channels of the mask head (the predictor reads the last). torchvision's is
            4 x 256; ours is as wide as the default FPN.
        mask_head_norm: norm after the mask head convolutions (torchvision's Mask R-CNN v2: ``batchnorm``).
    """

    mask_head_layers: list[int] = field(default_factory=lambda: [128, 128, 128, 128])
    mask_head_norm: Norm = "none"

    def _check(self) -> None:
        if not self.mask_head_layers or min(self.mask_head_layers) < 1:
            raise ConfigError(
                f"model.mask_head_layers needs at least one channel count >= 1 (the predictor reads the last), got "
                f"{self.mask_head_layers}"
            )


def _small_mask_logits(predictor: MaskRCNNPredictor) -> MaskRCNNPredictor:
    """Start the per-class mask logits near 0 (weights N(0, 0.001), bias 0, as detectron2's mask head).

    torchvision initialises ``mask_fcn_logits`` with Kaiming fan-out, whose fan-out is the number of classes: with
    few classes the weights' std is ~0.7 and the initial logits are large, so ``loss_mask`` starts at 4-6 (measured
    on the demo's 4 classes, 128 channels) instead of the ln 2 = 0.69 of a per-pixel BCE at logit 0, and the first
    hundred steps are spent undoing the initialisation.
    """
    nn.init.normal_(predictor.mask_fcn_logits.weight, std=0.001)
    nn.init.zeros_(predictor.mask_fcn_logits.bias)
    return predictor


@MODELS.register(
    "mask_rcnn",
    options=MaskRCNNConfig,
    counterpart="maskrcnn_mobilenet_v3_large_fpn",
    recipe="mask_rcnn_ghostnet_fpn",
    demo_metrics=("segm.AP",),
    tags={MASKS},
)
def build_mask_rcnn(cfg: MaskRCNNConfig, **kwargs: Any) -> MaskRCNN:
    """torchvision's ``MaskRCNN`` on the configured timm backbone + FPN; the mask RoIs pool the backbone's levels.

    Args:
        cfg: the ``model`` section (every default lives there, :class:`MaskRCNNConfig`).
        **kwargs: more ``MaskRCNN`` arguments (the task passes ``_skip_resize``).

    Examples::

        >>> cfg = MaskRCNNConfig(arch="mask_rcnn", num_classes=3, out_indices=[3, 4], mask_head_layers=[64, 64])
        >>> heads = build_mask_rcnn(cfg).roi_heads
        >>> heads.mask_roi_pool.featmap_names, heads.mask_predictor.mask_fcn_logits.out_channels
        (['0', '1'], 3)
    """
    parts = faster_rcnn_kwargs(cfg)
    channels = parts["backbone"].out_channels
    mask_parts = {
        "mask_roi_pool": MultiScaleRoIAlign(
            featmap_names=parts["backbone"].level_names, output_size=14, sampling_ratio=2
        ),
        "mask_head": MaskRCNNHeads(channels, cfg.mask_head_layers, 1, norm_layer=make_norm(cfg.mask_head_norm)),
        "mask_predictor": _small_mask_logits(
            MaskRCNNPredictor(cfg.mask_head_layers[-1], cfg.mask_head_layers[-1], cfg.num_classes)
        ),
    }
    return MaskRCNN(**{**parts, **mask_parts, **kwargs})


@register_torchvision_model("maskrcnn_ghostnet_fpn")
def maskrcnn_ghostnet_fpn(
    *,
    weights: Any = None,
    progress: bool = True,
    num_classes: int | None = None,
    weights_backbone: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN GhostNet-FPN, torchvision-style (``torchvision.models.get_model("maskrcnn_ghostnet_fpn")``).

    Args: as :func:`~detection.models.faster_rcnn.fasterrcnn_ghostnet_fpn`; ``**kwargs`` are ``model`` keys
    (defaults: :class:`MaskRCNNConfig`: ``mask_head_layers=[128, 128]`` ...) and ``MaskRCNN``'s own arguments.

    Examples::

        >>> import torch
        >>> model = maskrcnn_ghostnet_fpn(num_classes=4, backbone={"width": 0.5}, min_size=128, max_size=128)
        >>> out = model.eval()([torch.rand(3, 128, 96)])
        >>> print(sorted(out[0]), tuple(out[0]["masks"].shape[1:]))
        ['boxes', 'labels', 'masks', 'scores'] (1, 128, 96)
    """
    return build_torchvision_style(
        "mask_rcnn",
        "maskrcnn_ghostnet_fpn",
        MaskRCNN,
        weights=weights,
        num_classes=num_classes,
        weights_backbone=weights_backbone,
        trainable_backbone_layers=trainable_backbone_layers,
        kwargs=kwargs,
    )
