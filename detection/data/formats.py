"""The detection data formats, registered by name (``data.format``): importing this module registers them all.

A new format is one module (its reader, meeting :class:`detection.data.base.DetectionDataset`, and a builder
decorated with :func:`detection.data.base.register_format`) plus its import line here.
"""

from __future__ import annotations

from . import coco, voc, yolo  # noqa: F401  (each registers its format)
from .base import DATA_FORMATS, DataFormat, DetectionDataset, register_format

__all__ = ["DATA_FORMATS", "DataFormat", "DetectionDataset", "register_format"]
