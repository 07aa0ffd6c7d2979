"""The detection demo: synthetic COCO data -> Faster R-CNN GhostNet-FPN from scratch on CPU -> COCO AP -> drawings.

``make demo`` runs ``python -m detection.demo --output-dir demo_output/detection``. It writes a small shapes dataset
in the real COCO layout (JPEG files + instances JSON), trains our default detector from scratch for a few CPU
minutes with the embedded recipe below, evaluates it with pycocotools, draws the predictions on validation images
and prints where everything is. ``--compare`` then trains torchvision's ``fasterrcnn_mobilenet_v3_large_fpn``
(from scratch too) on the same data with the same epochs, image size and schedule, and prints both APs.

Examples::

    python -m detection.demo --output-dir demo_output/detection
    python -m detection.demo --output-dir demo_output/detection --compare
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghost_backbones.data.images import list_images
from ghost_backbones.data.synthetic import make_shapes_coco
from ghost_backbones.engine import apply_overrides, fit, load_config, run_cli

from .config import DetectionConfig
from .predict import load_detector, predict_images
from .task import DetectionTask

__all__ = ["BASELINE", "DEMO_CONFIG", "main", "run_demo"]

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "faster_rcnn_ghostnet_fpn_demo.yaml"
BASELINE = "fasterrcnn_mobilenet_v3_large_fpn"


def _summary(metrics: dict[str, Any]) -> str:
    box = metrics["bbox"]
    return f"COCO AP {box['AP']:.3f}  AP50 {box['AP50']:.3f}  AP75 {box['AP75']:.3f}  AR100 {box['AR100']:.3f}"


def run_demo(
    output_dir: str | Path,
    *,
    num_train: int = 160,
    num_val: int = 40,
    image_size: int = 256,
    overrides: Sequence[str] = (),
    compare: bool = False,
    num_drawn: int = 8,
) -> dict[str, Any]:
    """Generate the data, train, evaluate, draw predictions (and with ``compare`` train the reference too).

    Args:
        output_dir: everything goes under it: ``data/``, ``train/`` (checkpoints, log.jsonl, metrics.json),
            ``predictions/`` and, with ``compare``, ``train_mobilenet_v3/`` and ``comparison.json``.
        num_train, num_val: synthetic images per split.
        image_size: side of the synthetic images.
        overrides: ``KEY=VALUE`` config overrides on top of the demo recipe (:data:`DEMO_CONFIG`).
        compare: also train torchvision's MobileNetV3-Large-FPN detector with the same recipe.
        num_drawn: validation images to draw predictions on.

    Returns:
        ``{"ghostnet_fpn": metrics, ["mobilenet_v3_large_fpn": metrics], "seconds": ...}``.

    Examples::

        >>> results = run_demo("demo_output/detection")  # doctest: +SKIP
        >>> results["ghostnet_fpn"]["bbox"]["AP"] > 0.3  # doctest: +SKIP
        True
    """
    start = time.time()
    out = Path(output_dir)
    root = make_shapes_coco(
        out / "data", num_train=num_train, num_val=num_val, image_size=image_size, seed=0, overwrite=True, progress=True
    )

    def recipe(run: str, *extra: str) -> DetectionConfig:
        cfg = load_config(DetectionConfig, DEMO_CONFIG, {"data.root": str(root), "train.output_dir": str(out / run)})
        return apply_overrides(cfg, [*overrides, *extra])

    results: dict[str, Any] = {"ghostnet_fpn": fit(DetectionTask(recipe("train")))}
    model, categories = load_detector(out / "train" / "best.pth")
    drawn = list_images(root / "val2017")[:num_drawn]
    predict_images(model, categories, drawn, out / "predictions", score_thresh=0.5)
    if compare:
        results["mobilenet_v3_large_fpn"] = fit(DetectionTask(recipe("train_mobilenet_v3", f"model.arch={BASELINE}")))
        (out / "comparison.json").write_text(json.dumps(results, indent=1))
    results["seconds"] = round(time.time() - start, 1)
    print(
        f"\nFaster R-CNN GhostNet-FPN from scratch on {num_train} synthetic images: {_summary(results['ghostnet_fpn'])}"
    )
    if compare:
        print(f"torchvision MobileNetV3-Large-FPN, same data and recipe: {_summary(results['mobilenet_v3_large_fpn'])}")
        print(f"comparison:  {out / 'comparison.json'}")
    print(f"checkpoints: {out / 'train'} (best.pth, checkpoint.pth), log: {out / 'train' / 'log.jsonl'}")
    print(f"metrics:     {out / 'train' / 'metrics.json'}")
    print(f"predictions: {out / 'predictions'} ({len(drawn)} drawn images + detections.json)")
    print(f"data:        {root} (COCO layout; try: python -m detection.train --data-path {root} ...)")
    print(f"done in {results['seconds']:.0f} s")
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line of the demo (see the module docstring).

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> main(["--output-dir", "demo_output/detection"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="python -m detection.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="demo_output/detection", help="where data and results go")
    parser.add_argument("--num-train", type=int, default=160, help="synthetic training images")
    parser.add_argument("--num-val", type=int, default=40, help="synthetic validation images")
    parser.add_argument("--image-size", type=int, default=256, help="side of the synthetic images")
    parser.add_argument("--compare", action="store_true", help="also train torchvision's MobileNetV3-Large-FPN")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE", help="override the demo recipe")
    args = parser.parse_args(argv)
    return run_demo(
        args.output_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        overrides=args.opts,
        compare=args.compare,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
