"""Export formats are registry entries: one `ExportFormat` record per file format, in `FORMATS`.

A record says everything the export CLI, ``predict`` and the benchmarks need of a format (mmdeploy's backend
manager is the model): its file suffix, ``write(graph, sample, path, spec, metadata)``, ``load(path, threads=...)``
giving an `ExportedGraph` (its metadata and ``run(image) -> arrays``, the runner ``predict`` and the check against
eager both use), whether it can ``quantize`` (and how), how to ``locate`` the first layer that differs after a failed
check, and the Python modules it needs (`ExportFormat.is_available`, `ExportFormat.require`). The graph being
written declares its inputs and outputs (`GraphSpec`), so no writer branches on the task.

ONNX (:mod:`.onnx_format`), TorchScript (:mod:`.torchscript_format`), ``torch.export`` (:mod:`.pt2_format`),
OpenVINO (:mod:`.openvino_format`) and ExecuTorch (:mod:`.executorch_format`) register themselves when
``ghost_backbones.export`` is imported; a new format is one ``*_format.py`` module that calls
``FORMATS.register(ExportFormat(...))`` (README, "Adding an export format").

Examples::

    >>> import ghost_backbones.export
    >>> FORMATS.names()
    ['onnx', 'torchscript', 'pt2', 'pte', 'openvino']
    >>> FORMATS.for_path("model.onnx").name, FORMATS.for_path("best.pth")
    ('onnx', None)
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ExportError

__all__ = [
    "FORMATS",
    "METADATA_FILE",
    "ExportFormat",
    "ExportedGraph",
    "FormatRegistry",
    "GraphSpec",
    "ModuleGraph",
    "OutputCheck",
    "decode_metadata",
    "import_or_explain",
    "load_module_archive",
    "write_model",
]

METADATA_FILE = "metadata.json"  # the extra file holding the metadata in the TorchScript and pt2 archives
Outputs = Sequence[np.ndarray]


class OutputCheck(Protocol):
    """How an exported graph's outputs are compared with the eager graph's (`ghost_backbones.export.check`)."""

    def compare(self, expected: Outputs, got: Outputs) -> str | None: ...
    def summary(self) -> dict[str, Any]: ...
    def said(self) -> str: ...
    def warning(self) -> str | None: ...
    def int8_agreement(self, fp32: Callable, int8: Callable, images: Sequence[tuple[str, Any]]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GraphSpec:
    """What an exported graph takes and gives: the writers and the check read it, never the task's name.

    Args:
        outputs: the output names, in order.
        dynamic_axes: ``{name: {axis: axis name}}`` of the input and the outputs (axis 0 of the input dynamic: the
            graph takes a batch).
        input: the input's name.
        task: what the graph answers (``"detection"``, ``"segmentation"``; ``""``: a bare network), for messages.
        check: a new `OutputCheck` for the check against eager (``None``: a bare network, not checked).
        note: said when an exporter refuses the graph (why it may).
    """

    outputs: tuple[str, ...]
    dynamic_axes: Mapping[str, Mapping[int, str]]
    input: str = "image"
    task: str = ""
    check: Callable[[], OutputCheck] | None = None
    note: str = ""

    @property
    def batched(self) -> bool:
        """Whether the input's first axis is a (dynamic) batch."""
        return 0 in self.dynamic_axes.get(self.input, {})

    @classmethod
    def network(cls, outputs: Sequence[str]) -> GraphSpec:
        """A bare network's spec (e.g. a backbone): image batch of any size in, batched float outputs, no check."""
        axes = {"image": {0: "batch", 2: "height", 3: "width"}, **{name: {0: "batch"} for name in outputs}}
        return cls(tuple(outputs), axes)


def decode_metadata(value: str) -> Any:
    """A metadata value as written: JSON decoded, else the string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


class ExportedGraph(Protocol):
    """A loaded exported file: its path, metadata, output names and input type, and ``run(image) -> arrays``."""

    path: Path
    metadata: dict[str, Any]
    output_names: list[str]
    input_dtype: str

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]: ...


class ModuleGraph:
    """An exported graph that loads back as a ``torch.nn.Module`` (TorchScript, ``torch.export``), as an
    `ExportedGraph`: its metadata is the one written, inputs are cast to the graph's input type."""

    def __init__(self, module: nn.Module | Callable, metadata: dict[str, Any], path: str | Path) -> None:
        self.module, self.metadata, self.path = module, metadata, Path(path)
        self.output_names: list[str] = list(metadata.get("outputs", []))
        self.input_dtype: str = metadata.get("input_dtype", "float32")

    def run(self, image: Tensor | np.ndarray) -> list[np.ndarray]:
        x = torch.as_tensor(image)
        x = x.to(torch.uint8) if self.input_dtype == "uint8" else x.float()
        with torch.no_grad():
            out = self.module(x)
        return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]


