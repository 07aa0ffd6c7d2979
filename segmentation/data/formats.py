"""The segmentation data formats, registered by name (``data.format``): importing this module registers them all.

A new format is one module (its reader, meeting :class:`segmentation.data.base.SegmentationDataset`, and a builder
decorated with ``@SEGMENTATION_FORMATS.register("name")``) plus its import line here.
"""

from __future__ import annotations

from . import voc  # noqa: F401  (registers its format)
from .base import SEGMENTATION_FORMATS, SegmentationDataset

__all__ = ["SEGMENTATION_FORMATS", "SegmentationDataset"]
