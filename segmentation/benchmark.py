"""Inference latency of our segmentation models against torchvision's MobileNetV3 ones, in one run.

``python -m segmentation.benchmark`` times, at 520x520 by default, DeepLabV3 / DeepLabV3+ / FCN / LR-ASPP on a
dilated GhostNet next to ``deeplabv3_mobilenet_v3_large`` and ``lraspp_mobilenet_v3_large`` (random weights,
21 classes, eval mode, no auxiliary head). Models are timed in interleaved rounds so a busy machine slows all
of them alike; the table reports each model's median over rounds, its fastest call (on a shared machine the
least disturbed one), and both relative to its MobileNetV3 counterpart (DeepLabV3 / DeepLabV3+ / FCN ->
``deeplabv3_mobilenet_v3_large``, LR-ASPP -> ``lraspp_mobilenet_v3_large``).

Examples::

    python -m segmentation.benchmark                      # CPU, 2 threads, 520x520
    python -m segmentation.benchmark --threads 1 --channels-last
    python -m segmentation.benchmark --device cuda --batch-size 8 --json runs/seg_bench.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ghost_backbones import deploy as ghost_deploy
from ghost_backbones.bench import (
    count_macs,
    count_params,
    format_table,
    measure_latency,
    parse_img_size,
    torch_threads,
)
from ghost_backbones.engine import BackboneConfig, resolve_device, run_cli

from .config import ModelConfig
from .models import build_model

__all__ = ["COUNTERPART", "benchmark", "main"]

#: Our model -> the torchvision model it is compared with.
COUNTERPART = {
    "deeplabv3": "deeplabv3_mobilenet_v3_large",
    "deeplabv3plus": "deeplabv3_mobilenet_v3_large",
    "fcn": "deeplabv3_mobilenet_v3_large",
    "lraspp": "lraspp_mobilenet_v3_large",
}


def benchmark(
    models: Sequence[str] = tuple(COUNTERPART),
    *,
    img_size: tuple[int, int] = (520, 520),
    batch_size: int = 1,
    width: float = 1.0,
    head_channels: int = ModelConfig.head_channels,
    num_classes: int = 21,
    device: str = "cpu",
    threads: int | None = 2,
    warmup: int = 3,
    iters: int = 10,
    rounds: int = 3,
    channels_last: bool = False,
    deploy: bool = False,
) -> list[dict[str, Any]]:
    """Time our ``models`` and their torchvision counterparts; one row per model.

    Args:
        models: ours to time (keys of `COUNTERPART`); their counterparts are added.
        img_size: input (H, W).
        batch_size: images per forward pass.
        width: GhostNet width multiplier.
        head_channels: ASPP / decoder width of DeepLabV3(+), LR-ASPP ``inter_channels``.
        num_classes: output classes.
        device: ``"cpu"``, ``"cuda"``, ...
        threads: CPU threads (``None``: torch's default).
        warmup: untimed calls per model before the first round.
        iters: timed calls per model and round.
        rounds: interleaved rounds; each model's latency is the median of its round medians.
        channels_last: run every model (and the input) in ``torch.channels_last`` memory format.
        deploy: inference form: ours through :func:`ghost_backbones.deploy` (norms folded, channels-last weights),
            torchvision's with channels-last weights (their fastest form without extra tooling); NCHW input.

    Returns:
        rows with ``model``, ``params_m``, ``gmacs``, ``median_ms`` (median of round medians), ``round_ms``,
        ``best_ms`` (fastest call: the least disturbed by other processes), and for ours ``vs``, ``ratio``
        (median over the counterpart's) and ``best_ratio``; with ``threads=1`` on CPU also ``cpu_ms`` (CPU time
        of the calling thread per call, median of round medians, immune to other processes) and ``cpu_ratio``.

    Examples::

        >>> rows = benchmark(["lraspp"], img_size=(128, 128), iters=2, rounds=1)  # doctest: +SKIP
        >>> [r["model"] for r in rows]  # doctest: +SKIP
        ['lraspp', 'lraspp_mobilenet_v3_large']
    """
    unknown = sorted(set(models) - set(COUNTERPART))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(COUNTERPART)}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    dev = resolve_device(device)
    single_thread = dev.type == "cpu" and threads == 1
    names = list(dict.fromkeys([*models, *(COUNTERPART[m] for m in models)]))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.rand(batch_size, 3, *img_size, device=dev).to(memory_format=memory_format)
    built: dict[str, torch.nn.Module] = {}
    rows: dict[str, dict[str, Any]] = {}
    with torch_threads(threads if dev.type == "cpu" else None):
        for name in names:
            cfg = ModelConfig(
                arch=name, num_classes=num_classes, backbone=BackboneConfig(width=width), head_channels=head_channels
            )
            model = build_model(cfg).eval().to(dev, memory_format=memory_format)
            if deploy:
                model = ghost_deploy(model) if name in COUNTERPART else model.to(memory_format=torch.channels_last)
            built[name] = model
            rows[name] = {
                "model": name,
                "params_m": count_params(model) / 1e6,
                "gmacs": count_macs(model, x[:1]) / 1e9,
                "round_ms": [],
                "best_ms": float("inf"),
                "cpu_round_ms": [],
            }
            measure_latency(model, x, warmup=warmup, iters=1)
        for _ in tqdm(range(rounds), desc="rounds", leave=False):
            for name in names:
                stats = measure_latency(built[name], x, warmup=0, iters=iters, batch_size=batch_size)
                rows[name]["round_ms"].append(stats["median_ms"])
                rows[name]["best_ms"] = min(rows[name]["best_ms"], stats["min_ms"])
                if single_thread:
                    # CPU time of the calling thread: with one intra-op thread, the model's compute alone,
                    # unaffected by other processes taking turns on the cores (wall-clock latency is not).
                    stats = measure_latency(built[name], x, warmup=0, iters=iters, timer=time.thread_time)
                    rows[name]["cpu_round_ms"].append(stats["median_ms"])
    for row in rows.values():
        row["median_ms"] = statistics.median(row["round_ms"])
        cpu_round_ms = row.pop("cpu_round_ms")
        if cpu_round_ms:
            row["cpu_ms"] = statistics.median(cpu_round_ms)
    for name in models:
        rows[name]["vs"] = COUNTERPART[name]
        rows[name]["ratio"] = rows[name]["median_ms"] / rows[COUNTERPART[name]]["median_ms"]
        rows[name]["best_ratio"] = rows[name]["best_ms"] / rows[COUNTERPART[name]]["best_ms"]
        if "cpu_ms" in rows[name]:
            rows[name]["cpu_ratio"] = rows[name]["cpu_ms"] / rows[COUNTERPART[name]]["cpu_ms"]
    return list(rows.values())


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Command-line entry point (see the module docstring); prints a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(COUNTERPART), choices=list(COUNTERPART), help="ours to time")
    p.add_argument("--img-size", default="520", help="input size, 520 or HxW")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--width", type=float, default=1.0, help="GhostNet width multiplier")
    p.add_argument("--head-channels", type=int, default=ModelConfig.head_channels, help="ASPP / decoder width")
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10, help="timed calls per model and round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for every model")
    p.add_argument(
        "--deploy",
        action="store_true",
        help="inference form: ours fused + channels-last (ghost_backbones.deploy), torchvision's channels-last",
    )
    p.add_argument("--json", help="also write the rows (and the machine) to this JSON file")
    args = p.parse_args(argv)
    rows = benchmark(
        args.models,
        img_size=parse_img_size(args.img_size),
        batch_size=args.batch_size,
        width=args.width,
        head_channels=args.head_channels,
        device=args.device,
        threads=args.threads,
        warmup=args.warmup,
        iters=args.iters,
        rounds=args.rounds,
        channels_last=args.channels_last,
        deploy=args.deploy,
    )
    columns = [
        ("model", "model", ""),
        ("params_m", "params (M)", ".2f"),
        ("gmacs", "GMACs", ".2f"),
        ("median_ms", "median (ms)", ".1f"),
        ("best_ms", "best (ms)", ".1f"),
        ("vs", "compared with", ""),
        ("ratio", "ratio", ".2f"),
        ("best_ratio", "ratio (best)", ".2f"),
    ]
    if args.threads == 1 and args.device == "cpu":
        columns += [("cpu_ms", "CPU (ms)", ".1f"), ("cpu_ratio", "ratio (CPU)", ".2f")]
    print(format_table(rows, columns))
    if args.json:
        machine = {"device": args.device, "threads": args.threads, "torch": torch.__version__}
        machine["cpu"] = platform.processor() or platform.machine()
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "machine": machine, "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