def load_module_archive(
    path: str | Path, title: str, load: Callable[[str, dict[str, Any]], nn.Module | Callable]
) -> ModuleGraph:
    """A `ModuleGraph` of the file ``load(path, extra_files)`` reads, with its `METADATA_FILE` extra file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{title} model not found: {path}")
    extra = {METADATA_FILE: ""}
    module = load(str(path), extra)
    return ModuleGraph(module, json.loads(extra[METADATA_FILE] or "{}"), path)


def import_or_explain(module: str, purpose: str, extra: str = "export") -> Any:
    """``importlib.import_module(module)``, or an `ExportError` saying how to install it (one line)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ExportError(
            f"{purpose} needs {module}, which is not installed: pip install 'ghost-backbones[{extra}]'"
        ) from e


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Args:
        name: the ``--format`` value.
        suffix: its files' suffix (``".onnx"``); ``predict`` loads a file of this suffix with ``load``.
        title: the format in messages (``"ONNX"``).
        write: ``write(graph, sample, path, spec, metadata)``: the eval-mode ``graph`` traced / exported on
            ``sample`` to ``path``, with ``metadata`` (JSON-able values) inside; raises `ExportError` when the
            format cannot express the graph.
        load: ``load(path, threads=None) -> ExportedGraph``.
        quantize: ``quantize(fp32, int8, images, convs=...) -> info`` (``None``: the format cannot quantize).
        locate: ``locate(graph, path, image) -> str | None``: the first layer whose output differs (optional).
        requires: the Python modules writing and running the format need.
        extra: the ``ghost-backbones[extra]`` that installs them.
        selects_convs: ``quantize`` takes ``convs`` (``--int8-convs``: which convolutions become INT8).
        companions: suffixes of the files written beside ``path`` that belong to it (OpenVINO's ``.bin``).
    """

    name: str
    suffix: str
    write: Callable[[nn.Module, Tensor, Path, GraphSpec, dict[str, Any]], None]
    load: Callable[..., ExportedGraph]
    title: str = ""
    quantize: Callable[..., dict[str, Any]] | None = None
    locate: Callable[[nn.Module, Path, Tensor], str | None] | None = None
    requires: tuple[str, ...] = ()
    extra: str = "export"
    selects_convs: bool = False
    companions: tuple[str, ...] = ()

    def files(self, path: str | Path) -> list[Path]:
        """``path`` and its companion files."""
        path = Path(path)
        return [path, *(path.with_suffix(suffix) for suffix in self.companions)]

    @property
    def can_quantize(self) -> bool:
        return self.quantize is not None

    def is_available(self) -> bool:
        """Whether the modules the format needs are installed."""
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def require(self) -> None:
        """Raise `ExportError` (``pip install 'ghost-backbones[extra]'``) when a needed module is missing."""
        for module in self.requires:
            import_or_explain(module, f"the {self.title or self.name} format", self.extra)


@dataclass
class FormatRegistry:
    """Export formats by name (registration order) and by file suffix."""

    _formats: dict[str, ExportFormat] = field(default_factory=dict)

    def register(self, fmt: ExportFormat) -> ExportFormat:
        if fmt.name in self._formats:
            raise ValueError(f"export format {fmt.name!r} is already registered")
        taken = self.for_path(f"model{fmt.suffix}")
        if taken is not None:
            raise ValueError(f"suffix {fmt.suffix!r} of {fmt.name!r} is already {taken.name!r}'s")
        self._formats[fmt.name] = fmt
        return fmt

    def unregister(self, name: str) -> ExportFormat:
        return self._formats.pop(self.get(name).name)

    def names(self) -> list[str]:
        return list(self._formats)

    def get(self, name: str) -> ExportFormat:
        if name not in self._formats:
            raise ValueError(f"format must be one of {self.names()}, got {name!r}")
        return self._formats[name]

    def for_path(self, path: str | Path) -> ExportFormat | None:
        """The format whose suffix ``path`` has (``None``: no exported file, e.g. a checkpoint)."""
        suffix = Path(path).suffix.lower()
        return next((f for f in self._formats.values() if f.suffix.lower() == suffix), None)

    def __contains__(self, name: object) -> bool:
        return name in self._formats

    def __iter__(self):
        return iter(self._formats.values())


FORMATS = FormatRegistry()


def write_model(
    graph: nn.Module, sample: Tensor, path: str | Path, *, fmt: str, spec: GraphSpec, meta: dict[str, Any]
) -> Path:
    """Write ``graph`` (traced / exported on ``sample``) to ``path`` in the registered format ``fmt``.

    Raises:
        ValueError: an unknown format. ExportError: its package is missing, or it cannot express the graph.
    """
    path, record = Path(path), FORMATS.get(fmt)
    record.require()
    with torch.no_grad():
        record.write(graph, sample, path, spec, meta)
    return path
