"""The configured timm backbone of a task model: ``model.backbone`` (a `BackboneConfig`) -> ``features_only`` model.

Both tasks build their backbone here, so ``width`` and ``frozen_stages`` reach our GhostNets and a plain timm model
(``mobilenetv3_large_100``, ``resnet50``) is built without them, and the image normalisation comes from the
backbone's ``pretrained_cfg``.

Examples::

    >>> body = create_backbone(BackboneConfig(width=0.5), out_indices=(2, 4), output_stride=16)
    >>> body.feature_info.channels(), body.feature_info.reduction()
    ([20, 480], [8, 16])
    >>> create_backbone(BackboneConfig(name="mobilenetv3_large_100"), out_indices=(4,)).feature_info.channels()
    [960]
    >>> pretrained_mean_std(body)
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    >>> backbone_mean_std(BackboneConfig(name="vit_base_patch16_224"))  # the same, known before building
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import timm
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import freeze_batch_norm_2d
from torch import nn

from ..errors import ConfigError
from .sections import BackboneConfig

__all__ = ["backbone_mean_std", "create_backbone", "pretrained_mean_std"]


def _accepts(name: str, keyword: str) -> bool:
    """Whether timm's entrypoint ``name`` names ``keyword`` in its signature (ours take ``width``)."""
    return keyword in inspect.signature(timm.models.model_entrypoint(name)).parameters


def create_backbone(
    cfg: BackboneConfig,
    *,
    out_indices: Sequence[int],
    output_stride: int | None = None,
    freeze_bn_when_pretrained: bool = False,
) -> nn.Module:
    """``timm.create_model(cfg.name, features_only=True, ...)`` with the config's options.

    Args:
        cfg: the ``model.backbone`` section.
        out_indices: feature levels to return (GhostNet: 0..4 at strides 2..32).
        output_stride: dilate the last stages to this stride (segmentation); ``None`` keeps the model's.
        freeze_bn_when_pretrained: with ``cfg.pretrained`` and no ``cfg.norm_layer``, turn every BatchNorm into
            torchvision's ``FrozenBatchNorm2d`` (torchvision's detection rule for pretrained backbones).

    Raises:
        ConfigError: ``width`` or ``frozen_stages`` set for a timm model that has no such option, or
            ``pretrained`` weights that cannot be fetched (offline): the message says how to pass a local file.
    """
    kwargs = dict(cfg.timm_kwargs)
    if cfg.width != 1.0 or _accepts(cfg.name, "width"):
        if not _accepts(cfg.name, "width"):
            raise ConfigError(f"model.backbone.width={cfg.width}: timm's {cfg.name!r} has no width option")
        kwargs["width"] = cfg.width
    if cfg.frozen_stages is not None:
        kwargs["frozen_stages"] = cfg.frozen_stages
    if cfg.norm_layer:
        kwargs["norm_layer"] = cfg.norm_layer
    if output_stride is not None:
        kwargs["output_stride"] = output_stride
    try:
        body = timm.create_model(
            cfg.name, pretrained=cfg.pretrained, features_only=True, out_indices=tuple(out_indices), **kwargs
        )
    except TypeError as e:  # an option the timm model does not take
        raise ConfigError(
            f"model.backbone: timm's {cfg.name!r} does not accept these options {sorted(kwargs)}: {e}"
        ) from e
    except (OSError, RuntimeError) as e:
        raise _pretrained_error(cfg, e) from e
    if freeze_bn_when_pretrained and cfg.pretrained and not cfg.norm_layer:
        body = freeze_batch_norm_2d(body)
    return body


def _pretrained_error(cfg: BackboneConfig, error: Exception) -> Exception:
    """The weights download failed (offline, no cache): one `ConfigError`; any other error unchanged."""
    if not cfg.pretrained:
        return error
    if isinstance(error, RuntimeError) and isinstance(error.__cause__, OSError):
        # Our GhostNet builder already says which weights and how to pass a local file.
        return ConfigError(f"model.backbone.pretrained=true: {error}")
    if isinstance(error, OSError):
        return ConfigError(
            f"model.backbone.pretrained=true: could not fetch the ImageNet weights of timm's {cfg.name!r} "
            f"({type(error).__name__}: {error}). Offline? Download them on a connected machine and pass "
            "model.backbone.timm_kwargs={pretrained_cfg_overlay: {file: /path/to/weights}}, or set "
            "model.backbone.pretrained=false"
        )
    return error


def backbone_mean_std(cfg: BackboneConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Image mean / std of the backbone ``cfg`` names, from timm's pretrained config (with any
    ``timm_kwargs.pretrained_cfg_overlay``) without building it: what `pretrained_mean_std` of the built model gives.
    """
    pretrained = timm.models.get_pretrained_cfg(cfg.name)
    values = {**(pretrained.to_dict() if pretrained else {}), **cfg.timm_kwargs.get("pretrained_cfg_overlay", {})}
    return tuple(values.get("mean", IMAGENET_DEFAULT_MEAN)), tuple(values.get("std", IMAGENET_DEFAULT_STD))


def pretrained_mean_std(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Image mean / std of the first timm model inside ``model`` (its ``pretrained_cfg``); ImageNet's otherwise.

    Args:
        model: a timm model, or any module holding one (a detector, a segmentation model).
    """
    for module in model.modules():
        cfg = getattr(module, "pretrained_cfg", None)
        if isinstance(cfg, dict) and "mean" in cfg and "std" in cfg:
            return tuple(cfg["mean"]), tuple(cfg["std"])
    return tuple(IMAGENET_DEFAULT_MEAN), tuple(IMAGENET_DEFAULT_STD)
