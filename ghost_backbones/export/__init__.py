"""Whole trained models exported: ONNX (pre- and post-processing inside), TorchScript, ``torch.export``, INT8.

The tasks' ``export.py`` CLIs describe their checkpoint (`Deployable`) and call `export_main`; their ``predict``
runs an exported file through `load_exported`. Each format is an entry of `FORMATS` (`ExportFormat`, registered by
its module: :mod:`.onnx_format`, :mod:`.torchscript_format`, :mod:`.pt2_format`, then any other ``*_format.py``
module of this folder, found by its name); onnx and onnxruntime are imported only when used.
"""

# isort: off
from . import onnx_format, torchscript_format, pt2_format  # noqa: F401  (the built-in ones, in this order)

# isort: on
from ..plugins import import_plugins
from .check import DetectionCheck, SegmentationCheck, check_outputs, compare_detections, pixel_agreement
from .cli import Deployable, ExportSpec, export_main, export_model
from .exported_models import ExportedDetector, ExportedModel, ExportedSegmenter, is_exported, load_exported
from .formats import FORMATS, ExportedGraph, ExportFormat, GraphSpec, ModuleGraph, write_model
from .graphs import DetectionGraph, SegmentationGraph, antialiased_resize
from .onnx_format import OnnxModel

import_plugins(__name__, __path__, "_format")  # a new format module registers itself with no edit here

__all__ = [
    "FORMATS",
    "Deployable",
    "DetectionCheck",
    "DetectionGraph",
    "ExportFormat",
    "ExportSpec",
    "ExportedDetector",
    "ExportedGraph",
    "ExportedModel",
    "ExportedSegmenter",
    "GraphSpec",
    "ModuleGraph",
    "OnnxModel",
    "SegmentationCheck",
    "SegmentationGraph",
    "antialiased_resize",
    "check_outputs",
    "compare_detections",
    "export_main",
    "export_model",
    "is_exported",
    "load_exported",
    "pixel_agreement",
    "write_model",
]
