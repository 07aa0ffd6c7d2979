"""The ONNX export format: written with the TorchScript-based exporter, run by onnxruntime, quantizable to INT8.

``torch.onnx.export(..., dynamo=False)`` exports as torchvision exports its detectors: it follows torchvision's
tracing paths (dynamic image size through the transform, ``NonMaxSuppression`` for NMS, bounded by the detections
the model keeps: `ghost_backbones.export.nms`; SSD's per-class loop as one ``TopK``:
`ghost_backbones.export.ssd_postprocess`). The dynamo exporter goes through ``torch.export``, which stops at the
data-dependent shapes of the detection post-processing. The metadata (task, architecture, categories, input size)
is in the file's ``metadata_props``; `OnnxModel` runs the file in an onnxruntime session (CPU) with it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ExportError
from .formats import FORMATS, ExportFormat, GraphSpec, decode_metadata, import_or_explain
from .locate import first_divergent_layer
from .nms import bounded_nms, nms_limit
from .quantize import quantize_int8
from .ssd_postprocess import traceable_ssd

__all__ = ["ONNX", "ONNX_OPSET", "OnnxModel", "encode_metadata", "write_onnx"]

ONNX_OPSET = 17


def encode_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """Metadata as ONNX ``metadata_props``: strings as they are, anything else as JSON.

    Examples::

        >>> encode_metadata({"task": "detection", "categories": [{"id": 1, "name": "circle"}]})
        {'task': 'detection', 'categories': '[{"id": 1, "name": "circle"}]'}
    """
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def write_onnx(graph: nn.Module, sample: Tensor, path: Path, spec: GraphSpec, meta: dict[str, Any]) -> None:
    """``graph`` as an ONNX file (opset `ONNX_OPSET`) with ``meta`` in its ``metadata_props``."""
    onnx = import_or_explain("onnx", "writing an ONNX file")
    # TracerWarnings about python values: the check on sample images decides
    try:
        with warnings.catch_warnings(), bounded_nms(nms_limit(graph)), traceable_ssd(graph):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                (sample,),
                str(path),
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=[spec.input],
                output_names=list(spec.outputs),
                dynamic_axes={name: dict(axes) for name, axes in spec.dynamic_axes.items()},
            )
    except RuntimeError as e:  # torch.onnx.errors.OnnxExporterError (an unsupported operator) included
        raise ExportError(f"cannot export this {meta.get('architecture', spec.task)} model to onnx: {e}") from e
    model = onnx.load(str(path))
    for key, value in encode_metadata(meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


class OnnxModel:
    """An ONNX file written by ``export`` in an onnxruntime session (CPU), with its metadata (an `ExportedGraph`).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (``None``: onnxruntime's default).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        ort = import_or_explain("onnxruntime", "running an exported .onnx model")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ExportError(f"{path}: onnxruntime cannot load this file ({e})") from e
        self.path = path
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, Any] = {k: decode_metadata(v) for k, v in props.items()}
        self.input = self.session.get_inputs()[0]
        self.input_dtype = "uint8" if self.input.type == "tensor(uint8)" else "float32"
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]:
        """The graph's outputs for one input (the graph's layout; cast to its input type)."""
        array = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
        return self.session.run(None, {self.input.name: array.astype(self.input_dtype, copy=False)})


ONNX = FORMATS.register(
    ExportFormat(
        name="onnx",
        suffix=".onnx",
        title="ONNX",
        write=write_onnx,
        load=OnnxModel,
        quantize=quantize_int8,
        locate=first_divergent_layer,
        requires=("onnx", "onnxruntime"),
        selects_convs=True,
    )
)
