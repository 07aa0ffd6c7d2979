"""Whole trained models exported: ONNX (pre- and post-processing inside), TorchScript, ``torch.export``, INT8.

The tasks' ``export.py`` CLIs describe their checkpoint (`Deployable`) and call `export_main`; their ``predict``
runs an exported ``.onnx`` file through `load_onnx`. onnx and onnxruntime are imported only when used.
"""

from .check import check_outputs, compare_detections, pixel_agreement
from .cli import Deployable, ExportSpec, export_main, export_model
from .graphs import DetectionGraph, SegmentationGraph, antialiased_resize
from .runtime import OnnxDetector, OnnxModel, OnnxSegmenter, is_onnx, load_onnx
from .writers import FORMATS, write_model

__all__ = [
    "FORMATS",
    "Deployable",
    "DetectionGraph",
    "ExportSpec",
    "OnnxDetector",
    "OnnxModel",
    "OnnxSegmenter",
    "SegmentationGraph",
    "antialiased_resize",
    "check_outputs",
    "compare_detections",
    "export_main",
    "export_model",
    "is_onnx",
    "load_onnx",
    "pixel_agreement",
    "write_model",
]
