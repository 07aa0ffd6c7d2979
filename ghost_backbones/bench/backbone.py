"""The backbone benchmark: our GhostNets (unfused, fused, deploy form) beside timm's ghostnet_100 and MobileNetV3.

Every model gets the same input; the table (:mod:`ghost_backbones.bench.table`) gives each model's speed-up over
``--baseline`` (timm's ``ghostnet_100`` by default): baseline time / its time, above 1 is faster.

Examples::

    python -m ghost_backbones.bench                                   # batch 8 at 224x224, 2 CPU threads
    python -m ghost_backbones.bench --models ghostnet,ghostnet_100 --repeats 15 --threads 1
    python -m ghost_backbones.bench --device cuda --amp --channels-last --batch-size 256
    python -m ghost_backbones.bench --models ghostnet,ghostnetv3 --baseline mobilenetv3_large_100 --runtime eager,onnx

``--runtime`` (:mod:`ghost_backbones.bench.deploy_runtimes`) times each model in each runtime (the classifier, float
batch in, logits out), the baseline in eager too; each row has its speed-up over the baseline in eager and in the
same runtime.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ghost_backbones.engine import autocast
from ghost_backbones.export import GraphSpec

from . import deploy_runtimes as rt
from .harness import Case, TimingConfig, add_timing_args, time_cases
from .table import report, result_row
from .timing import count_macs, count_params, parse_img_size

__all__ = ["BASELINE", "DEFAULT_MODELS", "TIMING", "benchmark_models", "build_benchmark_model", "main", "parse_spec"]

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
#: Timing defaults of the backbone benchmark.
TIMING = TimingConfig(warmup=5, iters=20, repeats=3)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split and check a model spec: ``(timm name, option)``, the option one of ``''``, fused, deploy, concat, cl.

    Args:
        spec: ``NAME``, ``NAME:fused``, ``NAME:deploy``, ``NAME:concat`` or ``NAME:cl``.

    Examples::

        >>> parse_spec("ghostnet:deploy")
        ('ghostnet', 'deploy')
        >>> parse_spec("resnet9000")
        Traceback (most recent call last):
        ...
        ValueError: unknown model 'resnet9000' in 'resnet9000' (any timm model name, e.g. ghostnet, ghostnet_100)
    """
    import timm

    import ghost_backbones  # noqa: F401  (registers ghostnet, ghostnetv2, ghostnetv3 in timm)

    name, _, option = spec.partition(":")
    if option not in ("", "fused", "deploy", "concat", "cl"):
        raise ValueError(f"model spec must be NAME, NAME:fused, NAME:deploy, NAME:concat or NAME:cl, got {spec!r}")
    if name not in timm.list_models():
        raise ValueError(f"unknown model {name!r} in {spec!r} (any timm model name, e.g. ghostnet, ghostnet_100)")
    return name, option


