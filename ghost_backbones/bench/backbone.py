"""The backbone benchmark: our GhostNets (unfused, fused, deploy form) beside timm's ghostnet_100 and MobileNetV3.

Run ``python -m ghost_backbones.bench --help``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from .timing import count_macs, count_params, format_table, measure_latency, parse_img_size, torch_threads

__all__ = ["BASELINE", "DEFAULT_MODELS", "benchmark_models", "build_benchmark_model", "main"]

DEFAULT_MODELS = (
    "ghostnet",
    "ghostnet:fused",
    "ghostnet:deploy",
    "ghostnetv2",
    "ghostnetv2:fused",
    "ghostnetv2:deploy",
    "ghostnetv3",
    "ghostnetv3:fused",
    "ghostnetv3:deploy",
    "ghostnet_100",
    "ghostnet_100:cl",
    "ghostnetv3_100",
    "mobilenetv3_large_100",
    "mobilenetv3_large_100:cl",
)
BASELINE = "ghostnet_100"


def build_benchmark_model(spec: str, device: torch.device, channels_last: bool = False) -> tuple[nn.Module, nn.Module]:
    """Build ``spec`` in eval mode: a timm model name, optionally suffixed ``:fused``, ``:deploy`` or ``:cl``.

    ``:fused`` applies ``timm.utils.reparameterize_model``; ``:deploy`` applies :func:`ghost_backbones.deploy`
    (fused and channels-last weights); ``:cl`` only converts the weights to channels-last (e.g. for timm's models).
    The input stays NCHW unless ``channels_last``.

    Args:
        spec: e.g. ``'ghostnet'``, ``'ghostnetv3:fused'``, ``'ghostnet:deploy'``, ``'mobilenetv3_large_100'``.
        device: where to put the model.
        channels_last: convert the weights to channels-last memory format.

    Returns:
        ``(model to time, unfused model)``; the second is for parameter counts.

    Examples::

        >>> model, unfused = build_benchmark_model("ghostnetv3:fused", torch.device("cpu"))
        >>> count_params(model) < count_params(unfused)
        True
    """
    import timm
    from timm.utils import reparameterize_model

    from ghost_backbones import deploy  # also registers ghostnet, ghostnetv2, ghostnetv3

    name, _, option = spec.partition(":")
    if option not in ("", "fused", "deploy", "cl"):
        raise ValueError(f"model spec must be NAME, NAME:fused, NAME:deploy or NAME:cl, got {spec!r}")
    if name not in timm.list_models():
        raise ValueError(f"unknown model {name!r} in {spec!r} (any timm model name, e.g. ghostnet, ghostnet_100)")
    unfused = timm.create_model(name).eval()
    if option == "deploy":
        model = deploy(unfused)
    elif option == "fused":
        model = reparameterize_model(unfused)
    else:
        model = unfused.to(memory_format=torch.channels_last) if option == "cl" else unfused
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, unfused


def benchmark_models(
    specs: Sequence[str],
    batch_size: int = 8,
    img_size: tuple[int, int] = (224, 224),
    device: str = "cpu",
    threads: int | None = 2,
    warmup: int = 5,
    iters: int = 20,
    repeats: int = 3,
    amp: bool = False,
    channels_last: bool = False,
    timer: str = "wall",
) -> list[dict[str, Any]]:
    """Time every model on the same input, interleaving them over ``repeats`` rounds.

    Each round times every model once (``warmup`` + ``iters`` calls); a model's latency is the median of its round
    medians, so a burst of load from other processes hits all models alike.

    Args:
        specs: model specs (see :func:`build_benchmark_model`).
        batch_size: images per forward.
        img_size: ``(H, W)``.
        device: ``'cpu'`` or ``'cuda'``.
        threads: ``torch.set_num_threads`` during the run (``None``: unchanged).
        warmup: untimed calls per round.
        iters: timed calls per round.
        repeats: rounds.
        amp: autocast (float16 on CUDA, bfloat16 on CPU).
        channels_last: channels-last weights and input.
        timer: ``'wall'`` (latency) or ``'cpu'`` (CPU time of the process, summed over its threads).

    Returns:
        One dict per spec: model, params_m, gmacs (per image), median_ms, best_ms (fastest call: on a shared machine
        the least disturbed one), images_per_s, and ``speedup_vs_timm`` / ``best_speedup_vs_timm`` (timm's
        ghostnet_100 time over this one, from medians / fastest calls) when ghostnet_100 is in ``specs``.

    Examples::

        >>> rows = benchmark_models(["ghostnet", "ghostnet:fused"], batch_size=1, img_size=(64, 64), warmup=1,
        ...                         iters=2, repeats=1)
        >>> [r["model"] for r in rows]
        ['ghostnet', 'ghostnet:fused']
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    if timer not in clocks:
        raise ValueError(f"timer must be one of {sorted(clocks)}, got {timer!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but torch.cuda.is_available() is False")
    x = torch.randn(batch_size, 3, *img_size, device=dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    amp_ctx = (
        partial(torch.autocast, device_type=dev.type, dtype=torch.float16 if dev.type == "cuda" else torch.bfloat16)
        if amp
        else contextlib.nullcontext
    )
    rows: list[dict[str, Any]] = []
    models: list[nn.Module] = []
    with torch_threads(threads):
        for spec in specs:
            model, unfused = build_benchmark_model(spec, dev, channels_last)
            macs = count_macs(model, x[:1])
            rows.append(dict(model=spec, params_m=count_params(unfused) / 1e6, gmacs=macs / 1e9))
            models.append(model)
        round_medians: list[list[float]] = [[] for _ in specs]
        best = [float("inf")] * len(specs)
        bar = tqdm(total=repeats * len(specs), desc="benchmark", leave=False)
        for _ in range(repeats):
            for i, model in enumerate(models):
                with amp_ctx():
                    stats = measure_latency(model, x, warmup=warmup, iters=iters, timer=clocks[timer])
                round_medians[i].append(stats["median_ms"])
                best[i] = min(best[i], stats["min_ms"])
                bar.update()
        bar.close()
    for row, medians, fastest in zip(rows, round_medians, best):
        row["median_ms"] = statistics.median(medians)
        row["best_ms"] = fastest
        row["images_per_s"] = batch_size * 1000.0 / row["median_ms"]
    baseline = next((r for r in rows if r["model"] == BASELINE), None)
    for row in rows:
        row["speedup_vs_timm"] = baseline["median_ms"] / row["median_ms"] if baseline else None
        row["best_speedup_vs_timm"] = baseline["best_ms"] / row["best_ms"] if baseline else None
    return rows


def _parse_args(argv: Sequence[str] | None) -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ghost_backbones.bench",
        description="Latency of our GhostNets (unfused and fused) next to timm's ghostnet_100, ghostnetv3_100 and "
        "mobilenetv3_large_100, on the same input in the same run.",
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated timm names; NAME:fused (reparameterize_model), NAME:deploy (fused + channels-last), "
        "NAME:cl (channels-last weights only)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--img-size", default="224", help="224 or HxW, e.g. 800x800")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    parser.add_argument("--iters", type=int, default=20, help="timed calls per model per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per model per round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; latency = median of round medians")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--amp", action="store_true", help="autocast: float16 on CUDA, bfloat16 on CPU")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--timer",
        default="wall",
        choices=("wall", "cpu"),
        help="wall: latency (default); cpu: CPU time of this process over all its threads, robust when other jobs "
        "share the cores (run with OMP_WAIT_POLICY=PASSIVE so that waiting threads do not spin)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """CLI entry point: print the benchmark table (or JSON) and return its rows.

    Args:
        argv: command-line arguments (``None``: ``sys.argv``).

    Examples::

        >>> rows = main(["--models", "ghostnet", "--batch-size", "1", "--img-size", "64", "--iters", "1",
        ...              "--warmup", "0", "--repeats", "1", "--json"])  # doctest: +ELLIPSIS
        {...}
    """
    import json

    args = _parse_args(argv)
    specs = [s.strip() for s in args.models.split(",") if s.strip()]
    if not specs:
        raise ValueError("--models is empty")
    img_size = parse_img_size(args.img_size)
    rows = benchmark_models(
        specs,
        batch_size=args.batch_size,
        img_size=img_size,
        device=args.device,
        threads=args.threads,
        warmup=args.warmup,
        iters=args.iters,
        repeats=args.repeats,
        amp=args.amp,
        channels_last=args.channels_last,
        timer=args.timer,
    )
    config = dict(
        batch_size=args.batch_size,
        img_size=list(img_size),
        device=args.device,
        threads=args.threads,
        amp=args.amp,
        channels_last=args.channels_last,
        iters=args.iters,
        warmup=args.warmup,
        repeats=args.repeats,
        timer=args.timer,
        torch=torch.__version__,
    )
    if args.json:
        print(json.dumps(dict(config=config, results=rows), indent=2))
    else:
        print(
            f"batch {args.batch_size} at {img_size[0]}x{img_size[1]}, {args.device}, threads={args.threads}, "
            f"amp={args.amp}, channels_last={args.channels_last}, timer={args.timer}, torch {torch.__version__}"
        )
        print(
            format_table(
                rows,
                [
                    ("model", "model", ""),
                    ("params_m", "params (M)", ".2f"),
                    ("gmacs", "GMACs", ".3f"),
                    ("median_ms", "median ms" if args.timer == "wall" else "median CPU ms", ".1f"),
                    ("best_ms", "best ms" if args.timer == "wall" else "best CPU ms", ".1f"),
                    ("images_per_s", "images/s", ".1f"),
                    ("speedup_vs_timm", f"speed vs {BASELINE}", ".2f"),
                    ("best_speedup_vs_timm", "(best)", ".2f"),
                ],
            )
        )
    return rows


if __name__ == "__main__":
    main()
