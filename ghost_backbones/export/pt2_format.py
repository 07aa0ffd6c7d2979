"""The ``torch.export`` format (``.pt2``): an exported program with the input's dynamic axes, the metadata as an
extra file. A graph torch.export cannot express is refused with torch.export's reason, in one line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ExportError
from .formats import FORMATS, METADATA_FILE, ExportFormat, GraphSpec, ModuleGraph, load_module_archive

__all__ = ["PT2", "load_pt2", "write_pt2"]


def _reason(error: Exception) -> str:
    """torch.export's error as one line: its type, first line and the ``Caused by`` line."""
    lines = str(error).strip().splitlines()
    where = next((line.strip() for line in lines if line.startswith("Caused by")), "")
    return f"{type(error).__name__}: {lines[0] if lines else ''}" + (f" {where}" if where else "")


def write_pt2(graph: nn.Module, sample: Tensor, path: Path, spec: GraphSpec, meta: dict[str, Any]) -> None:
    """``torch.export.export`` of ``graph`` with the spec's input axes dynamic, saved with ``meta``."""
    if spec.batched:
        sample = torch.cat([sample, sample])  # a batch of 2, so the batch size is not specialised to 1
    shapes = ({axis: torch.export.Dim.AUTO for axis in spec.dynamic_axes.get(spec.input, {})},)
    torch_logger = logging.getLogger("torch")
    level = torch_logger.level
    torch_logger.setLevel(logging.CRITICAL)  # a failure prints the whole traced graph; the error below says why
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            program = torch.export.export(graph, (sample,), dynamic_shapes=shapes, strict=False)
    except Exception as e:  # torch.export's errors are many types; all mean the same to the user
        note = f" ({spec.note})" if spec.note else ""
        others = " or ".join(f"--format {name}" for name in FORMATS.names() if name != "pt2")
        raise ExportError(
            f"torch.export cannot export this {meta.get('architecture', spec.task)} model{note}: {_reason(e)}; "
            f"use {others}"
        ) from e
    finally:
        torch_logger.setLevel(level)
    torch.export.save(program, str(path), extra_files={METADATA_FILE: json.dumps(meta)})


def load_pt2(path: str | Path, *, threads: int | None = None) -> ModuleGraph:
    """A ``.pt2`` program written by ``export``, run as a module."""
    return load_module_archive(
        path, "torch.export", lambda file, extra: torch.export.load(file, extra_files=extra).module()
    )


PT2 = FORMATS.register(ExportFormat(name="pt2", suffix=".pt2", title="torch.export", write=write_pt2, load=load_pt2))
