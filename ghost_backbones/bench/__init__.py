"""Benchmarking: the timing harness shared by the three benchmark CLIs, and the backbone benchmark.

``python -m ghost_backbones.bench`` times our GhostNets beside timm's ``ghostnet_100`` and ``mobilenetv3_large_100``.
"""

from .timing import count_macs, count_params, find_device, format_table, measure_latency, parse_img_size, torch_threads

__all__ = [
    "count_macs",
    "count_params",
    "find_device",
    "format_table",
    "measure_latency",
    "parse_img_size",
    "torch_threads",
]
