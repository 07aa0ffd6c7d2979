"""``detection.benchmark --archs``: every architecture of ours against its torchvision counterpart, each at its COCO
recipe's input, in eager PyTorch or in every deployment runtime (:mod:`ghost_backbones.bench.deploy_runtimes`).

Examples::

    >>> size, models = arch_models("ssdlite", 4)
    >>> size, list(models)
    (320, ['ssdlite (ours)', 'ssdlite320_mobilenet_v3_large'])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ghost_backbones.bench import (
    Case,
    TimingConfig,
    calibrate_batchnorm,
    count_macs,
    count_params,
    result_row,
    time_cases,
)
from ghost_backbones.bench import deploy_runtimes as rt
from ghost_backbones.engine import autocast, convert_section, load_config
from ghost_backbones.export import DetectionGraph

from .config import DetectionConfig
from .models import MODELS, build_model

__all__ = ["CONFIGS", "TIMING", "arch_models", "benchmark_architectures"]

#: Timing defaults: a detector call takes long, so fewer calls than the backbone benchmark.
TIMING = TimingConfig(warmup=2, iters=5, repeats=3)
#: The recipes: ``--archs`` builds each of ours from its COCO recipe's ``model`` section.
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def arch_models(arch: str, num_classes: int, size: int | None = None) -> tuple[int, dict[str, nn.Module]]:
    """Our ``arch`` as its COCO recipe builds it (random weights) and its torchvision counterpart, and their input side.

    Both in eval mode with BatchNorm statistics from two random images (:func:`calibrate_batchnorm`): untrained
    statistics make torchvision's SSDLite output exact zeros and its NMS trivially cheap.

    Args:
        arch: a key of ``MODELS.counterparts()``.
        num_classes: classes including the background.
        size: the square input's side (``None``: the recipe's ``model.min_size``); both models keep it (``min_size`` =
            ``max_size`` = ``size``; torchvision's SSDLite has its own fixed 320).

    Examples::

        >>> size, models = arch_models("ssdlite", 4)
        >>> size, list(models)
        (320, ['ssdlite (ours)', 'ssdlite320_mobilenet_v3_large'])
    """
    if arch not in MODELS.counterparts():
        raise ValueError(f"arch must be one of {list(MODELS.counterparts())}, got {arch!r}")
    cfg = load_config(DetectionConfig, MODELS.recipe(arch, "coco"), ["model.backbone.pretrained=false"]).model
    size = size or cfg.min_size
    cfg = convert_section(cfg, type(cfg), num_classes=num_classes, min_size=size, max_size=size)
    theirs = MODELS.entry(arch).counterpart
    models = {
        f"{arch} (ours)": build_model(cfg),
        theirs: build_model(convert_section(cfg, MODELS.options(theirs), arch=theirs)),
    }
    images = [torch.rand(3, size, size) for _ in range(2)]
    return size, {name: calibrate_batchnorm(model, images) for name, model in models.items()}


def benchmark_architectures(
    archs: Sequence[str] = tuple(MODELS.counterparts()),
    *,
    num_classes: int = 91,
    size: int | None = None,
    amp: bool = False,
    runtimes: Sequence[str] = ("eager",),
    timing: TimingConfig | None = None,
) -> list[dict[str, Any]]:
    """Inference latency (one image, eval mode) of each of our ``archs`` and its torchvision counterpart.

    Every model of every architecture is timed in the same interleaved rounds; each pair at its own input side
    (see :func:`arch_models`). Untrained, so the two-stage detectors keep their full proposal budget.

    Args:
        archs: keys of ``MODELS.counterparts()``.
        num_classes: classes including the background (91 = torchvision's COCO heads).
        size: one input side for all (``None``: each recipe's ``min_size``).
        amp: autocast (float16 on CUDA, bfloat16 on CPU).
        runtimes: of :func:`ghost_backbones.bench.deploy_runtimes.runtime_names`; beyond ``("eager",)`` every
            runtime times the whole-model graph (`DetectionGraph`, uint8 image in) in float32 (no ``amp``), the
            counterparts in eager too.
        timing: device, threads, warmup, iters, repeats, timer (default: :data:`TIMING`).

    Returns:
        The rows of :mod:`ghost_backbones.bench.table` (``baseline``: the counterpart, its own for itself) plus
        ``arch`` and ``img_size``; with runtimes, those of :func:`ghost_backbones.bench.deploy_runtimes.runtime_rows`.

    Examples::

        >>> rows = benchmark_architectures(["fcos"], num_classes=4, size=96,
        ...                                timing=TimingConfig(warmup=0, iters=1, repeats=1))
        >>> [(r["arch"], r["model"], r["baseline"]) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
        [('fcos', 'fcos (ours)', 'fcos_mobilenet_v3_large_fpn'),
         ('fcos', 'fcos_mobilenet_v3_large_fpn', 'fcos_mobilenet_v3_large_fpn')]
    """
    timing = timing or TIMING
    if not archs:
        raise ValueError(f"no architecture to time; choose from {list(MODELS.counterparts())}")
    runtimes = rt.parse_runtimes(runtimes)
    if runtimes != ("eager",):
        if amp:
            raise ValueError("--runtime times the exported graphs in float32: leave out --amp")
        return _architectures_in_runtimes(archs, runtimes, num_classes=num_classes, size=size, timing=timing)
    dev = timing.torch_device
    cases: dict[str, Case] = {}
    counted: list[tuple[str, int, str, dict[str, float]]] = []  # (arch, side, model, its params and GMACs)
    for arch in archs:
        side, models = arch_models(arch, num_classes, size)
        image = [torch.rand(3, side, side).to(dev)]
        for name, model in models.items():
            model = model.to(dev).eval()
            cases[name] = Case(model, image, prepare=model.eval, context=lambda: autocast(dev, amp))
            counted.append((arch, side, name, dict(params_m=count_params(model) / 1e6,
                                                   gmacs=count_macs(model, image) / 1e9)))  # fmt: skip
    timings = time_cases(cases, timing)
    return [
        {
            "arch": arch,
            "img_size": f"{side}x{side}",
            **result_row(name, MODELS.entry(arch).counterpart, timings, **counts),
        }
        for arch, side, name, counts in counted
    ]


def _architectures_in_runtimes(
    archs: Sequence[str], runtimes: tuple[str, ...], *, num_classes: int, size: int | None, timing: TimingConfig
) -> list[dict[str, Any]]:
    """Each architecture and its counterpart as `DetectionGraph` s in each runtime (the counterpart in eager too)."""
    graphs: dict[str, rt.Graph] = {}
    entries: list[tuple[str, str, str, str, int]] = []  # (arch, model, runtime, baseline, side)
    for arch in archs:
        side, models = arch_models(arch, num_classes, size)
        image = torch.randint(0, 256, (3, side, side), dtype=torch.uint8)
        for name, model in models.items():
            model = model.eval()
            info = dict(params_m=count_params(model) / 1e6, gmacs=count_macs(model, [image.float() / 255]) / 1e9)
            graph = DetectionGraph(model, list(range(1, num_classes))).eval()
            graphs[name] = rt.Graph(graph, image, info=info)  # its spec names masks for Mask R-CNN
            theirs = MODELS.entry(arch).counterpart
            asked = runtimes if name != theirs else rt.with_baseline_eager(runtimes)
            entries += [(arch, name, runtime, theirs, side) for runtime in asked]
    asked_of = {name: [r for _, m, r, _, _ in entries if m == name] for name in graphs}
    timings, errors = rt.time_runtimes(graphs, asked_of, timing)
    info = {name: g.info for name, g in graphs.items()}
    rows = rt.runtime_rows([(m, r, b) for _, m, r, b, _ in entries], timings, errors, info)
    return [{"arch": arch, "img_size": f"{side}x{side}", **row} for (arch, *_, side), row in zip(entries, rows)]
