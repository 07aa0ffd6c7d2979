"""The ExecuTorch format (``.pte``): the network lowered to XNNPACK, the CPU kernel library phones run.

ExecuTorch has no kernels for torchvision's NMS or RoIAlign, and its memory plan is sized for the largest input a
dynamic shape allows, so the file holds the network and the steps around it run in PyTorch (`split_graphs`):

- single-stage detectors (RetinaNet, FCOS, SSD): the backbone and head on the transformed image batch (any size up
  to ``max_size``, a multiple of 32; SSD's fixed square); predict rebuilds the torchvision class around the file
  from the recipe stored in it (anchors, transform, decoding and NMS limits), so the detections are computed as the
  eager model computes them. Two-stage detectors (Faster R-CNN, Mask R-CNN) are refused in one line;
- segmentation models: the normalised network on the resized image (shorter side ``base_size``, longer side up to
  4x that); the resize, the upsampling of the logits and the argmax around it are `SegmentationGraph`'s own;
- a bare network (the backbone benchmark): as it is, at the sample's size.

The metadata (task, architecture, categories, the detector's recipe) is stored in the file as a constant method
``metadata`` (JSON bytes). ``--int8`` quantizes with ExecuTorch's XNNPACK quantizer (PT2E: per-channel symmetric
INT8 weights, calibrated activations) on the calibration images, through the same split.

Examples::

    python -m segmentation.export --weights runs/lraspp/best.pth --output lraspp.pte --format pte
    python -m detection.export --weights runs/retinanet/best.pth --output retinanet.pte --format pte --int8
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ExportError
from .formats import FORMATS, ExportFormat, GraphSpec, import_or_explain
from .split_graphs import Split, SplitRunner, split_graph

__all__ = ["PTE", "PteModel", "quantize_pte", "write_pte"]


#: Why two-stage detectors are not written as ``.pte``.
TWO_STAGE = "ExecuTorch has no kernels for them; use --format onnx (or torchscript)"


def _dims(split: Split) -> tuple[dict[int, Any]] | None:
    """torch.export's dynamic height and width of the split network's ``(1, 3, H, W)`` input: from 32 (a stride-16
    map of more than one pixel) up to ``split.longest``, a multiple of ``split.multiple``."""
    if not split.longest:
        return None
    if split.multiple == 1:
        height = torch.export.Dim("height", min=32, max=split.longest)
        return ({2: height, 3: torch.export.Dim("width", min=32, max=split.longest)},)
    bound = split.longest // split.multiple
    height, width = torch.export.Dim("h", min=1, max=bound), torch.export.Dim("w", min=1, max=bound)
    return ({2: split.multiple * height, 3: split.multiple * width},)


def _export(network: nn.Module, example: Tensor, dims: Any) -> torch.export.ExportedProgram:
    try:
        return torch.export.export(network, (example,), dynamic_shapes=dims, strict=False)
    except Exception as e:  # torch.export's errors are many types; all mean the same to the user
        raise ExportError(f"torch.export cannot export this network for ExecuTorch: {str(e).splitlines()[0]}") from e


def _lower(program: torch.export.ExportedProgram, meta: dict[str, Any], path: Path) -> None:
    """``program`` lowered to XNNPACK and written as ExecuTorch's ``.pte`` with ``meta`` inside."""
    exir = import_or_explain("executorch.exir", "the ExecuTorch format", "executorch")
    partitioner = import_or_explain(
        "executorch.backends.xnnpack.partition.xnnpack_partitioner", "the ExecuTorch format", "executorch"
    )
    data = torch.tensor(list(json.dumps(meta).encode()), dtype=torch.uint8)
    lowered = exir.to_edge_transform_and_lower(
        program,
        partitioner=[partitioner.XnnpackPartitioner()],
        compile_config=exir.EdgeCompileConfig(_check_ir_validity=False),  # the resize's symbolic min
        constant_methods={"metadata": data},
    )
    path.write_bytes(lowered.to_executorch().buffer)


def write_pte(graph: nn.Module, sample: Tensor, path: Path, spec: GraphSpec, meta: dict[str, Any]) -> None:
    """``graph``'s network exported with ``torch.export``, lowered to XNNPACK and saved with ``meta``."""
    split = split_graph(graph, meta, TWO_STAGE)
    _lower(_export(split.network, split.prepare(sample), _dims(split)), split.metadata, path)


def quantize_pte(
    fp32: str | Path, int8: str | Path, images: Iterable[np.ndarray], *, graph: nn.Module, **context: Any
) -> dict[str, Any]:
    """The INT8 ``.pte`` of ``graph`` (ExecuTorch's XNNPACK quantizer, calibrated on ``images``) at ``int8``."""
    quantizer = import_or_explain("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", "INT8 .pte", "executorch")
    import_or_explain("executorch.kernels.quantized", "INT8 .pte", "executorch")  # (de)quantize ops left undelegated
    pt2e = import_or_explain("torchao.quantization.pt2e.quantize_pt2e", "INT8 .pte", "executorch")
    meta = PteModel(fp32).metadata
    calibration = [torch.from_numpy(np.asarray(image)) for image in images]
    if not calibration:
        raise ExportError("--int8 needs calibration images")
    split = split_graph(graph, meta, TWO_STAGE)
    network, prepare, dims = split.network, split.prepare, _dims(split)
    example = prepare(calibration[0])
    config = quantizer.get_symmetric_quantization_config(is_per_channel=True)
    prepared = pt2e.prepare_pt2e(
        _export(network, example, dims).module(), quantizer.XNNPACKQuantizer().set_global(config)
    )
    with torch.no_grad():
        for image in calibration:
            prepared(prepare(image))
    converted = pt2e.convert_pt2e(prepared)
    info = {"method": "XNNPACKQuantizer (PT2E), per-channel symmetric INT8", "calibration_images": len(calibration)}
    _lower(_export(converted, example, dims), {**meta, "quantization": info}, Path(int8))
    return info


class PteModel:
    """A ``.pte`` written by ``export`` in ExecuTorch's runtime, as an `ExportedGraph` (the steps around the network
    in PyTorch, as `split_graphs` describes).

    Args:
        path: the ``.pte`` file.
        threads: the threads of ExecuTorch's threadpool, which XNNPACK runs on (process-wide; ``None``: its default,
            one per core).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        runtime = import_or_explain("executorch.runtime", "running a .pte model", "executorch")
        if threads:
            lib = import_or_explain(
                "executorch.extension.pybindings.portable_lib", "running a .pte model", "executorch"
            )
            lib._unsafe_reset_threadpool(threads)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ExecuTorch model not found: {self.path}")
        try:
            program = runtime.Runtime.get().load_program(self.path)
            raw = program.load_method("metadata").execute([])[0] if "metadata" in program.method_names else None
            self._forward = program.load_method("forward")
        except Exception as e:  # the runtime raises its own types for unreadable files
            raise ExportError(f"{self.path}: ExecuTorch cannot load this file ({e})") from e
        self.metadata: dict[str, Any] = json.loads(bytes(raw.tolist()).decode()) if raw is not None else {}
        self.output_names: list[str] = list(self.metadata.get("outputs", []))
        self.input_dtype: str = self.metadata.get("input_dtype", "float32")
        self.run = SplitRunner(lambda x: self._forward.execute([x.contiguous()]), self.metadata).run


PTE = FORMATS.register(
    ExportFormat(
        name="pte",
        suffix=".pte",
        title="ExecuTorch (XNNPACK)",
        write=write_pte,
        load=PteModel,
        quantize=quantize_pte,
        requires=("executorch",),
        extra="executorch",
    )
)
