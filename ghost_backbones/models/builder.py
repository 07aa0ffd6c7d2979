"""Building GhostNets through timm: pretrained-weight resolution by width, checkpoint filter, ``_cfg``.

The entrypoints (``entrypoints.py``) pin a version and call :func:`create_ghostnet`; their ``default_cfgs`` tag
the published weights by width (``w100_in1k``...). Weights come from timm's hub entries, from a checkpoint file
(``pretrained_cfg_overlay=dict(file=...)``) or from a folder written by ``timm.models.save_for_hf``
(``timm.create_model("local-dir:/folder", pretrained=True)``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import PretrainedCfg, build_model_with_cfg, get_arch_pretrained_cfgs, resolve_pretrained_cfg
from torch import nn

from .features import GhostNetFeatures
from .ghostnet import GhostNet

__all__ = ["checkpoint_filter_fn", "create_ghostnet", "pretrained_cfg"]


def checkpoint_filter_fn(state_dict: dict[str, Any], model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Map timm, Huawei (CV-backbones / Efficient-AI-Backbones) and DDP checkpoints onto our keys.

    Handles a ``state_dict``/``model`` wrapper dict, the ``module.`` prefix of DistributedDataParallel, thop's
    ``total_ops``/``total_params`` counters, and GhostNetV3's rep-branch norms named ``bn`` (timm: ``bn1``).

    Args:
        state_dict: the loaded checkpoint.
        model: the model being loaded (unused; timm's filter signature).

    Examples::

        >>> sd = {"state_dict": {"module.blocks.2.0.ghost1.primary_rpr_conv.0.bn.weight": torch.ones(1),
        ...                      "module.total_ops": torch.zeros(1)}}
        >>> list(checkpoint_filter_fn(sd))
        ['blocks.2.0.ghost1.primary_rpr_conv.0.bn1.weight']
    """
    for wrapper in ("state_dict", "model"):
        if isinstance(state_dict.get(wrapper), dict):
            state_dict = state_dict[wrapper]
            break
    out = {}
    for key, value in state_dict.items():
        if key.startswith("module."):
            key = key[len("module.") :]
        if key.endswith(("total_ops", "total_params")):
            continue
        if ".ghost" in key or ".dw_rpr_" in key:
            key = key.replace(".bn.", ".bn1.")
        out[key] = value
    return out


_TAG_WIDTH = re.compile(r"^w(\d{3})_")


def _tags(variant: str) -> dict[str, Any]:
    """Pretrained tags of ``variant`` -> their cfgs (``{'w100_in1k': cfg, 'untrained': cfg}``)."""
    return {name.split(".", 1)[1]: cfg for name, cfg in get_arch_pretrained_cfgs(variant).items()}


def _published_widths(variant: str) -> list[float]:
    widths = []
    for tag, cfg in _tags(variant).items():
        match = _TAG_WIDTH.match(tag)
        if match and (cfg.hf_hub_id or cfg.url):
            widths.append(int(match.group(1)) / 100)
    return sorted(widths)


def _cfg_tag(pretrained_cfg: str | dict[str, Any] | PretrainedCfg | None) -> str | None:
    if isinstance(pretrained_cfg, PretrainedCfg):
        return pretrained_cfg.tag
    if isinstance(pretrained_cfg, dict):  # e.g. the config.json of a local-dir / hf-hub model
        return pretrained_cfg.get("tag")
    return pretrained_cfg


def _resolve_pretrained(variant: str, width: float | None, pretrained_cfg: Any) -> tuple[float, Any]:
    """Pick the width and pretrained cfg: an explicit width wins, a ``wNNN_*`` tag implies its width, else 1.0.

    ``pretrained_cfg`` is a tag, a full cfg (dict or ``PretrainedCfg``, whose ``tag`` is read) or ``None``.
    """
    if width is not None and (isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0):
        raise ValueError(f"{variant}: width must be a number > 0, got {width!r}")
    if isinstance(pretrained_cfg, str):
        tags = _tags(variant)
        if pretrained_cfg not in tags:
            raise ValueError(f"{variant}: unknown pretrained tag {pretrained_cfg!r}; known tags: {sorted(tags)}")
    match = _TAG_WIDTH.match(_cfg_tag(pretrained_cfg) or "")
    if match:
        tag_width = int(match.group(1)) / 100
        if width is not None and abs(width - tag_width) > 1e-6:
            raise ValueError(f"{variant}.{match.string} weights are for width {tag_width}, got width={width}")
        width = tag_width
    width = 1.0 if width is None else float(width)
    if pretrained_cfg is None:
        tag = f"w{round(width * 100):03d}_in1k"
        pretrained_cfg = tag if tag in _tags(variant) else "untrained"
    return width, pretrained_cfg


