"""The OpenVINO format (``.xml`` + ``.bin``, OpenVINO's IR): the ONNX graph converted, run by OpenVINO on the CPU.

A segmentation model's whole graph, as the ONNX file holds it (the resize, the network, the argmax), is converted
with ``openvino.convert_model`` and saved without fp16 weight compression; the metadata is in the model's
``rt_info``. A single-stage detector is split as for ExecuTorch (`split_graphs`): OpenVINO runs the network to the
raw head outputs and torchvision's own resize, decoding and NMS run around it, because OpenVINO computes the
graph's resize arithmetic in float32 where torchvision computes it in float64 (the whole detection graph lands a
pixel off on images whose size was not the traced one, which the check on write shows); two-stage detectors are
refused in one line.
`OpenVinoModel` compiles it for the CPU with ``INFERENCE_PRECISION_HINT=f32``: on CPUs with AMX (and bf16) OpenVINO
would otherwise run float models in bf16 on its own. ``--int8`` quantizes with NNCF's post-training quantization
(``nncf.quantize``: INT8 weights and activations where OpenVINO has INT8 kernels), calibrated on the calibration
images; OpenVINO then runs INT8 kernels with VNNI / AMX where the CPU has them.

Examples::

    python -m detection.export --weights runs/retinanet/best.pth --output retinanet.xml --format openvino --int8
    python -m detection.predict --weights retinanet.xml --input photos/ --output-dir drawn
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ExportError
from .formats import FORMATS, ExportFormat, GraphSpec, import_or_explain
from .graphs import DetectionGraph
from .onnx_format import write_onnx
from .split_graphs import SplitRunner, split_graph

__all__ = ["OPENVINO", "OpenVinoModel", "quantize_openvino", "write_openvino"]

#: Why two-stage detectors are not written as OpenVINO models.
TWO_STAGE = (
    "the OpenVINO format holds a detector's network alone, and this one cannot be split before its NMS (run whole, "
    "OpenVINO's float32 resize arithmetic moves its boxes by a pixel); use --format onnx"
)
#: Where the metadata lives in the model's ``rt_info``.
RT_INFO = ["ghost_backbones", "metadata"]


def _save(ov: Any, model: Any, meta: dict[str, Any], path: Path) -> None:
    model.set_rt_info(json.dumps(meta), RT_INFO)
    ov.save_model(model, str(path), compress_to_fp16=False)


def write_openvino(graph: nn.Module, sample: Tensor, path: Path, spec: GraphSpec, meta: dict[str, Any]) -> None:
    """``graph`` written as ONNX, converted to OpenVINO's IR (``path`` and its ``.bin``) with ``meta`` inside."""
    ov = import_or_explain("openvino", "the OpenVINO format", "openvino")
    if isinstance(graph, DetectionGraph):  # the network in OpenVINO, torchvision's steps around it
        split = split_graph(graph, meta, TWO_STAGE)
        graph, sample, meta = split.network, split.prepare(sample), split.metadata
        with torch.no_grad():
            count = len(graph(sample))
        axes = {
            "image": {2: "height", 3: "width"},
            **{f"out{i}": {1: f"d{i}", 2: f"h{i}", 3: f"w{i}"} for i in range(count)},
        }
        spec = GraphSpec(tuple(f"out{i}" for i in range(count)), axes, task=spec.task)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = Path(tmp) / "model.onnx"
        write_onnx(graph, sample, onnx_file, spec, meta)
        try:
            model = ov.convert_model(str(onnx_file))
        except Exception as e:  # OpenVINO's conversion errors have many types
            raise ExportError(f"OpenVINO cannot convert this model: {str(e).splitlines()[0]}") from e
    _save(ov, model, meta, path)


def _metadata(model: Any) -> dict[str, Any]:
    return json.loads(model.get_rt_info(RT_INFO).astype(str)) if model.has_rt_info(RT_INFO) else {}


def quantize_openvino(
    fp32: str | Path, int8: str | Path, images: Iterable[np.ndarray], *, graph: nn.Module, **_context: Any
) -> dict:
    """The INT8 IR of ``fp32`` (NNCF post-training quantization, calibrated on ``images``, the whole graph's inputs,
    prepared as the file's network takes them) at ``int8``."""
    ov = import_or_explain("openvino", "the OpenVINO format", "openvino")
    nncf = import_or_explain("nncf", "INT8 OpenVINO models", "openvino")
    model = ov.Core().read_model(str(fp32))
    prepare = split_graph(graph, {}, TWO_STAGE).prepare if "head" in _metadata(model) else torch.as_tensor
    calibration = [np.asarray(prepare(torch.as_tensor(np.asarray(image)))) for image in images]
    if not calibration:
        raise ExportError("--int8 needs calibration images")
    quantized = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration))
    info = {"method": f"NNCF {nncf.__version__} post-training quantization", "calibration_images": len(calibration)}
    _save(ov, quantized, {**_metadata(model), "quantization": info}, Path(int8))
    return info


class OpenVinoModel:
    """An OpenVINO IR written by ``export``, compiled for the CPU in float32 (an `ExportedGraph`).

    Args:
        path: the ``.xml`` file (its ``.bin`` beside it).
        threads: OpenVINO's inference threads (``None``: its default).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        ov = import_or_explain("openvino", "running an OpenVINO model", "openvino")
        self.path = Path(path)
        for file in (self.path, self.path.with_suffix(".bin")):
            if not file.is_file():
                raise FileNotFoundError(f"OpenVINO model not found: {file}")
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
            config = {"INFERENCE_PRECISION_HINT": "f32", **({"INFERENCE_NUM_THREADS": threads} if threads else {})}
            self.compiled = core.compile_model(model, "CPU", config)
        except Exception as e:  # OpenVINO raises its own types for unreadable files
            raise ExportError(f"{self.path}: OpenVINO cannot load this file ({str(e).splitlines()[0]})") from e
        self.metadata = _metadata(model)
        self.output_names = list(self.metadata.get("outputs", []))
        element = self.compiled.inputs[0].get_element_type().get_type_name()
        self._network_dtype = "uint8" if element == "u8" else "float32"  # what the compiled model takes
        self.input_dtype = self.metadata.get("input_dtype", self._network_dtype)
        self._split = SplitRunner(self.network, self.metadata) if "head" in self.metadata else None

    def network(self, x: Tensor | np.ndarray) -> list[np.ndarray]:
        """The compiled model's outputs for ``x`` (cast to its input type)."""
        array = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
        result = self.compiled(array.astype(self._network_dtype, copy=False))
        return [np.asarray(result[output]) for output in self.compiled.outputs]

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]:
        return self._split.run(image) if self._split is not None else self.network(image)


OPENVINO = FORMATS.register(
    ExportFormat(
        name="openvino",
        suffix=".xml",
        title="OpenVINO",
        write=write_openvino,
        load=OpenVinoModel,
        quantize=quantize_openvino,
        requires=("openvino", "onnx"),
        extra="openvino",
        companions=(".bin",),
    )
)
