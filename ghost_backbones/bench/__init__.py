"""Benchmarking: one timing harness and one table format for the three benchmark CLIs, and the backbone benchmark.

- :mod:`~ghost_backbones.bench.harness`: :class:`Case` (a named callable and its input) timed by :func:`time_cases`
  in interleaved rounds under a :class:`TimingConfig`; :func:`speedup` = baseline time / our time (above 1: faster);
  :func:`add_timing_args` adds the flags every CLI shares.
- :mod:`~ghost_backbones.bench.table`: :func:`result_row` / :func:`add_measure` build the rows (the same keys in
  every CLI), :func:`report` prints them as a table or JSON.
- :mod:`~ghost_backbones.bench.timing`: the primitives (:func:`measure_latency`, :func:`count_macs`, ...).

``python -m ghost_backbones.bench`` times our GhostNets beside timm's ``ghostnet_100`` and ``mobilenetv3_large_100``;
``python -m detection.benchmark`` and ``python -m segmentation.benchmark`` are built on the same harness.
"""

from .harness import CLOCKS, Case, Timing, TimingConfig, add_timing_args, speedup, time_cases
from .table import add_measure, format_table, report, result_row, table_columns
from .timing import (
    calibrate_batchnorm,
    count_macs,
    count_params,
    find_device,
    measure_latency,
    parse_img_size,
    torch_threads,
)

__all__ = [
    "CLOCKS",
    "Case",
    "Timing",
    "TimingConfig",
    "add_measure",
    "add_timing_args",
    "calibrate_batchnorm",
    "count_macs",
    "count_params",
    "find_device",
    "format_table",
    "measure_latency",
    "parse_img_size",
    "report",
    "result_row",
    "speedup",
    "table_columns",
    "time_cases",
    "torch_threads",
]