def _check_local_weights(variant: str, cfg: PretrainedCfg) -> None:
    """A ``local-dir`` source names a folder (timm's ``config.json`` + weights), a ``file`` a checkpoint file."""
    if not cfg.file:
        return
    if cfg.source == "local-dir":
        if not Path(cfg.file).is_dir():
            raise FileNotFoundError(f"{variant}: local-dir model folder not found: {cfg.file}")
    elif not Path(cfg.file).is_file():
        raise FileNotFoundError(f"{variant}: pretrained_cfg_overlay file not found: {cfg.file}")


def create_ghostnet(
    variant: str, version: str, pretrained: bool = False, width: float | None = None, **kwargs: Any
) -> GhostNet | GhostNetFeatures:
    """Build a GhostNet through timm's ``build_model_with_cfg`` (pretrained weights, ``features_only``).

    ``pretrained=True`` resolves the published ImageNet weights of ``width`` (timm's hub entries) unless
    ``pretrained_cfg_overlay=dict(file=PATH)`` names a local checkpoint (timm or Huawei format, see
    :func:`checkpoint_filter_fn`) or the model comes from a ``local-dir:`` folder. ``features_only=True`` gives
    :class:`~.features.GhostNetFeatures` unless ``feature_cls`` (``'list'``, ``'dict'``, ``'hook'``, ``'fx'``,
    ``'getter'`` or a class) or a ``feature_cfg`` dict says otherwise.
    """
    width, tag_or_cfg = _resolve_pretrained(variant, width, kwargs.pop("pretrained_cfg", None))
    overlay = kwargs.pop("pretrained_cfg_overlay", None)
    cfg = resolve_pretrained_cfg(variant, pretrained_cfg=tag_or_cfg, pretrained_cfg_overlay=overlay)
    _check_local_weights(variant, cfg)
    if pretrained and not any((cfg.file, cfg.url, cfg.hf_hub_id, cfg.state_dict)):
        raise ValueError(
            f"{variant}: no published ImageNet weights for width {width} (published widths: "
            f"{_published_widths(variant)}); pass a file with pretrained_cfg_overlay=dict(file='/path/to/weights.pth')"
        )
    # flatten_sequential: timm's list/dict/hook wrappers then see blocks.0, blocks.1... (feature_info's modules)
    feature_cfg = {
        "feature_cls": GhostNetFeatures,
        "flatten_sequential": True,
        **(kwargs.pop("feature_cfg", None) or {}),
    }
    try:
        return build_model_with_cfg(
            GhostNet,
            variant,
            pretrained,
            pretrained_cfg=cfg,
            pretrained_filter_fn=checkpoint_filter_fn,
            feature_cfg=feature_cfg,
            version=version,
            width=width,
            **kwargs,
        )
    except OSError as err:
        if not (pretrained and not cfg.file and cfg.hf_hub_id):
            raise
        raise RuntimeError(
            f"{variant}: could not fetch the width-{width} ImageNet weights {cfg.hf_hub_id!r} from the Hugging Face "
            f"hub ({type(err).__name__}). Offline? Download them on a connected machine (`hf download "
            f"{cfg.hf_hub_id}`) and pass pretrained_cfg_overlay=dict(file='/path/to/model.safetensors')"
        ) from err


def pretrained_cfg(**kwargs: Any) -> dict[str, Any]:
    """ImageNet pretrained cfg (224 px, bicubic, ImageNet mean/std) with ``kwargs`` on top."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "conv_stem",
        "classifier": "classifier",
        "license": "apache-2.0",
        **kwargs,
    }
