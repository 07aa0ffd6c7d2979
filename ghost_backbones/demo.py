"""The demo runner both tasks share: synthetic data -> train from scratch -> evaluate -> draw -> compare.

A task's ``demo.py`` only describes itself (a `DemoSpec`: its task and config classes, the demo recipe in
``configs/``, how to write its synthetic data and draw predictions, its metric and torchvision baselines);
`run_demo` does the rest and prints the elapsed time of every stage. ``--compare`` trains each baseline with
exactly the same recipe, data and budget (``model.arch`` swapped) and writes ``comparison.json``; ``--arch``
picks which of the task's architectures is ours (each has its demo recipe).

Examples::

    python -m detection.demo --output-dir demo_output/detection --compare
    python -m segmentation.demo --output-dir demo_output/segmentation --opts train.epochs=10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bench import format_table
from .engine import Task, apply_overrides, fit, get_metric, load_config, read_jsonl, switch_variant
from .engine.outputs import free_name

__all__ = ["DemoSpec", "StageClock", "demo_main", "run_demo"]


@dataclass(frozen=True)
class DemoSpec:
    """What a task's demo is made of.

    Args:
        title: shown in ``--help`` and the summary (``"Faster R-CNN GhostNet-FPN"``).
        task_cls: the task (built from the recipe for every run).
        config_cls: the task's config dataclass.
        recipes: our architecture (``model.arch``) -> its demo recipe (YAML in ``configs/``); the first is the default.
        make_data: ``make_data(folder, num_train, num_val, image_size) -> dataset root`` (synthetic, real format).
        draw: ``draw(weights, root, folder) -> number of images drawn``: predictions of the trained model.
        metric: dotted metric of the evaluation results reported and compared (``"bbox.AP"``, ``"mIoU"``).
        baselines: our architecture -> registry names of the torchvision counterparts ``--compare`` trains.
        num_train, num_val, image_size: defaults of the synthetic data.
        extra_metrics: our architecture -> more dotted metrics the summary shows beside ``metric``
            (``{"mask_rcnn": ("segm.AP",)}``).
    """

    title: str
    task_cls: type[Task]
    config_cls: type
    recipes: Mapping[str, Path]
    make_data: Callable[[Path, int, int, int], Path]
    draw: Callable[[Path, Path, Path], int]
    metric: str
    baselines: Mapping[str, tuple[str, ...]]
    num_train: int
    num_val: int
    image_size: int
    extra_metrics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class StageClock:
    """Times named stages and prints ``[k/n] stage: ... s`` as each ends; ``seconds`` keeps the figures.

    Examples::

        >>> clock = StageClock(total=1)
        >>> with clock("data"):
        ...     pass  # doctest: +ELLIPSIS
        [1/1] data: 0.0 s
        >>> list(clock.seconds)
        ['data']
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 1)
        print(f"[{len(self.seconds)}/{self.total}] {name}: {self.seconds[name]:.1f} s", flush=True)


def _train(recipe: Path, spec: DemoSpec, root: Path, out: Path, overrides: Sequence[str], arch: str | None) -> dict:
    """Train one run; its seconds split into training epochs, evaluations and the rest (from its ``log.jsonl``).

    ``arch`` (a baseline) trains on the same recipe: the ``model`` keys it reads keep the recipe's values.
    """
    cfg = load_config(spec.config_cls, recipe, {"data.root": str(root), "train.output_dir": str(out)})
    cfg = apply_overrides(cfg, overrides)
    cfg = switch_variant(cfg, "model", arch) if arch else cfg
    start = time.perf_counter()
    metrics = fit(spec.task_cls(cfg))
    records = read_jsonl(out / "log.jsonl", deduplicate=True)
    return {
        "arch": cfg.model.arch,
        "metrics": metrics,
        "train_seconds": round(time.perf_counter() - start, 3),
        "epochs_seconds": round(sum(r["seconds"] for r in records if r["type"] == "epoch"), 3),
        "eval_seconds": round(sum(r.get("seconds", 0.0) for r in records if r["type"] == "eval"), 3),
    }


def _print_split(run: dict[str, Any]) -> None:
    rest = run["train_seconds"] - run["epochs_seconds"] - run["eval_seconds"]
    print(f"      training {run['epochs_seconds']:.1f} s, evaluation {run['eval_seconds']:.1f} s, "
          f"start-up, checkpoints and plots {rest:.1f} s", flush=True)  # fmt: skip


def _fresh_folder(folder: Path) -> Path:
    """``folder``, or the first free ``folder_2``, ``folder_3`` ... when it already holds something (kept as it is)."""
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return folder
    fresh = free_name(folder.parent, folder.name)
    print(f"note: {folder} holds an earlier run (kept); this demo writes to {fresh}", flush=True)
    return fresh


