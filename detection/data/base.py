"""The contract every detection data format meets, and the registry of formats by name (``data.format``).

The task, the evaluation, ``predict`` and ``export`` read a dataset only through :class:`DetectionDataset`: the
ground truth as a COCO instances dict (converted once, in memory, by the format's reader), the images, the label
mapping and the aspect ratios for batching. A format is a module with a reader and one builder registered here
with :func:`register_format`; :mod:`detection.data.formats` imports the modules, so ``data.format`` knows them.

Examples::

    >>> from detection.data.formats import DATA_FORMATS
    >>> DATA_FORMATS.names()
    ['coco', 'voc', 'yolo']
    >>> DATA_FORMATS.get("coco").masks, DATA_FORMATS.get("voc").voc_metric
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ghost_backbones.engine import Registry

from .categories import CategoryMap

__all__ = ["DATA_FORMATS", "DataFormat", "DetectionDataset", "register_format"]


@runtime_checkable
class DetectionDataset(Protocol):
    """What a detection dataset gives, whatever its format on disk.

    ``dataset[i]`` is ``(image, target)`` after the transforms (``None`` for a skipped bad evaluation image), with
    ``target["boxes"]`` (XYXY pixels), ``target["labels"]`` (1..N, see :class:`CategoryMap`) and
    ``target["image_id"]`` (an image id of :attr:`coco`).

    Attributes:
        coco: the ground truth as a COCO instances dict (``images`` with ``width`` / ``height``, ``annotations``
            with ``bbox`` [x, y, w, h] pixels, ``area``, ``iscrowd``; ``categories``), cleaned for training.
        evaluation_coco: the ground truth COCO AP reads: a COCO file's annotations as they are (not clipped or
            dropped), so the AP is pycocotools' on the file; another format's converted ground truth.
        images: one entry per image, in dataset order.
        image_dir: the folder the images are read from (named in errors).
        annotation_file: the file the ground truth came from (named in errors).
        categories: the label mapping (category id and name of each label).
    """

    coco: dict[str, Any]
    evaluation_coco: dict[str, Any]
    images: Sequence[Any]
    image_dir: Path
    annotation_file: Path
    categories: CategoryMap

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def aspect_ratio(self, index: int) -> float:
        """Width / height of image ``index``, without reading the image."""
        ...

    def image_path(self, index: int) -> Path:
        """The file of image ``index``."""
        ...


@dataclass(frozen=True)
class DataFormat:
    """One registered data format.

    Args:
        name: the ``data.format`` value.
        build: ``build(data, *, train, transforms, categories, masks) -> DetectionDataset``: the training or
            evaluation split of the ``data`` config section (:class:`detection.config.DataConfig`). ``categories``
            (a :class:`CategoryMap` or ``None``: the format's own) is the training split's label mapping.
        masks: the format can hold instance masks (Mask R-CNN's targets).
        voc_metric: the evaluation adds PASCAL VOC's mAP@0.5 (the format flags difficult objects), which then
            chooses the best checkpoint.
    """

    name: str
    build: Callable[..., DetectionDataset]
    masks: bool = False
    voc_metric: bool = False


DATA_FORMATS = Registry("detection data format (data.format)")
"""``data.format`` -> :class:`DataFormat`; filled by :mod:`detection.data.formats`."""


def register_format(name: str, *, masks: bool = False, voc_metric: bool = False) -> Callable[[Callable], Callable]:
    """Decorator registering a split builder as the data format ``name`` (see :class:`DataFormat`)."""

    def wrap(build: Callable[..., DetectionDataset]) -> Callable[..., DetectionDataset]:
        DATA_FORMATS.register(name)(DataFormat(name, build, masks, voc_metric))
        return build

    return wrap
