"""Data shared by the tasks: image reading, the VOC palette, synthetic shapes datasets in real COCO / VOC layouts.

``python -m ghost_backbones.data.synthetic {coco,voc,voc-det} --output ROOT`` writes a dataset.
"""

from .images import IMAGE_SUFFIXES, list_images, read_rgb
from .palette import voc_palette

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_rgb", "voc_palette"]
