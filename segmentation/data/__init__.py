"""Segmentation data: the VOC-layout reader and the joint image + mask transforms."""

from .transforms import IGNORE_INDEX, SegmentationEvalTransform, SegmentationTrainTransform
from .voc import VOC_CLASSES, VOCSegmentation

__all__ = ["IGNORE_INDEX", "VOC_CLASSES", "SegmentationEvalTransform", "SegmentationTrainTransform", "VOCSegmentation"]