def build_benchmark_model(spec: str, device: torch.device, channels_last: bool = False) -> tuple[nn.Module, nn.Module]:
    """Build ``spec`` in eval mode: a timm model name, suffixed ``:fused``, ``:deploy``, ``:concat``, ``:cl``.

    ``:fused`` applies ``timm.utils.reparameterize_model``; ``:deploy`` applies :func:`ghost_backbones.deploy`
    (fused, expansions split, channels-last weights); ``:concat`` is that deploy form with the Ghost bottlenecks'
    expansions concatenated as in training (``split_hidden=False``: what the split saves, measured; the ``--runtime``
    forms keep it too); ``:cl`` only converts the weights to channels-last (e.g. for timm's models).
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

    from ghost_backbones import deploy

    name, option = parse_spec(spec)
    unfused = timm.create_model(name).eval()
    if option in ("deploy", "concat"):
        model = deploy(unfused, split_hidden=option == "deploy")
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
    *,
    baseline: str = BASELINE,
    batch_size: int = 8,
    img_size: tuple[int, int] = (224, 224),
    amp: bool = False,
    channels_last: bool = False,
    runtimes: Sequence[str] = ("eager",),
    timing: TimingConfig | None = None,
) -> list[dict[str, Any]]:
    """Time every model on the same input in interleaved rounds; one row per spec (the baseline appended if missing)
    and runtime.

    Args:
        specs: model specs (see :func:`build_benchmark_model`).
        baseline: the spec every row is compared with.
        batch_size: images per forward.
        img_size: ``(H, W)``.
        amp: autocast (float16 on CUDA, bfloat16 on CPU).
        channels_last: channels-last weights and input.
        runtimes: of :func:`ghost_backbones.bench.deploy_runtimes.runtime_names`; beyond ``("eager",)`` in float32
            on NCHW input (no ``amp``, no ``channels_last``: the ``deploy`` runtime has channels-last weights), the
            baseline in eager too, rows of :func:`ghost_backbones.bench.deploy_runtimes.runtime_rows`.
        timing: device, threads, warmup, iters, repeats, timer (default: :data:`TIMING`).

    Returns:
        The rows of :mod:`ghost_backbones.bench.table`; ``params_m`` counts the unfused model, ``gmacs`` one image.

    Examples::

        >>> rows = benchmark_models(["ghostnet:fused"], baseline="ghostnet", batch_size=1, img_size=(64, 64),
        ...                         timing=TimingConfig(warmup=0, iters=1, repeats=1))
        >>> [(r["model"], r["baseline"]) for r in rows]
        [('ghostnet:fused', 'ghostnet'), ('ghostnet', 'ghostnet')]
    """
    timing = timing or TIMING
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    names = list(dict.fromkeys([*specs, baseline]))
    for spec in names:
        parse_spec(spec)
    dev = timing.torch_device
    runtimes = rt.parse_runtimes(runtimes)
    if runtimes != ("eager",):
        if amp or channels_last:
            raise ValueError("--runtime times float32 models on NCHW input: leave out --amp and --channels-last")
        x = torch.randn(batch_size, 3, *img_size)
        graphs, asked = {}, {}
        for spec in names:
            model, unfused = build_benchmark_model(spec, torch.device("cpu"))
            info = dict(params_m=count_params(unfused) / 1e6, gmacs=count_macs(model, x[:1]) / 1e9)
            graphs[spec] = rt.Graph(model, x, GraphSpec.network(["logits"]), info)
            asked[spec] = rt.with_baseline_eager(runtimes) if spec == baseline else runtimes
        timings, errors = rt.time_runtimes(graphs, asked, timing)
        entries = [(spec, runtime, baseline) for spec in names for runtime in asked[spec]]
        return rt.runtime_rows(entries, timings, errors, {spec: g.info for spec, g in graphs.items()})
    x = torch.randn(batch_size, 3, *img_size, device=dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    cases, info = {}, {}
    for spec in names:
        model, unfused = build_benchmark_model(spec, dev, channels_last)
        info[spec] = dict(params_m=count_params(unfused) / 1e6, gmacs=count_macs(model, x[:1]) / 1e9)
        cases[spec] = Case(model, x, context=lambda: autocast(dev, amp))
    timings = time_cases(cases, timing)
    return [result_row(spec, baseline, timings, **info[spec]) for spec in names]


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """CLI entry point: print the benchmark table (or JSON) and return its rows.

    Args:
        argv: command-line arguments (``None``: ``sys.argv``).

    Examples::

        >>> rows = main(["--models", "ghostnet", "--batch-size", "1", "--img-size", "64", "--iters", "1",
        ...              "--warmup", "0", "--repeats", "1", "--baseline", "ghostnet", "--json"])  # doctest: +ELLIPSIS
        {...}
    """
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
    parser.add_argument("--baseline", default=BASELINE, help="the spec the speed-ups are relative to (added if absent)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--channels-last", action="store_true", help="channels-last weights and input for every model")
    parser.add_argument(
        "--runtime",
        default="eager",
        help=f"comma-separated runtimes of {list(rt.runtime_names())} (default: eager); the baseline is timed in "
        "eager too",
    )
    add_timing_args(parser, TIMING, img_size="224")
    args = parser.parse_args(argv)
    specs = [s.strip() for s in args.models.split(",") if s.strip()]
    if not specs:
        raise ValueError("--models is empty")
    img_size = parse_img_size(args.img_size)
    timing = TimingConfig.from_args(args)
    rows = benchmark_models(
        specs,
        baseline=args.baseline,
        batch_size=args.batch_size,
        img_size=img_size,
        amp=args.amp,
        channels_last=args.channels_last,
        runtimes=rt.parse_runtimes(args.runtime),
        timing=timing,
    )
    config = dict(batch_size=args.batch_size, img_size=list(img_size), amp=args.amp, channels_last=args.channels_last)
    if rt.parse_runtimes(args.runtime) != ("eager",):
        config["runtimes"] = list(rt.parse_runtimes(args.runtime))
        report(rows, {**config, **timing.describe()}, args.json, columns=rt.runtime_columns(timing.timer))
    else:
        report(rows, {**config, **timing.describe()}, args.json)
    return rows


if __name__ == "__main__":
    main()
