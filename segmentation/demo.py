"""End-to-end segmentation demo on CPU: ``python -m segmentation.demo --output-dir DIR [--compare]``.

Writes the synthetic shapes dataset in VOC layout, trains DeepLabV3-GhostNet from scratch with
``configs/deeplabv3_ghostnet_demo.yaml``, evaluates it (mIoU at the original resolution), writes prediction
masks and overlays for validation images, and prints where everything is. ``--compare`` then trains
torchvision's ``deeplabv3_mobilenet_v3_large`` (random init) with exactly the same recipe and budget and
prints both mIoUs side by side (also saved as ``DIR/compare.json``).

Examples::

    python -m segmentation.demo --output-dir demo_output/segmentation
    python -m segmentation.demo --output-dir demo_output/segmentation --compare
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghost_backbones.bench import format_table, torch_threads
from ghost_backbones.data.synthetic import make_shapes_voc
from ghost_backbones.engine import fit, load_config, run_cli
from ghost_backbones.engine.config import parse_override

from .config import SegmentationConfig
from .data.voc import VOCSegmentation
from .predict import predict_paths
from .task import SegmentationTask, load_segmenter

__all__ = ["DEMO_CONFIG", "BASELINE", "train_demo_model", "run_demo", "main"]

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "deeplabv3_ghostnet_demo.yaml"
BASELINE = "deeplabv3_mobilenet_v3_large"


def train_demo_model(
    root: Path, output_dir: Path, config: Path = DEMO_CONFIG, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train and evaluate the demo recipe on the dataset at ``root``; returns the metrics plus ``train_seconds``.

    Args:
        root: folder holding ``VOCdevkit/VOC2012``.
        output_dir: the run's output folder (checkpoints, log, metrics).
        config: the recipe YAML.
        overrides: extra dotted overrides (e.g. ``{"model.name": "deeplabv3_mobilenet_v3_large"}``).

    Examples::

        >>> train_demo_model(Path("demo/data"), Path("demo/deeplabv3_ghostnet"))["mIoU"]  # doctest: +SKIP
        83.1
    """
    cfg = load_config(
        SegmentationConfig, config, {"data.root": str(root), "train.output_dir": str(output_dir), **(overrides or {})}
    )
    start = time.perf_counter()
    metrics = fit(SegmentationTask(cfg))
    return {**metrics, "train_seconds": time.perf_counter() - start}


def run_demo(
    output_dir: str | Path,
    *,
    compare: bool = False,
    threads: int | None = 2,
    num_train: int = 160,
    num_val: int = 32,
    image_size: int = 128,
    config: str | Path = DEMO_CONFIG,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Generate data, train, evaluate and predict (and optionally train the torchvision baseline).

    Args:
        output_dir: everything goes below it (``data/``, ``deeplabv3_ghostnet/``, ``predictions/``).
        compare: also train ``deeplabv3_mobilenet_v3_large`` with the same recipe.
        threads: torch intra-op threads (``None`` leaves torch's default).
        num_train: synthetic training images.
        num_val: synthetic validation images.
        image_size: side of the synthetic images.
        config: the recipe YAML.
        overrides: dotted overrides applied to every run (e.g. ``{"train.epochs": 2}``).

    Returns:
        ``{"ours": metrics[, "baseline": metrics], "predictions": folder}``.

    Examples::

        >>> run_demo("demo_output/segmentation", overrides={"train.epochs": 1})["ours"]["mIoU"]  # doctest: +SKIP
    """
    out = Path(output_dir)
    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(f"demo recipe not found: {config} (run from a source checkout)")
    with torch_threads(threads):
        root = make_shapes_voc(
            out / "data", num_train=num_train, num_val=num_val, image_size=image_size, seed=0, overwrite=True
        )
        print(f"[1/3] synthetic VOC data ({num_train} train / {num_val} val): {root}", flush=True)
        ours_dir = out / "deeplabv3_ghostnet"
        result: dict[str, Any] = {"ours": train_demo_model(root, ours_dir, config, overrides)}
        print(f"[2/3] DeepLabV3-GhostNet: mIoU {result['ours']['mIoU']:.1f} (metrics: {ours_dir / 'metrics.json'})")
        model, cfg = load_segmenter(ours_dir / "best.pth")
        val = VOCSegmentation(root, cfg.data.val_split, num_classes=cfg.model.num_classes)
        images = [image for image, _ in val.samples[:8]]
        result["predictions"] = str(out / "predictions")
        predict_paths(model, images, out / "predictions", cfg.data.base_size)
        print(f"[3/3] masks and overlays of {len(images)} validation images: {out / 'predictions'}")
        if compare:
            base_dir = out / BASELINE
            result["baseline"] = train_demo_model(root, base_dir, config, {**(overrides or {}), "model.arch": BASELINE})
            rows = [
                {"model": "deeplabv3 (GhostNet, ours)", **result["ours"]},
                {"model": f"{BASELINE} (torchvision)", **result["baseline"]},
            ]
            columns = [("model", "model", ""), ("mIoU", "mIoU", ".1f"), ("pixel_acc", "pixel acc", ".1f")]
            columns.append(("train_seconds", "train s", ".0f"))
            table = format_table(rows, columns)
            command = "python -m segmentation.demo --compare " + " ".join(sys.argv[1:])
            (out / "compare.json").write_text(json.dumps({**result, "command": command.strip()}, indent=2) + "\n")
            print(f"same recipe, same budget ({config.name}):\n{table}\nsaved: {out / 'compare.json'}")
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--output-dir", default="demo_output/segmentation", help="where data, runs and predictions go")
    p.add_argument("--compare", action="store_true", help=f"also train torchvision's {BASELINE} with the same budget")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--config", default=str(DEMO_CONFIG), help="recipe YAML")
    p.add_argument("--num-train", type=int, default=160, help="synthetic training images")
    p.add_argument("--num-val", type=int, default=32, help="synthetic validation images")
    p.add_argument("--image-size", type=int, default=128, help="side of the synthetic images")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.epochs=2")
    args = p.parse_args(argv)
    overrides = dict(parse_override(o) for o in args.opts)
    result = run_demo(
        args.output_dir,
        compare=args.compare,
        threads=args.threads,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        config=args.config,
        overrides=overrides,
    )
    print(f"done: results in {Path(args.output_dir).resolve()}")
    return result


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
