"""The ``--runtime`` axis of the benchmark CLIs: one model run eager, in its deploy form, compiled, or exported in
each registered export format (`ghost_backbones.export.FORMATS`), in float32 and, where the format quantizes, INT8.

Every runtime times the same callable, the *graph* a task hands over (the whole model as it is exported: image in,
answer out, see :mod:`ghost_backbones.export.graphs`), built by :func:`build_runtime`:

==========  =====================================================================================================
runtime     what is timed
==========  =====================================================================================================
eager       the graph in eager PyTorch
deploy      :func:`ghost_backbones.deploy` of the graph: norms folded, GhostNetV3 branches merged, the Ghost
            bottlenecks' expansions split, channels-last weights (on a model without GhostNets, e.g. torchvision's
            MobileNetV3, only the channels-last weights)
compile     ``torch.compile`` of the deploy form (compiled by one untimed call when built); of a detector, its
            network parts (:data:`DETECTOR_NETWORKS`), the post-processing eager
FORMAT      each export format's name (``onnx``, ``torchscript``, ``pt2``): the deploy form written by
            :func:`ghost_backbones.export.write_model` (the exporter of ``<task>.export``), checked against eager on
            the sample (:func:`ghost_backbones.export.check_outputs`), run by the format's loader (onnxruntime: CPU,
            ``threads`` intra-op threads)
FORMAT-int8 of a format that quantizes (``onnx-int8``): that file quantized by the format's ``quantize``
            (ONNX: :func:`ghost_backbones.export.quantize.quantize_int8`, static QDQ, its heavy convolutions),
            calibrated on random images: enough for speed, not for accuracy
==========  =====================================================================================================

A runtime that cannot be built (an exporter or compiler error, a failed check) is no crash: its row carries the
``error`` and no timing. :func:`runtime_rows` gives each row two speed-ups: over the row's baseline in eager
(``speedup``, the table's common column) and over the baseline in the same runtime (``same_runtime_speedup``).

Examples::

    >>> parse_runtimes("eager,onnx")
    ('eager', 'onnx')
    >>> runtime_names()
    ('eager', 'deploy', 'compile', 'onnx', 'onnx-int8', 'torchscript', 'pt2', 'pte', 'pte-int8', 'openvino', \
'openvino-int8')
    >>> case_name("lraspp", "onnx")
    'lraspp [onnx]'
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ghost_backbones.export import FORMATS, ExportFormat, GraphSpec

from .harness import Timing, TimingConfig, speedup
from .table import add_measure, table_columns

__all__ = [
    "Graph",
    "build_runtime",
    "case_name",
    "parse_runtimes",
    "runtime_columns",
    "runtime_names",
    "runtime_rows",
    "time_runtimes",
    "with_baseline_eager",
]

#: The runtimes that export nothing; each export format adds its own (:func:`runtime_names`).
TORCH_RUNTIMES = ("eager", "deploy", "compile")
INT8 = "-int8"
#: Random calibration images for the INT8 runtimes.
CALIBRATION_IMAGES = 4
#: An error is cut to this many characters in its row.
ERROR_CHARS = 240
#: What ``compile`` compiles of a torchvision detector (the ``detector`` of a ``DetectionGraph``), where present:
#: the modules that take the image's feature maps, whose shapes follow the input size only. Compiling the whole
#: detector spent over 15 minutes in sympy on the post-processing's data-dependent shapes (docs/benchmarks.md);
#: the R-CNN box and mask heads, whose batch is the number of proposals, run eager too.
DETECTOR_NETWORKS = ("backbone", "head", "rpn.head")


def runtime_names() -> tuple[str, ...]:
    """The runtimes: `TORCH_RUNTIMES`, then each registered export format (and ``<format>-int8`` if it quantizes)."""
    exported = [(f.name, f.name + INT8) if f.can_quantize else (f.name,) for f in FORMATS]
    return TORCH_RUNTIMES + tuple(name for names in exported for name in names)


def _format_of(runtime: str) -> tuple[ExportFormat, bool]:
    """The export format a runtime runs, and whether it is its INT8 runtime."""
    int8 = runtime.endswith(INT8) and runtime.removesuffix(INT8) in FORMATS
    return FORMATS.get(runtime.removesuffix(INT8) if int8 else runtime), int8


def parse_runtimes(value: str | Sequence[str]) -> tuple[str, ...]:
    """Check a runtime list (``"eager,onnx"`` or a sequence); duplicates dropped, order kept.

    Examples::

        >>> parse_runtimes(["onnx", "tensorrt"])
        Traceback (most recent call last):
        ...
        ValueError: unknown runtime(s) ['tensorrt']; choose from ['eager', 'deploy', 'compile', 'onnx', 'onnx-int8', \
'torchscript', 'pt2', 'pte', 'pte-int8', 'openvino', 'openvino-int8']
    """
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    known = runtime_names()
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown runtime(s) {unknown or names}; choose from {list(known)}")
    return tuple(dict.fromkeys(names))


def case_name(model: str, runtime: str) -> str:
    """The harness's name of ``model`` run in ``runtime``."""
    return f"{model} [{runtime}]"


