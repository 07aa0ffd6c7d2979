"""Detection data: the COCO-format reader, the training / evaluation transforms and the aspect-ratio batch sampler."""

from .coco import CategoryMap, CocoDetection, load_coco_annotations
from .sampler import GroupedBatchSampler
from .transforms import detection_transforms

__all__ = ["CategoryMap", "CocoDetection", "GroupedBatchSampler", "detection_transforms", "load_coco_annotations"]
