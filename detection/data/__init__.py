"""Detection data: the formats (COCO, PASCAL VOC, YOLO txt; registered by name in :mod:`.formats`, meeting the
:class:`.base.DetectionDataset` contract), COCO instance masks, the training / evaluation transforms and the
aspect-ratio batch sampler."""

from .base import DATA_FORMATS, DataFormat, DetectionDataset, register_format
from .categories import CategoryMap
from .coco import CocoDetection, check_coco_annotations, load_coco_annotations
from .masks import check_segmentations, segmentation_masks, segmentation_to_mask
from .sampler import GroupedBatchSampler
from .transforms import detection_transforms
from .voc import VOC_CLASSES, VocDetection, parse_voc_xml, read_voc_split, voc_categories
from .yolo import YoloDetection, label_path, read_data_yaml, read_labels, yolo_to_coco

__all__ = [
    "DATA_FORMATS",
    "VOC_CLASSES",
    "CategoryMap",
    "CocoDetection",
    "DataFormat",
    "DetectionDataset",
    "GroupedBatchSampler",
    "VocDetection",
    "YoloDetection",
    "check_coco_annotations",
    "check_segmentations",
    "detection_transforms",
    "label_path",
    "load_coco_annotations",
    "parse_voc_xml",
    "read_data_yaml",
    "read_labels",
    "read_voc_split",
    "register_format",
    "segmentation_masks",
    "segmentation_to_mask",
    "voc_categories",
    "yolo_to_coco",
]