@dataclass
class Graph:
    """A model as every runtime takes it: the whole-model graph, its input and what it declares.

    Args:
        module: eval-mode graph, called as ``module(sample)``.
        sample: its input (shared by all runtimes; uint8 pixels for the task graphs, a float batch for a backbone).
        spec: its inputs, outputs and check (``None``: the module's own ``spec``, as the task graphs declare it; a
            bare network gives ``GraphSpec.network(outputs)``: no output check, its outputs are float features).
        info: the row's ``params_m`` and ``gmacs``.
    """

    module: nn.Module
    sample: torch.Tensor
    spec: GraphSpec | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec = self.spec or getattr(self.module, "spec", None)
        if not isinstance(self.spec, GraphSpec):
            raise TypeError(f"{type(self.module).__name__} declares no GraphSpec (a `spec` property); pass spec=")


def _deploy(module: nn.Module, channels_last: bool = True) -> nn.Module:
    from ghost_backbones import deploy

    return deploy(module, channels_last=channels_last)


def _compile(module: nn.Module) -> nn.Module:
    """``torch.compile`` of a detector graph's networks (:data:`DETECTOR_NETWORKS`), else of the whole module."""
    compiled = False
    for path in DETECTOR_NETWORKS:
        parent, _, name = f"detector.{path}".rpartition(".")
        try:
            owner = module.get_submodule(parent)
        except AttributeError:  # e.g. no RPN in a one-stage detector, or no detector
            continue
        if isinstance(getattr(owner, name, None), nn.Module):
            setattr(owner, name, torch.compile(getattr(owner, name)))
            compiled = True
    return module if compiled else torch.compile(module)


def _float_file(graph: Graph, fmt: ExportFormat, folder: Path, threads: int | None) -> tuple[Path, Callable]:
    """The deploy form written in ``fmt``, checked against eager on the sample, and its runner."""
    from ghost_backbones.export import check_outputs, write_model
    from ghost_backbones.export.cli import eager_runner

    path = folder / f"model{fmt.suffix}"
    fused = _deploy(graph.module, channels_last=False)
    write_model(fused, graph.sample, path, fmt=fmt.name, spec=graph.spec, meta={"task": "bench"})
    run = fmt.load(path, threads=threads).run
    if graph.spec.check is not None:
        sample = [("the sample", graph.sample)]
        check_outputs(graph.spec.check(), eager_runner(graph.module), run, sample, what=str(path))
    return path, run


def _int8_file(fp32: Path, fmt: ExportFormat, graph: Graph, threads: int | None) -> Callable[[Any], Any]:
    generator = torch.Generator().manual_seed(0)
    sample = graph.sample
    if sample.dtype == torch.uint8:
        images = [torch.randint(0, 256, sample.shape, generator=generator, dtype=torch.uint8)
                  for _ in range(CALIBRATION_IMAGES)]  # fmt: skip
    else:
        images = [torch.randn(sample.shape, generator=generator) for _ in range(CALIBRATION_IMAGES)]
    int8 = fp32.with_name(f"model_int8{fmt.suffix}")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's quantizer warns on the root logger about every fused bias
    try:
        fmt.quantize(fp32, int8, (np.ascontiguousarray(x.numpy()) for x in images), graph=graph.module)
    finally:
        root.setLevel(level)
    return fmt.load(int8, threads=threads).run


def _build(graph: Graph, runtime: str, folder: Path, threads: int | None, files: dict[str, Any]) -> Callable:
    if runtime == "eager":
        return graph.module
    if runtime == "deploy":
        return _deploy(graph.module)
    if runtime == "compile":
        return _compile(_deploy(graph.module))
    fmt, int8 = _format_of(runtime)
    if isinstance(files.get(fmt.name), str):
        raise RuntimeError(f"no float {fmt.title or fmt.name} file to quantize ({files[fmt.name]})")
    if fmt.name not in files:
        files[fmt.name] = _float_file(graph, fmt, folder, threads)
    path, run = files[fmt.name]
    return _int8_file(path, fmt, graph, threads) if int8 else run


def build_runtime(
    graph: Graph, runtime: str, folder: Path, *, threads: int | None, files: dict[str, Any]
) -> Callable[[Any], Any]:
    """The callable that runs ``graph`` in ``runtime`` (see the module docstring), run once on the sample (which
    compiles ``compile``); raises what building or that run raised.

    Args:
        graph: the model and its sample.
        runtime: one of :func:`runtime_names`.
        folder: where the exported files go (one folder per model).
        threads: onnxruntime intra-op threads (torch's are set by the harness).
        files: the model's float file of each format (format name -> ``(path, runner)``, or the error line that
            stopped it), shared by a format's float and INT8 runtimes: the file is written once.
    """
    if runtime not in runtime_names():
        raise ValueError(f"runtime must be one of {list(runtime_names())}, got {runtime!r}")
    fn = _build(graph, runtime, folder, threads, files)
    with torch.inference_mode():
        fn(graph.sample)
    return fn


