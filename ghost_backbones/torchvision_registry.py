"""Our models in torchvision's model registry (``torchvision.models.get_model(name, ...)``), and the arguments
torchvision-style builders share.

torchvision has no public registration call: its own builders are decorated with
``torchvision.models._api.register_model()``; :func:`register_torchvision_model` does the same, guarded: a
torchvision without that registry leaves our builders importable and callable, and records the failure in
:data:`REGISTRATION_ERRORS`, which :func:`check_torchvision_registry` (and one test) turns into an error.

Importing ``ghost_backbones`` registers the GhostNet feature extractors ``ghostnet_features``,
``ghostnetv2_features`` and ``ghostnetv3_features`` (a ``features_only`` model returning one map per level: what
ultralytics' ``TorchVision`` module builds); importing ``detection`` / ``segmentation`` registers their models.

Examples::

    >>> import torch, torchvision
    >>> body = torchvision.models.get_model("ghostnet_features", weights=None, width=0.5)
    >>> [tuple(f.shape[1:]) for f in body(torch.rand(1, 3, 64, 64))][-2:]
    [(56, 4, 4), (480, 2, 2)]
    >>> check_torchvision_registry(["ghostnet_features"])
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import timm

from .errors import ConfigError
from .models import GhostNetFeatures

__all__ = [
    "REGISTERED",
    "REGISTRATION_ERRORS",
    "TRAINABLE_LAYERS",
    "check_torchvision_registry",
    "ghostnet_features",
    "ghostnetv2_features",
    "ghostnetv3_features",
    "imagenet_weights",
    "register_torchvision_model",
    "torchvision_fields",
]

F = TypeVar("F", bound=Callable[..., Any])

#: name -> builder of every model we register in torchvision's registry (whether or not that worked).
REGISTERED: dict[str, Callable[..., Any]] = {}
#: name -> why registering it in torchvision's registry failed (empty when all went well).
REGISTRATION_ERRORS: dict[str, str] = {}
#: torchvision's ``trainable_backbone_layers`` range for a GhostNet: the stem and its five feature levels.
TRAINABLE_LAYERS = 6


def register_torchvision_model(name: str) -> Callable[[F], F]:
    """Decorator: register the builder in torchvision's model registry under ``name``, as torchvision's own builders
    are (``torchvision.models._api.register_model``). A failure is recorded, never raised at import."""

    def wrap(fn: F) -> F:
        REGISTERED[name] = fn
        try:
            from torchvision.models import _api

            existing = _api.BUILTIN_MODELS.get(name)
            if existing is None:
                _api.register_model(name)(fn)
            elif (existing.__module__, existing.__qualname__) == (fn.__module__, fn.__qualname__):
                _api.BUILTIN_MODELS[name] = fn  # the same builder, its module imported again (importlib.reload)
            else:
                REGISTRATION_ERRORS[name] = f"torchvision already has another model named {name!r}: {existing}"
        except Exception as e:  # noqa: BLE001  (any torchvision change: reported by check_torchvision_registry)
            REGISTRATION_ERRORS[name] = f"{type(e).__name__}: {e}"
        return fn

    return wrap


def check_torchvision_registry(names: Iterable[str] | None = None) -> None:
    """Raise ``RuntimeError`` unless every model of ``names`` (default: all of :data:`REGISTERED`) is in torchvision's
    registry and ``torchvision.models.get_model_builder`` returns our builder."""
    import torchvision

    problems = dict(REGISTRATION_ERRORS)
    for name in REGISTERED if names is None else names:
        try:
            builder = torchvision.models.get_model_builder(name)
        except Exception as e:  # noqa: BLE001
            problems.setdefault(name, f"{type(e).__name__}: {e}")
            continue
        if name in REGISTERED and builder is not REGISTERED[name]:
            problems.setdefault(name, f"torchvision's builder is {builder}, not ours")
    if problems:
        raise RuntimeError(f"our models are not in torchvision's model registry: {problems}")


def imagenet_weights(value: Any, argument: str = "weights_backbone") -> bool:
    """Whether a torchvision ``weights`` value asks for ImageNet weights (``None``: no; ``"DEFAULT"``,
    ``"IMAGENET1K_V1"``, ``"X_Weights.IMAGENET1K_V1"`` or such an enum member: yes, timm's ImageNet weights).

    Examples::

        >>> imagenet_weights(None), imagenet_weights("MobileNet_V3_Large_Weights.IMAGENET1K_V1")
        (False, True)
    """
    if value is None or value is False:
        return False
    name = str(getattr(value, "name", value)).rsplit(".", 1)[-1].upper()
    if value is True or name == "DEFAULT" or name.startswith("IMAGENET"):
        return True
    raise ConfigError(
        f"{argument} must be None or ImageNet weights ('DEFAULT', 'IMAGENET1K_V1': timm's ImageNet weights of the "
        f"backbone), got {value!r}"
    )


def _frozen_stages(trainable: int | None, pretrained: bool, default: int) -> int | None:
    """torchvision's rule (``_validate_trainable_layers``) as GhostNet's ``frozen_stages`` (``None``: none frozen)."""
    if not pretrained:
        if trainable is not None:
            warnings.warn(
                "trainable_backbone_layers has no effect without weights_backbone (as in torchvision): every "
                "backbone layer is trained",
                stacklevel=4,
            )
        return None
    trainable = default if trainable is None else trainable
    if not 0 <= trainable <= TRAINABLE_LAYERS:
        raise ConfigError(f"trainable_backbone_layers must be in [0, {TRAINABLE_LAYERS}], got {trainable}")
    return None if trainable == TRAINABLE_LAYERS else TRAINABLE_LAYERS - 1 - trainable


def torchvision_fields(
    name: str,
    options: type,
    kwargs: Mapping[str, Any],
    *,
    weights: Any,
    weights_backbone: Any,
    num_classes: int | None,
    trainable_backbone_layers: int | None,
    defaults: Mapping[str, int],
    class_arguments: Iterable[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a torchvision-style builder's arguments into ``model`` keys and the model class's own arguments.

    Args:
        name: the builder's name (in messages).
        options: the architecture's ``model`` dataclass: a keyword among its fields is a ``model`` key.
        kwargs: the builder's other keyword arguments.
        weights: must be ``None`` (no trained weights are published).
        weights_backbone: ``None`` or ImageNet (:func:`imagenet_weights`): sets ``backbone.pretrained``.
        num_classes: classes (``None``: ``defaults["num_classes"]``, torchvision's 91 or 21).
        trainable_backbone_layers: torchvision's count from the end, mapped onto ``backbone.frozen_stages`` when
            the backbone is pretrained (``None``: ``defaults["trainable_backbone_layers"]``).
        defaults: ``num_classes`` and ``trainable_backbone_layers`` defaults of the task.
        class_arguments: keywords the model class takes (passed through); any other keyword is an error.

    Returns:
        ``(model fields, model class keyword arguments)``.
    """
    if weights is not None:
        raise ConfigError(
            f"{name}: no trained weights are published for this model, weights must be None (got {weights!r}); "
            "weights_backbone='DEFAULT' starts the backbone from timm's ImageNet weights"
        )
    keys = {f.name for f in dataclasses.fields(options)}
    unknown = sorted(set(kwargs) - keys - set(class_arguments))
    if unknown:
        raise ConfigError(
            f"{name}: unknown keyword argument(s) {unknown}; model keys: {sorted(keys)}; model class arguments: "
            f"{sorted(class_arguments)}"
        )
    fields = {k: v for k, v in kwargs.items() if k in keys}
    backbone = dict(fields.get("backbone") or {})
    if weights_backbone is not None:
        backbone["pretrained"] = imagenet_weights(weights_backbone)
    frozen = _frozen_stages(
        trainable_backbone_layers, backbone.get("pretrained", False), defaults["trainable_backbone_layers"]
    )
    if frozen is not None and "frozen_stages" not in backbone:
        backbone["frozen_stages"] = frozen
    fields.update(backbone=backbone, num_classes=defaults["num_classes"] if num_classes is None else num_classes)
    return fields, {k: v for k, v in kwargs.items() if k not in keys}


def _features(name: str, weights: Any, kwargs: dict[str, Any]) -> GhostNetFeatures:
    return timm.create_model(name, pretrained=imagenet_weights(weights, "weights"), features_only=True, **kwargs)


@register_torchvision_model("ghostnet_features")
def ghostnet_features(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> GhostNetFeatures:
    """GhostNet's feature extractor (``timm.create_model("ghostnet", features_only=True)``): a list of maps.

    Args:
        weights: ``None`` or ImageNet (``"DEFAULT"``, ``"IMAGENET1K_V1"``: timm's hub weights).
        progress: unused (torchvision's argument).
        **kwargs: ``width``, ``out_indices`` (default all five levels, strides 2..32), ``output_stride`` and any
            other GhostNet argument.
    """
    return _features("ghostnet", weights, kwargs)


@register_torchvision_model("ghostnetv2_features")
def ghostnetv2_features(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> GhostNetFeatures:
    """GhostNetV2's feature extractor (see :func:`ghostnet_features`)."""
    return _features("ghostnetv2", weights, kwargs)


@register_torchvision_model("ghostnetv3_features")
def ghostnetv3_features(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> GhostNetFeatures:
    """GhostNetV3's feature extractor (see :func:`ghostnet_features`)."""
    return _features("ghostnetv3", weights, kwargs)
