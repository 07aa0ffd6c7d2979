"""The TorchScript export format: ``torch.jit.trace`` of the whole-model graph, the metadata as an extra file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ExportError
from .formats import FORMATS, METADATA_FILE, ExportFormat, GraphSpec, ModuleGraph, load_module_archive
from .ssd_postprocess import traceable_ssd

__all__ = ["TORCHSCRIPT", "load_torchscript", "write_torchscript"]


def write_torchscript(graph: nn.Module, sample: Tensor, path: Path, spec: GraphSpec, meta: dict[str, Any]) -> None:
    """``graph`` traced on ``sample`` and saved with ``meta`` as its ``metadata.json`` extra file."""
    try:
        with warnings.catch_warnings(), traceable_ssd(graph):
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(graph, (sample,), check_trace=False)
    except RuntimeError as e:
        raise ExportError(f"cannot export this {meta.get('architecture', spec.task)} model to torchscript: {e}") from e
    torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(meta)})


def load_torchscript(path: str | Path, *, threads: int | None = None) -> ModuleGraph:
    """A TorchScript file written by ``export`` (torch's own threads; ``threads`` is for other runtimes)."""
    return load_module_archive(path, "TorchScript", lambda file, extra: torch.jit.load(file, _extra_files=extra))


TORCHSCRIPT = FORMATS.register(
    ExportFormat(
        name="torchscript", suffix=".torchscript", title="TorchScript", write=write_torchscript, load=load_torchscript
    )
)