def _error_line(error: BaseException) -> str:
    """The exception as one line: its type and the first line of its message (at most `ERROR_CHARS` characters)."""
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0] if message else ''}"
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def time_runtimes(
    graphs: Mapping[str, Graph],
    runtimes: Mapping[str, Sequence[str]],
    timing: TimingConfig,
    *,
    progress: bool = True,
) -> tuple[dict[str, Timing], dict[str, str]]:
    """Build each model's runtimes and time them all in the same interleaved rounds.

    Args:
        graphs: model name -> its :class:`Graph`.
        runtimes: model name -> the runtimes to time it in.
        timing: the harness settings (threads also given to onnxruntime).
        progress: the harness's progress bar.

    Returns:
        ``(timings, errors)``, both keyed by :func:`case_name`; a case is in one or the other.
    """
    from .harness import Case, time_cases

    if timing.torch_device.type != "cpu":
        raise ValueError(f"the runtimes run on the CPU (onnxruntime): use --device cpu, got {timing.device!r}")
    cases: dict[str, Case] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_runtimes_") as tmp, timing.threads_context():
        for index, (name, graph) in enumerate(graphs.items()):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            files: dict[str, Any] = {}
            for runtime in runtimes[name]:
                key = case_name(name, runtime)
                try:
                    fn = build_runtime(graph, runtime, folder, threads=timing.threads, files=files)
                except Exception as e:  # any failure of a runtime is reported in its row
                    errors[key] = _error_line(e)
                    if runtime not in TORCH_RUNTIMES:  # the float file's error, unless it was written
                        files.setdefault(_format_of(runtime)[0].name, errors[key])
                    continue
                cases[key] = Case(fn, graph.sample)
        timings = time_cases(cases, timing, progress=progress) if cases else {}
    return timings, errors


def runtime_rows(
    entries: Iterable[tuple[str, str, str]],
    timings: Mapping[str, Timing],
    errors: Mapping[str, str],
    info: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One row per ``(model, runtime, baseline)``: the common columns, ``runtime``, ``error`` and the speed-ups.

    ``speedup`` / ``best_speedup`` compare with the baseline in eager, ``same_runtime_speedup`` /
    ``same_runtime_best_speedup`` with the baseline in the same runtime (``None`` where either has no timing).

    Examples::

        >>> timings = {"a [eager]": Timing([20.0], 18.0), "b [eager]": Timing([40.0], 36.0),
        ...            "a [onnx]": Timing([10.0], 9.0), "b [onnx]": Timing([20.0], 18.0)}
        >>> rows = runtime_rows([("a", "onnx", "b")], timings, {}, {"a": {"params_m": 1.0, "gmacs": 0.5}})
        >>> rows[0]["speedup"], rows[0]["same_runtime_speedup"], rows[0]["error"]
        (4.0, 2.0, None)
    """
    rows = []
    for model, runtime, baseline in entries:
        key = case_name(model, runtime)
        row: dict[str, Any] = dict(model=model, runtime=runtime, **info.get(model, {}))
        row.update(median_ms=None, best_ms=None, baseline=baseline)
        add_measure(row, "", timings.get(key), timings.get(case_name(baseline, "eager")))
        same = speedup(timings.get(key), timings.get(case_name(baseline, runtime)))
        row["same_runtime_speedup"], row["same_runtime_best_speedup"] = same
        row["error"] = errors.get(key)
        rows.append(row)
    return rows


def runtime_columns(timer: str = "wall", first: Sequence[tuple[str, str, str]] = ()) -> list[tuple[str, str, str]]:
    """The table's columns with the runtime axis: ``first`` (e.g. detection's ``arch``), the model and its runtime,
    the common columns (the speed-ups: over the baseline in eager), the speed-up over the baseline in the same
    runtime (its best-call version is in the JSON) and the error.

    Examples::

        >>> headers = [header for _, header, _ in runtime_columns()]
        >>> headers[:3], headers[-4:]
        (['model', 'runtime', 'params (M)'], ['vs baseline eager', '(best)', 'vs baseline same runtime', 'error'])
    """
    headers = {"speedup": "vs baseline eager", "best_speedup": "(best)"}
    common = [(k, headers.get(k, h), f) for k, h, f in table_columns(timer=timer)]
    columns = [*first, common[0], ("runtime", "runtime", ""), *common[1:]]
    return [*columns, ("same_runtime_speedup", "vs baseline same runtime", ".2f"), ("error", "error", "")]


def with_baseline_eager(runtimes: Sequence[str]) -> tuple[str, ...]:
    """A baseline's runtimes: the asked ones, and eager (every row's ``speedup`` compares with it)."""
    return tuple(dict.fromkeys(["eager", *runtimes]))
