"""Detection models on a Ghost backbone."""

from .faster_rcnn import FRCNN_DEFAULTS, anchor_generator_for, fasterrcnn_ghostnet_fpn

__all__ = ["FRCNN_DEFAULTS", "anchor_generator_for", "fasterrcnn_ghostnet_fpn"]
