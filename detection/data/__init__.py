"""Detection data: the COCO-format and PASCAL VOC readers, COCO instance masks, the training / evaluation transforms
and the aspect-ratio batch sampler."""

from .coco import CategoryMap, CocoDetection, load_coco_annotations
from .masks import check_segmentations, segmentation_masks, segmentation_to_mask
from .sampler import GroupedBatchSampler
from .transforms import detection_transforms
from .voc import VOC_CLASSES, VocDetection, parse_voc_xml, read_voc_split, voc_categories

__all__ = [
    "VOC_CLASSES",
    "CategoryMap",
    "CocoDetection",
    "GroupedBatchSampler",
    "VocDetection",
    "check_segmentations",
    "detection_transforms",
    "load_coco_annotations",
    "parse_voc_xml",
    "read_voc_split",
    "segmentation_masks",
    "segmentation_to_mask",
    "voc_categories",
]
