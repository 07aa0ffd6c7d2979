"""Segmentation data: the formats (registered by name in :mod:`.formats`, meeting the
:class:`.base.SegmentationDataset` contract; ``voc`` today) and the joint image + mask transforms."""

from .base import SEGMENTATION_FORMATS, SegmentationDataset
from .transforms import IGNORE_INDEX, SegmentationEvalTransform, SegmentationTrainTransform
from .voc import VOC_CLASSES, VOCSegmentation

__all__ = [
    "IGNORE_INDEX",
    "SEGMENTATION_FORMATS",
    "VOC_CLASSES",
    "SegmentationDataset",
    "SegmentationEvalTransform",
    "SegmentationTrainTransform",
    "VOCSegmentation",
]
