"""The detection demo: synthetic COCO data -> our detector from scratch on the CPU -> COCO AP -> drawings.

``make demo`` runs ``python -m detection.demo --output-dir demo_output/detection``: it writes a small shapes dataset
in the real COCO layout (JPEG files + instances JSON), trains Faster R-CNN GhostNet-FPN from scratch with the recipe
``configs/faster_rcnn_ghostnet_fpn_demo.yaml``, evaluates it with pycocotools, draws the predictions on validation
images and prints where everything is. ``--compare`` also trains torchvision's
``fasterrcnn_mobilenet_v3_large_fpn`` (from scratch too) with the same data, budget and schedule. ``--arch`` picks
another of ours (each with its ``*_demo.yaml``); ``--arch mask_rcnn`` also reports the mask AP (``segm.AP``).

Examples::

    python -m detection.demo --output-dir demo_output/detection
    python -m detection.demo --output-dir demo_output/detection --compare
    python -m detection.demo --arch mask_rcnn --output-dir demo_output/mask_rcnn --compare
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghost_backbones.data import list_images
from ghost_backbones.data.synthetic import make_shapes_coco
from ghost_backbones.demo import DemoSpec, demo_main
from ghost_backbones.engine import run_cli

from .config import DetectionConfig
from .models import MODELS
from .predict import predict_images
from .task import DetectionTask
from .trained import load_detector

__all__ = ["SPEC", "main"]

NUM_DRAWN = 8
#: Ours, ``make demo``'s first; each brings its demo recipe, counterpart and extra metrics from its registry entry.
ARCHS = ("faster_rcnn", *(a for a in MODELS.names(baselines=False) if a != "faster_rcnn" and MODELS.entry(a).recipe))


def _data(folder: Path, num_train: int, num_val: int, image_size: int) -> Path:
    return make_shapes_coco(
        folder, num_train=num_train, num_val=num_val, image_size=image_size, seed=0, overwrite=True, progress=True
    )


def _draw(weights: Path, root: Path, folder: Path) -> int:
    model, categories = load_detector(weights)
    images = list_images(root / "val2017")[:NUM_DRAWN]
    predict_images(model, categories, images, folder, score_thresh=0.5)
    return len(images)


SPEC = DemoSpec(
    title="GhostNet detectors",
    task_cls=DetectionTask,
    config_cls=DetectionConfig,
    recipes={arch: MODELS.recipe(arch) for arch in ARCHS},
    make_data=_data,
    draw=_draw,
    metric="bbox.AP",
    baselines={arch: MODELS.entry(arch).compared_with for arch in ARCHS},
    num_train=160,
    num_val=40,
    image_size=256,
    extra_metrics={arch: MODELS.entry(arch).demo_metrics for arch in ARCHS},
)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m detection.demo [--arch ARCH] [--compare] ...``: :func:`ghost_backbones.demo.demo_main`."""
    return demo_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(run_cli(main))
