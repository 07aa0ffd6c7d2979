"""Detection speed: Faster R-CNN GhostNet-FPN (our defaults) against torchvision's MobileNetV3-Large-FPN, or every
architecture against its torchvision counterpart.

Inference latency (one image) and one training step (SGD, synthetic boxes) at the same image size and number of
classes, timed by the shared harness (:mod:`ghost_backbones.bench`) with the models interleaved, so load from other
processes hits all alike. The table has the common columns (speed-up = baseline time / ours: above 1 is faster)
and the training step's ``train step`` median / best / speed-ups; training images/s = train batch x 1000 / median ms.

``--archs`` times inference only, a row per architecture of ours (``model.arch``, its COCO recipe's ``model``
section, random weights) and one per torchvision counterpart (``MODELS.counterparts()``), each pair at its recipe's
``min_size`` (square images: 800 for the FPN detectors, 320 for SSDLite) unless ``--img-size`` is given.

``--archs ... --runtime eager,deploy,compile,onnx,onnx-int8`` (:mod:`ghost_backbones.bench.deploy_runtimes`) times each
architecture in every runtime, its counterpart in eager too, each as ``detection.export`` writes it (a uint8 image
in; boxes in its pixels, category ids and scores after NMS out); each row has two speed-ups, over the counterpart in
eager and over the counterpart in the same runtime.

Examples::

    python -m detection.benchmark                      # 800x800, 91 classes, 2 CPU threads
    python -m detection.benchmark --device cuda --amp --train-batch 8
    python -m detection.benchmark --profile            # where a training step's time goes (torch.profiler)
    python -m detection.benchmark --archs all          # every architecture and its counterpart, inference
    python -m detection.benchmark --archs fcos --runtime eager,onnx,onnx-int8
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ghost_backbones.bench import (
    Case,
    TimingConfig,
    add_measure,
    add_timing_args,
    count_macs,
    count_params,
    parse_img_size,
    report,
    result_row,
    table_columns,
    time_cases,
)
from ghost_backbones.bench import deploy_runtimes as rt
from ghost_backbones.engine import apply_overrides, autocast, convert_section, run_cli

from .benchmark_archs import TIMING, arch_models, benchmark_architectures
from .config import model_config
from .models import MODELS, build_model

__all__ = [
    "arch_models",
    "benchmark_architectures",
    "benchmark_detectors",
    "build_models",
    "main",
    "profile_train_step",
]

OURS = "ghostnet_fpn (ours)"
OURS_FUSED = "ghostnet_fpn (ours, fused BN)"
REFERENCE = "mobilenet_v3_large_fpn (torchvision)"
#: The registry entry of the reference (``model.arch``).
BASELINE = "fasterrcnn_mobilenet_v3_large_fpn"
#: The extra measurement's prefix and label in the rows and the table.
TRAIN = {"train": "train step"}


def build_models(
    num_classes: int, size: int, *, fused: bool = True, overrides: Sequence[str] = ()
) -> dict[str, nn.Module]:
    """Our default detector (``model_config("faster_rcnn")``), optionally its BN-fused copy, and torchvision's.

    Both come from the registry (``model.arch``): ours as the config says, the reference as
    ``fasterrcnn_mobilenet_v3_large_fpn`` with torchvision's own settings.

    Args:
        num_classes: classes including the background.
        size: ``min_size`` and ``max_size`` of both (square inputs of this side are not resized).
        fused: add our detector with the backbone's conv+BN fused by ``timm.utils.reparameterize_model``.
        overrides: ``KEY=VALUE`` changes to our ``model`` section (e.g. ``fpn_channels=256``) for ablations.

    Examples::

        >>> sorted(build_models(4, 128, fused=False))
        ['ghostnet_fpn (ours)', 'mobilenet_v3_large_fpn (torchvision)']
    """
    cfg = apply_overrides(model_config("faster_rcnn", num_classes=num_classes, min_size=size, max_size=size), overrides)
    models = {OURS: build_model(cfg)}
    if fused:
        from timm.utils import reparameterize_model

        fused_model = build_model(cfg)
        fused_model.load_state_dict(models[OURS].state_dict())
        models[OURS_FUSED] = reparameterize_model(fused_model.eval())
    models[REFERENCE] = build_model(convert_section(cfg, MODELS.options(BASELINE), arch=BASELINE))
    return models


def _train_step_fn(model: nn.Module, device: torch.device, amp: bool) -> Callable[[Any], None]:
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")

    def step(batch: tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]) -> None:
        # measure_latency times under inference_mode; a training step needs autograd back.
        with torch.inference_mode(False), torch.enable_grad():
            with autocast(device, amp):
                loss = sum(model(*batch).values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    return step


def _synthetic_batch(batch: int, size: tuple[int, int], num_classes: int, device: torch.device) -> tuple[list, list]:
    g = torch.Generator().manual_seed(0)
    h, w = size
    images = [torch.rand(3, h, w, generator=g).to(device) for _ in range(batch)]
    targets = []
    for _ in range(batch):
        xy = torch.rand(4, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
        wh = (0.1 + 0.3 * torch.rand(4, 2, generator=g)) * torch.tensor([w, h])
        boxes = torch.cat([xy, xy + wh], dim=1)
        labels = torch.randint(1, num_classes, (4,), generator=g)
        targets.append({"boxes": boxes.to(device), "labels": labels.to(device)})
    return images, targets


# Operator groups of a training step, by substring of the profiler's op names (self CPU time).
PROFILE_GROUPS: dict[str, tuple[str, ...]] = {
    "RoIAlign (fwd + bwd)": ("roi_align",),
    "linear layers (addmm / mm)": ("aten::addmm", "aten::mm"),
    "convolutions (fwd + bwd)": ("convolution",),
}


def profile_train_step(
    model: nn.Module,
    batch: tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]],
    *,
    amp: bool = False,
    row_limit: int = 10,
) -> tuple[dict[str, float], str]:
    """Profile one training step (after one untimed step) with ``torch.profiler`` on the CPU.

    Args:
        model: a torchvision detection model in training mode.
        batch: ``(images, targets)``.
        amp: autocast as in the benchmark.
        row_limit: rows of the returned table.

    Returns:
        the share of the step's self CPU time taken by each of :data:`PROFILE_GROUPS` (plus ``"total_ms"``), and
        the profiler's table of the most expensive operators.

    Examples::

        >>> model = build_models(4, 128, fused=False)[OURS].train()
        >>> shares, table = profile_train_step(model, _synthetic_batch(1, (128, 128), 4, torch.device("cpu")))
        >>> 0 < shares["RoIAlign (fwd + bwd)"] < 1
        True
    """
    from torch.profiler import ProfilerActivity, profile

    device = next(model.parameters()).device
    step = _train_step_fn(model, device, amp)
    step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(batch)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares = {
        group: sum(e.self_cpu_time_total for e in events if any(k in e.key for k in keys)) / total
        for group, keys in PROFILE_GROUPS.items()
    }
    shares["total_ms"] = total / 1000.0
    return shares, events.table(sort_by="self_cpu_time_total", row_limit=row_limit)


def benchmark_detectors(
    *,
    img_size: tuple[int, int] = (800, 800),
    num_classes: int = 91,
    train_batch: int = 2,
    amp: bool = False,
    fused: bool = True,
    overrides: Sequence[str] = (),
    timing: TimingConfig | None = None,
) -> list[dict[str, Any]]:
    """Inference latency and training step time of our detector and torchvision's MobileNetV3-FPN.

    Every round times each model's inference, then its training step (models interleaved). Both models are
    untrained, so the RPN keeps its full proposal budget: a worst case for both.

    Args:
        img_size: ``(H, W)`` of the synthetic images, square (both models keep that size).
        num_classes: classes including the background (91 = torchvision's COCO heads).
        train_batch: images per training step.
        amp: autocast (float16 + GradScaler on CUDA, bfloat16 on CPU).
        fused: also time our detector with the backbone's BN fused (inference only).
        overrides: ``KEY=VALUE`` changes to our model's config (see :func:`build_models`).
        timing: device, threads, warmup, iters, repeats, timer (default: :data:`TIMING`).

    Returns:
        The rows of :mod:`ghost_backbones.bench.table` (baseline: the reference; ``gmacs``: one image's
        convolutions and matrix products, RoIAlign not counted) plus ``train_median_ms``, ``train_best_ms``,
        ``train_speedup``, ``train_best_speedup`` (``None`` for the fused model, which is not trained).

    Examples::

        >>> rows = benchmark_detectors(img_size=(96, 96), num_classes=4, fused=False,
        ...                            timing=TimingConfig(warmup=0, iters=1, repeats=1))
        >>> [(r["model"], r["speedup"] is not None, r["train_speedup"] is not None) for r in rows]
        [('ghostnet_fpn (ours)', True, True), ('mobilenet_v3_large_fpn (torchvision)', True, True)]
    """
    timing = timing or TIMING
    if train_batch < 1:
        raise ValueError(f"train_batch must be >= 1, got {train_batch}")
    if img_size[0] != img_size[1]:
        raise ValueError(f"use a square image size (both models resize to min_size = max_size), got {img_size}")
    dev = timing.torch_device
    models = {
        name: m.to(dev) for name, m in build_models(num_classes, img_size[0], fused=fused, overrides=overrides).items()
    }
    image = [torch.rand(3, *img_size).to(dev)]
    batch = _synthetic_batch(train_batch, img_size, num_classes, dev)
    cases: dict[str, Case] = {}
    for name, model in models.items():
        cases[name] = Case(model, image, prepare=model.eval, context=lambda: autocast(dev, amp))
        if name != OURS_FUSED:
            cases[f"{name}/train"] = Case(_train_step_fn(model, dev, amp), batch, prepare=model.train)
    info = {
        name: dict(params_m=count_params(m) / 1e6, gmacs=count_macs(m.eval(), image) / 1e9)
        for name, m in models.items()
    }
    timings = time_cases(cases, timing)
    rows = []
    for name in models:
        row = result_row(name, REFERENCE, timings, **info[name])
        add_measure(row, "train", timings.get(f"{name}/train"), timings[f"{REFERENCE}/train"])
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Command line: print the table (or ``--json``) and return the rows.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> rows = main(["--img-size", "96", "--num-classes", "4", "--iters", "1", "--warmup", "0",
        ...              "--repeats", "1", "--no-fused", "--json"])  # doctest: +ELLIPSIS
        {...}
    """
    parser = argparse.ArgumentParser(prog="python -m detection.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-classes", type=int, default=91, help="classes including the background")
    parser.add_argument("--train-batch", type=int, default=2, help="images per training step")
    parser.add_argument("--no-fused", action="store_true", help="skip the BN-fused variant of ours")
    parser.add_argument(
        "--opts", nargs="+", default=[], metavar="KEY=VALUE", help="change our model's config, e.g. fpn_channels=256"
    )
    parser.add_argument("--profile", action="store_true", help="profile one training step of each model instead")
    parser.add_argument(
        "--archs",
        nargs="+",
        choices=[*MODELS.counterparts(), "all"],
        help="time inference of these architectures of ours (all: every one) and their torchvision counterparts, "
        "each at its COCO recipe's min_size unless --img-size is given",
    )
    parser.add_argument(
        "--runtime",
        default="eager",
        help=f"with --archs: comma-separated runtimes of {list(rt.runtime_names())} (default: eager, the models as "
        "built); beyond eager the whole exported graphs are timed, the counterparts in eager too",
    )
    add_timing_args(parser, TIMING, img_size="800")
    parser.set_defaults(img_size=None)  # 800, or with --archs each recipe's min_size
    args = parser.parse_args(argv)
    timing = TimingConfig.from_args(args)
    if rt.parse_runtimes(args.runtime) != ("eager",) and not args.archs:
        raise ValueError(f"--runtime {args.runtime} needs --archs (e.g. --archs all): it times inference only")
    if args.archs:
        return _report_architectures(args, timing)
    size = parse_img_size(args.img_size or "800")
    setup = dict(img_size=list(size), num_classes=args.num_classes, train_batch=args.train_batch, amp=args.amp)
    setup.update(opts=" ".join(args.opts) or None, **timing.describe())
    if args.profile:
        return _print_profiles(size, args, timing, setup)
    rows = benchmark_detectors(
        img_size=size,
        num_classes=args.num_classes,
        train_batch=args.train_batch,
        amp=args.amp,
        fused=not args.no_fused,
        overrides=args.opts,
        timing=timing,
    )
    report(rows, setup, args.json, columns=table_columns(TRAIN, timing.timer))
    return rows


def _report_architectures(args: argparse.Namespace, timing: TimingConfig) -> list[dict[str, Any]]:
    archs = list(MODELS.counterparts()) if "all" in args.archs else args.archs
    size = None
    if args.img_size:
        height, width = parse_img_size(args.img_size)
        if height != width:
            raise ValueError(f"use a square image size (the models resize to min_size = max_size), got {args.img_size}")
        size = height
    runtimes = rt.parse_runtimes(args.runtime)
    rows = benchmark_architectures(
        archs, num_classes=args.num_classes, size=size, amp=args.amp, runtimes=runtimes, timing=timing
    )
    setup = dict(archs=archs, img_size=size or "recipe min_size", num_classes=args.num_classes, amp=args.amp)
    first = [("arch", "arch", ""), ("img_size", "input", "")]
    if runtimes != ("eager",):
        setup["runtimes"] = list(runtimes)
        columns = rt.runtime_columns(timing.timer, first)
    else:
        columns = [*first, *table_columns(timer=timing.timer)]
    report(rows, {**setup, **timing.describe()}, args.json, columns=columns)
    return rows


def _print_profiles(
    size: tuple[int, int], args: argparse.Namespace, timing: TimingConfig, setup: dict[str, Any]
) -> list[dict[str, Any]]:
    dev = timing.torch_device
    rows = []
    with timing.threads_context():
        batch = _synthetic_batch(args.train_batch, size, args.num_classes, dev)
        for name, model in build_models(args.num_classes, size[0], fused=False, overrides=args.opts).items():
            shares, table = profile_train_step(model.to(dev).train(), batch, amp=args.amp)
            rows.append({"model": name, **shares})
            if args.json != "-":
                print(f"{name}: one training step, batch {args.train_batch}, {size[0]}x{size[1]}\n{table}")
    columns = [("model", "model", ""), ("total_ms", "profiled self CPU ms", ".0f")]
    report(rows, setup, args.json, columns=columns + [(g, g, ".0%") for g in PROFILE_GROUPS])
    return rows


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
