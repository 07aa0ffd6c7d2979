"""What the torchvision-style detector builders share (``fasterrcnn_ghostnet_fpn(*, weights, num_classes, ...)``):
torchvision's arguments mapped onto the architecture's ``model`` keys, the model class's own passed through.

Each builder is registered in torchvision's model registry (``torchvision.models.get_model``) beside its
architecture, so torchvision's ``references/detection/train.py --model fasterrcnn_ghostnet_fpn`` builds it.

Examples::

    >>> import torchvision
    >>> model = torchvision.models.get_model("retinanet_ghostnet_fpn", num_classes=3, backbone={"width": 0.5},
    ...                                      score_thresh=0.2, _skip_resize=True)
    >>> type(model).__name__, model.score_thresh, model.head.classification_head.num_classes
    ('RetinaNet', 0.2, 3)
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from ghost_backbones.engine import config_from_dict
from ghost_backbones.torchvision_registry import torchvision_fields

from .registry import MODELS, build_model

__all__ = ["DEFAULTS", "build_torchvision_style", "class_arguments"]

#: torchvision's defaults for its MobileNetV3 detectors: COCO's 91 classes, 3 trainable layers of a pretrained
#: backbone (of 6: the stem and five levels).
DEFAULTS = {"num_classes": 91, "trainable_backbone_layers": 3}

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def class_arguments(cls: type[nn.Module]) -> set[str]:
    """The keyword arguments a torchvision detector class takes: its ``__init__``'s and its bases' up to
    ``GeneralizedRCNN``, plus those of ``GeneralizedRCNNTransform`` that they pass on (``size_divisible``, and
    ``_skip_resize``, which it reads from its ``**kwargs``)."""
    names: set[str] = set()
    for klass in [*cls.__mro__, GeneralizedRCNNTransform]:
        init = vars(klass).get("__init__")
        if init is None or klass.__name__ in ("GeneralizedRCNN", "Module", "object"):
            continue
        names |= {p.name for p in inspect.signature(init).parameters.values() if p.kind in _NAMED}
    return (names | {"_skip_resize"}) - {"self"}


def build_torchvision_style(arch: str, name: str, cls: type[nn.Module], **arguments: Any) -> nn.Module:
    """The detector ``arch`` from a torchvision-style builder's arguments.

    Args:
        arch: the registry name (``faster_rcnn``).
        name: the public builder's name (in messages: ``fasterrcnn_ghostnet_fpn()``).
        cls: the torchvision class it builds (its keyword arguments pass through).
        **arguments: ``weights``, ``progress``, ``num_classes``, ``weights_backbone``, ``trainable_backbone_layers``,
            and ``kwargs``: ``model`` keys and ``cls`` keyword arguments (a name in both is a ``model`` key).
    """
    arguments.pop("progress", None)
    options = MODELS.options(arch)
    fields, class_kwargs = torchvision_fields(
        name,
        options,
        arguments.pop("kwargs"),
        defaults=DEFAULTS,
        class_arguments=class_arguments(cls),
        **arguments,
    )
    return build_model(config_from_dict(options, {**fields, "arch": arch}, source=f"{name}()"), **class_kwargs)
