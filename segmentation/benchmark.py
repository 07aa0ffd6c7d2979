"""Inference latency of our segmentation models against torchvision's MobileNetV3 ones, in one run.

``python -m segmentation.benchmark`` times, at 520x520 by default, DeepLabV3 / DeepLabV3+ / FCN / LR-ASPP on a
dilated GhostNet next to ``deeplabv3_mobilenet_v3_large`` and ``lraspp_mobilenet_v3_large`` (registry entries:
random weights, 21 classes, eval mode, no auxiliary head) with the shared harness (:mod:`ghost_backbones.bench`):
models interleaved in rounds, so a busy machine slows all of them alike. Each row's baseline is its MobileNetV3
counterpart (DeepLabV3 / DeepLabV3+ / FCN -> ``deeplabv3_mobilenet_v3_large``, LR-ASPP ->
``lraspp_mobilenet_v3_large``; a counterpart is its own baseline), and speed-up = baseline time / its time
(above 1: faster).

``--runtime eager,deploy,compile,onnx,onnx-int8`` (:mod:`ghost_backbones.bench.deploy_runtimes`) times every model in
each runtime, the counterparts in eager too: each runtime runs the whole model as ``segmentation.export`` writes it
(uint8 image in, class map out: normalisation and argmax included, no resize), and each row has two speed-ups, over
the counterpart in eager and over the counterpart in the same runtime. Without ``--runtime`` (or with
``--runtime eager`` alone) the models are timed as before: logits out, ``--deploy`` / ``--channels-last`` / ``--amp``
apply.

Examples::

    python -m segmentation.benchmark                      # CPU, 2 threads, 520x520
    python -m segmentation.benchmark --models lraspp --runtime eager,deploy,compile,onnx,onnx-int8
    python -m segmentation.benchmark --threads 1 --timer cpu --channels-last
    python -m segmentation.benchmark --device cuda --batch-size 8 --json runs/seg_bench.json
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ghost_backbones import bench
from ghost_backbones import deploy as ghost_deploy
from ghost_backbones.bench import deploy_runtimes as rt
from ghost_backbones.engine import autocast, convert_section, run_cli
from ghost_backbones.export import SegmentationGraph

from .config import ModelConfig
from .models import MODELS, build_model
from .models.deeplab import DeepLabV3Config

__all__ = ["COUNTERPART", "TIMING", "benchmark", "main"]

#: Our model -> the torchvision model (registry entry) it is compared with (each entry's ``counterpart``).
COUNTERPART = MODELS.counterparts()
#: Timing defaults of the segmentation benchmark.
TIMING = bench.TimingConfig(warmup=3, iters=10, repeats=3)


def benchmark(
    models: Sequence[str] = tuple(COUNTERPART),
    *,
    img_size: tuple[int, int] = (520, 520),
    batch_size: int = 1,
    width: float = 1.0,
    head_channels: int = DeepLabV3Config.head_channels,
    num_classes: int = 21,
    amp: bool = False,
    channels_last: bool = False,
    deploy: bool = False,
    runtimes: Sequence[str] = ("eager",),
    timing: bench.TimingConfig | None = None,
) -> list[dict[str, Any]]:
    """Time our ``models`` and their torchvision counterparts (added after them); one row per model and runtime.

    Args:
        models: ours to time (keys of `COUNTERPART`).
        img_size: input (H, W).
        batch_size: images per forward pass.
        width: GhostNet width multiplier.
        head_channels: ASPP / decoder width of DeepLabV3(+), LR-ASPP ``inter_channels``.
        num_classes: output classes.
        amp: autocast (float16 on CUDA, bfloat16 on CPU).
        channels_last: run every model (and the input) in ``torch.channels_last`` memory format.
        deploy: inference form: ours through :func:`ghost_backbones.deploy` (norms folded, channels-last weights),
            torchvision's with channels-last weights (their fastest form without extra tooling); NCHW input.
        runtimes: of :func:`ghost_backbones.bench.deploy_runtimes.runtime_names`; beyond ``("eager",)`` the
            whole-model graphs are timed (see the module docstring), which ``amp``, ``channels_last`` and
            ``deploy`` do not apply to.
        timing: device, threads, warmup, iters, repeats, timer (default: :data:`TIMING`).

    Returns:
        The rows of :mod:`ghost_backbones.bench.table`, ``baseline`` being the counterpart; with runtimes, those of
        :func:`ghost_backbones.bench.deploy_runtimes.runtime_rows` (``runtime``, ``same_runtime_speedup``, ``error``).

    Examples::

        >>> rows = benchmark(["lraspp"], img_size=(64, 64), timing=bench.TimingConfig(warmup=0, iters=1, repeats=1))
        >>> [(r["model"], r["baseline"], r["speedup"] > 0) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
        [('lraspp', 'lraspp_mobilenet_v3_large', True),
         ('lraspp_mobilenet_v3_large', 'lraspp_mobilenet_v3_large', True)]
    """
    timing = timing or TIMING
    unknown = sorted(set(models) - set(COUNTERPART))
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown or list(models)}; choose from {sorted(COUNTERPART)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = timing.torch_device
    baselines = {**{m: COUNTERPART[m] for m in models}, **{COUNTERPART[m]: COUNTERPART[m] for m in models}}
    runtimes = rt.parse_runtimes(runtimes)
    if runtimes != ("eager",):
        if amp or channels_last or deploy:
            raise ValueError("--runtime times the exported graphs in float32: leave out --amp, --channels-last and "
                             "--deploy (the 'deploy' runtime is ours fused + channels-last)")  # fmt: skip
        sizes = dict(img_size=img_size, batch_size=batch_size, num_classes=num_classes, timing=timing)
        return _benchmark_runtimes(baselines, runtimes, width=width, head_channels=head_channels, **sizes)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.rand(batch_size, 3, *img_size, device=dev).to(memory_format=memory_format)
    cases, info = {}, {}
    for name in baselines:
        cfg = _model_config(name, num_classes, width, head_channels)
        model = build_model(cfg).eval().to(dev, memory_format=memory_format)
        if deploy:
            model = ghost_deploy(model) if name in COUNTERPART else model.to(memory_format=torch.channels_last)
        info[name] = dict(params_m=bench.count_params(model) / 1e6, gmacs=bench.count_macs(model, x[:1]) / 1e9)
        cases[name] = bench.Case(model, x, context=lambda: autocast(dev, amp))
    timings = bench.time_cases(cases, timing)
    return [bench.result_row(name, base, timings, **info[name]) for name, base in baselines.items()]


def _model_config(arch: str, num_classes: int, width: float, head_channels: int) -> ModelConfig:
    """``arch``'s ``model`` section: the backbone width and head width where it has those keys."""
    values = {"num_classes": num_classes, "backbone": {"width": width}, "head_channels": head_channels}
    return convert_section(values, MODELS.options(arch), arch=arch)


def _benchmark_runtimes(
    baselines: dict[str, str],
    runtimes: tuple[str, ...],
    *,
    img_size: tuple[int, int],
    batch_size: int,
    width: float,
    head_channels: int,
    num_classes: int,
    timing: bench.TimingConfig,
) -> list[dict[str, Any]]:
    """Every model as a `SegmentationGraph` (no resize) in each runtime; the counterparts in eager too."""
    image = torch.randint(0, 256, (batch_size, 3, *img_size), dtype=torch.uint8)
    graphs, asked = {}, {}
    for name, base in baselines.items():
        cfg = _model_config(name, num_classes, width, head_channels)
        model = build_model(cfg).eval()
        graph = SegmentationGraph(model, base_size=0, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD).eval()
        info = dict(params_m=bench.count_params(model) / 1e6, gmacs=bench.count_macs(model, image[:1].float()) / 1e9)
        graphs[name] = rt.Graph(graph, image, info=info)
        asked[name] = runtimes if name != base else rt.with_baseline_eager(runtimes)
    timings, errors = rt.time_runtimes(graphs, asked, timing)
    entries = [(name, runtime, base) for name, base in baselines.items() for runtime in asked[name]]
    return rt.runtime_rows(entries, timings, errors, {name: g.info for name, g in graphs.items()})


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Command-line entry point (see the module docstring): print the table (or JSON) and return the rows.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).
    """
    p = argparse.ArgumentParser(
        prog="python -m segmentation.benchmark",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--models", nargs="+", default=list(COUNTERPART), help=f"ours to time, of {list(COUNTERPART)}")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--width", type=float, default=1.0, help="GhostNet width multiplier")
    p.add_argument("--head-channels", type=int, default=DeepLabV3Config.head_channels, help="ASPP / decoder width")
    p.add_argument("--num-classes", type=int, default=21, help="output classes")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for every model")
    p.add_argument(
        "--deploy",
        action="store_true",
        help="inference form: ours fused + channels-last (ghost_backbones.deploy), torchvision's channels-last",
    )
    p.add_argument(
        "--runtime",
        default="eager",
        help=f"comma-separated runtimes of {list(rt.runtime_names())} (default: eager, the models as built); beyond "
        "eager the whole exported graphs are timed, the counterparts in eager too",
    )
    bench.add_timing_args(p, TIMING, img_size="520")
    args = p.parse_args(argv)
    img_size = bench.parse_img_size(args.img_size)
    timing = bench.TimingConfig.from_args(args)
    runtimes = rt.parse_runtimes(args.runtime)
    settings = dict(models=args.models, deploy=args.deploy, channels_last=args.channels_last, amp=args.amp)
    settings.update(width=args.width, head_channels=args.head_channels, num_classes=args.num_classes)
    rows = benchmark(img_size=img_size, batch_size=args.batch_size, runtimes=runtimes, timing=timing, **settings)
    config = dict(img_size=list(img_size), batch_size=args.batch_size, **settings, **timing.describe())
    if runtimes != ("eager",):
        config["runtimes"] = list(runtimes)
        bench.report(rows, config, args.json, columns=rt.runtime_columns(timing.timer))
    else:
        bench.report(rows, config, args.json)
    return rows


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
