"""What every detector of the registry takes alike from the ``model`` section: image size, normalisation, outputs."""

from __future__ import annotations

from typing import Any

from torch import nn

from ghost_backbones.engine import pretrained_mean_std

from ..sections import BackboneOptions, ModelConfig

__all__ = ["detector_kwargs"]


def detector_kwargs(cfg: ModelConfig | BackboneOptions, body: nn.Module) -> dict[str, Any]:
    """``min_size``, ``max_size``, ``image_mean`` / ``image_std`` (the backbone's ``pretrained_cfg``) and the output
    limits, as torchvision's one-stage detectors name them (``score_thresh``, ``detections_per_img``).

    Examples::

        >>> from ghost_backbones.engine import create_backbone
        >>> from detection.models.retinanet import RetinaNetConfig
        >>> cfg = RetinaNetConfig(min_size=320, max_size=512)
        >>> kwargs = detector_kwargs(cfg, create_backbone(cfg.backbone, out_indices=[4]))
        >>> kwargs["min_size"], kwargs["image_mean"], kwargs["score_thresh"]
        (320, [0.485, 0.456, 0.406], 0.05)
    """
    mean, std = pretrained_mean_std(body)
    return {
        "min_size": cfg.min_size,
        "max_size": cfg.max_size,
        "image_mean": list(mean),
        "image_std": list(std),
        "score_thresh": cfg.box_score_thresh,
        "detections_per_img": cfg.box_detections_per_img,
    }
