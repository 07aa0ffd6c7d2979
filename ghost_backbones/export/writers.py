"""Writing a whole-model graph (`ghost_backbones.export.graphs`) as ONNX, TorchScript or a ``torch.export`` program,
with its metadata (task, architecture, categories, input size) inside the file.

ONNX uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``), as torchvision exports its
detectors: it follows torchvision's tracing paths (dynamic image size through the transform, ``NonMaxSuppression``
for NMS, bounded by the detections the model keeps: `ghost_backbones.export.nms`; SSD's per-class loop as one
``TopK``: `ghost_backbones.export.ssd_postprocess`). The dynamo exporter goes through ``torch.export``, which stops
at the data-dependent shapes of the detection post-processing. TorchScript is ``torch.jit.trace`` of the same graph.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ExportError
from .nms import bounded_nms, nms_limit
from .ssd_postprocess import traceable_ssd

__all__ = ["FORMATS", "ONNX_OPSET", "encode_metadata", "write_model"]

FORMATS = ("onnx", "torchscript", "pt2")
ONNX_OPSET = 17
METADATA_FILE = "metadata.json"  # the TorchScript / pt2 extra file holding the metadata


def encode_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """Metadata as ONNX ``metadata_props``: strings as they are, anything else as JSON.

    Examples::

        >>> encode_metadata({"task": "detection", "categories": [{"id": 1, "name": "circle"}]})
        {'task': 'detection', 'categories': '[{"id": 1, "name": "circle"}]'}
    """
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def _dynamic_axes(kind: str, output_names: list[str]) -> dict[str, dict[int, str]]:
    if kind == "classification":  # a bare network (the backbone benchmark): batch and size dynamic, outputs batched
        return {"image": {0: "batch", 2: "height", 3: "width"}, **{name: {0: "batch"} for name in output_names}}
    if kind == "segmentation":
        return {"image": {0: "batch", 2: "height", 3: "width"}, "mask": {0: "batch", 1: "height", 2: "width"}}
    axes: dict[str, dict[int, str]] = {"image": {1: "height", 2: "width"}}
    axes.update({name: {0: "detections"} for name in output_names})
    if "masks" in output_names:
        axes["masks"] = {0: "detections", 2: "height", 3: "width"}
    return axes


def _write_onnx(graph: nn.Module, sample: Tensor, path: Path, kind: str, outputs: list[str], meta: dict) -> None:
    import onnx

    # TracerWarnings about python values: the check on sample images decides
    with warnings.catch_warnings(), bounded_nms(nms_limit(graph)), traceable_ssd(graph):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (sample,),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["image"],
            output_names=outputs,
            dynamic_axes=_dynamic_axes(kind, outputs),
        )
    model = onnx.load(str(path))
    for key, value in encode_metadata(meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def _write_torchscript(graph: nn.Module, sample: Tensor, path: Path, meta: dict) -> None:
    with warnings.catch_warnings(), traceable_ssd(graph):
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, (sample,), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(meta)})


def _write_pt2(graph: nn.Module, sample: Tensor, path: Path, kind: str, meta: dict) -> None:
    auto = torch.export.Dim.AUTO
    if kind == "segmentation":
        sample = torch.cat([sample, sample])  # a batch of 2, so the batch size is not specialised to 1
        shapes = ({0: auto, 2: auto, 3: auto},)
    else:
        shapes = ({1: auto, 2: auto},)
    torch_logger = logging.getLogger("torch")
    level = torch_logger.level
    torch_logger.setLevel(logging.CRITICAL)  # a failure prints the whole traced graph; the error below says why
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            program = torch.export.export(graph, (sample,), dynamic_shapes=shapes, strict=False)
    except Exception as e:  # torch.export's errors are many types; all mean the same to the user
        lines = str(e).strip().splitlines()
        where = next((line.strip() for line in lines if line.startswith("Caused by")), "")
        reason = f"{type(e).__name__}: {lines[0] if lines else ''}" + (f" {where}" if where else "")
        detector = " (torchvision's detection post-processing has data-dependent shapes)" if kind == "detection" else ""
        raise ExportError(
            f"torch.export cannot export this {meta.get('architecture', kind)} model{detector}: {reason}; "
            "use --format onnx or --format torchscript"
        ) from e
    finally:
        torch_logger.setLevel(level)
    torch.export.save(program, str(path), extra_files={METADATA_FILE: json.dumps(meta)})


def write_model(
    graph: nn.Module, sample: Tensor, path: str | Path, *, fmt: str, kind: str, outputs: list[str], meta: dict
) -> Path:
    """Write ``graph`` (traced / exported on ``sample``) to ``path`` in format ``fmt`` with ``meta`` inside.

    Args:
        graph: a `DetectionGraph` or `SegmentationGraph` in eval mode.
        sample: an input image of the graph.
        path: the file to write.
        fmt: one of :data:`FORMATS`.
        kind: ``"detection"``, ``"segmentation"`` or ``"classification"`` (a bare network, e.g. a backbone: its
            outputs keep a dynamic batch only).
        outputs: the graph's output names.
        meta: the metadata (JSON-able values).

    Raises:
        ExportError: the exporter cannot express the model (the message names the operator or the cause).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {fmt!r}")
    with torch.no_grad():
        if fmt == "pt2":
            _write_pt2(graph, sample, path, kind, meta)
            return path
        try:
            if fmt == "onnx":
                _write_onnx(graph, sample, path, kind, outputs, meta)
            else:
                _write_torchscript(graph, sample, path, meta)
        except RuntimeError as e:  # torch.onnx.errors.OnnxExporterError (an unsupported operator) included
            raise ExportError(f"cannot export this {meta.get('architecture', kind)} model to {fmt}: {e}") from e
    return path