def run_demo(
    spec: DemoSpec,
    output_dir: str | Path,
    *,
    arch: str | None = None,
    num_train: int | None = None,
    num_val: int | None = None,
    image_size: int | None = None,
    overrides: Sequence[str] = (),
    compare: bool = False,
) -> dict[str, Any]:
    """Generate the data, train ours (and with ``compare`` every baseline), draw predictions, print a summary.

    Args:
        spec: the task's demo.
        arch: which of our architectures (a key of ``spec.recipes``; ``None``: the first).
        output_dir: everything goes below it (below ``output_dir_2`` ... when it holds something already):
            ``data/``, ``runs/<arch>/`` (checkpoints, ``log.jsonl``,
            ``metrics.json``), ``predictions/`` and ``comparison.json``.
        num_train, num_val, image_size: synthetic data (``None``: the spec's defaults).
        overrides: ``KEY=VALUE`` changes to the demo recipe, applied to every run.
        compare: also train the spec's baselines with the same recipe.

    Returns:
        ``{"runs": {name: {"arch", "metrics", "train_seconds", "epochs_seconds", "eval_seconds"}}, "stages": {stage:
        seconds}, "seconds": total}``.
    """
    arch = arch or next(iter(spec.recipes))
    if arch not in spec.recipes:
        raise ValueError(f"--arch must be one of {list(spec.recipes)}, got {arch!r}")
    recipe = spec.recipes[arch]
    if not recipe.is_file():
        raise FileNotFoundError(f"demo recipe not found: {recipe} (run from a source checkout)")
    out = _fresh_folder(Path(output_dir))
    sizes = (num_train or spec.num_train, num_val or spec.num_val, image_size or spec.image_size)
    baselines = spec.baselines.get(arch, ()) if compare else ()
    clock = StageClock(total=3 + len(baselines))
    start = time.perf_counter()
    with clock("synthetic data"):
        root = spec.make_data(out / "data", *sizes)
    runs: dict[str, dict[str, Any]] = {}
    with clock("train ours"):
        runs["ours"] = _train(recipe, spec, root, out / "runs" / "ours", overrides, None)
    _print_split(runs["ours"])
    with clock("draw predictions"):
        drawn = spec.draw(out / "runs" / "ours" / "best.pth", root, out / "predictions")
    for name in baselines:
        with clock(f"train {name}"):
            runs[name] = _train(recipe, spec, root, out / "runs" / name, overrides, name)
        _print_split(runs[name])
    result = {
        "runs": runs,
        "stages": clock.seconds,
        "seconds": round(time.perf_counter() - start, 1),
        "output_dir": str(out),
    }
    result["command"] = " ".join(["python -m", spec.task_cls.name + ".demo", *sys.argv[1:]])
    (out / "comparison.json").write_text(json.dumps(result, indent=1) + "\n")
    _print_summary(spec, recipe, out, root, sizes[0], runs, drawn, result["seconds"])
    return result


def _print_summary(
    spec: DemoSpec, recipe: Path, out: Path, root: Path, num_train: int, runs: dict, drawn: int, seconds: float
) -> None:
    metrics = (spec.metric, *spec.extra_metrics.get(runs["ours"]["arch"], ()))
    rows = [
        {"run": name, "arch": run["arch"], **{m: get_metric(run["metrics"], m) for m in metrics},
         "s": run["train_seconds"]}
        for name, run in runs.items()
    ]  # fmt: skip
    print(f"\n{runs['ours']['arch']} and its baselines from scratch on {num_train} synthetic images ({recipe.name}):")
    print(format_table(rows, [("run", "run", ""), ("arch", "model.arch", ""), *[(m, m, ".3f") for m in metrics],
                              ("s", "train s", ".0f")]))  # fmt: skip
    print(f"runs:        {out / 'runs'} (best.pth, checkpoint.pth, log.jsonl, metrics.json, plots/, tb/ per run)")
    print(f"predictions: {out / 'predictions'} ({drawn} drawn images)")
    print(f"comparison:  {out / 'comparison.json'}")
    print(f"data:        {root} (real on-disk format; train on it with --data-path {root})")
    print(f"done in {seconds:.0f} s")


def demo_main(spec: DemoSpec, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The demo command line of a task: ``--output-dir --num-train --num-val --image-size --compare --opts``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {spec.task_cls.name}.demo",
        description=f"{spec.title} from scratch on synthetic data, on the CPU: data, training, evaluation, drawings.",
    )
    parser.add_argument("--arch", default=next(iter(spec.recipes)), choices=list(spec.recipes), help="our model")
    parser.add_argument("--output-dir", default=f"demo_output/{spec.task_cls.name}", help="where everything goes")
    parser.add_argument("--num-train", type=int, default=spec.num_train, help="synthetic training images")
    parser.add_argument("--num-val", type=int, default=spec.num_val, help="synthetic validation images")
    parser.add_argument("--image-size", type=int, default=spec.image_size, help="side of the synthetic images")
    parser.add_argument("--compare", action="store_true", help="also train the torchvision counterparts of --arch")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE", help="override the demo recipe")
    args = parser.parse_args(argv)
    return run_demo(
        spec,
        args.output_dir,
        arch=args.arch,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        overrides=args.opts,
        compare=args.compare,
    )
