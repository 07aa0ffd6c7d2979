"""The contract every segmentation data format meets, and the registry of formats by name (``data.format``).

The task and ``export`` read a dataset only through :class:`SegmentationDataset`. A format is a module with a reader
and one builder registered in :data:`SEGMENTATION_FORMATS`; :mod:`segmentation.data.formats` imports the modules.

Examples::

    >>> from segmentation.data.formats import SEGMENTATION_FORMATS
    >>> SEGMENTATION_FORMATS.names()
    ['voc']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ghost_backbones.engine import Registry

__all__ = ["SEGMENTATION_FORMATS", "SegmentationDataset"]


@runtime_checkable
class SegmentationDataset(Protocol):
    """What a segmentation dataset gives, whatever its format on disk.

    ``dataset[i]`` is ``(image, mask)`` after the transforms; :meth:`load` gives them untransformed (an RGB image
    and a ``uint8`` class-index mask, 255 ignored), for evaluating an exported model at the original resolution.

    Attributes:
        num_classes: classes including the background (mask values ``0..num_classes - 1``).
    """

    num_classes: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def load(self, index: int) -> tuple[Image.Image, np.ndarray]:
        """The checked, untransformed ``(RGB image, class-index mask)`` of sample ``index``."""
        ...

    def image_path(self, index: int) -> Path:
        """The image file of sample ``index``."""
        ...


SEGMENTATION_FORMATS = Registry("segmentation data format (data.format)")
"""``data.format`` -> ``build(data, *, train, transforms, num_classes) -> SegmentationDataset``: the training or
evaluation split of the ``data`` config section (:class:`segmentation.config.DataConfig`)."""
