"""The segmentation demo: synthetic VOC data -> a GhostNet segmenter from scratch on the CPU -> mIoU -> masks.

``make demo`` runs ``python -m segmentation.demo --output-dir demo_output/segmentation``: it writes the synthetic
shapes dataset in the VOC layout, trains DeepLabV3-GhostNet from scratch with ``configs/deeplabv3_ghostnet_demo.yaml``,
evaluates it (mIoU at the original resolution), writes prediction masks and overlays of validation images and prints
where everything is. ``--arch`` picks another of our heads (``deeplabv3plus``, ``fcn``, ``lraspp``: their
``configs/<arch>_ghostnet_demo.yaml``, the same from-scratch recipe). ``--compare`` also trains torchvision's
``deeplabv3_mobilenet_v3_large`` and ``lraspp_mobilenet_v3_large`` (random init) with exactly the same recipe and
budget, whichever head is ours.

Examples::

    python -m segmentation.demo --output-dir demo_output/segmentation
    python -m segmentation.demo --output-dir demo_output/segmentation --arch lraspp --compare
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghost_backbones.data.synthetic import make_shapes_voc
from ghost_backbones.demo import DemoSpec, demo_main
from ghost_backbones.engine import run_cli

from .config import SegmentationConfig
from .data.voc import VOCSegmentation
from .models import MODELS
from .predict import predict_paths
from .task import SegmentationTask, load_segmenter

__all__ = ["SPEC", "main"]

NUM_DRAWN = 8
#: Our heads, each with its demo recipe, baselines and metrics from its registry entry (the first is the default).
ARCHS = tuple(arch for arch in MODELS.names(baselines=False) if MODELS.entry(arch).recipe)


def _data(folder: Path, num_train: int, num_val: int, image_size: int) -> Path:
    return make_shapes_voc(
        folder, num_train=num_train, num_val=num_val, image_size=image_size, seed=0, overwrite=True, progress=True
    )


def _draw(weights: Path, root: Path, folder: Path) -> int:
    model, cfg = load_segmenter(weights)
    val = VOCSegmentation(root, cfg.data.val_split, num_classes=cfg.model.num_classes)
    images = [image for image, _ in val.samples[:NUM_DRAWN]]
    predict_paths(model, images, folder, cfg.data.base_size)
    return len(images)


SPEC = DemoSpec(
    title="GhostNet segmentation models",
    task_cls=SegmentationTask,
    config_cls=SegmentationConfig,
    recipes={arch: MODELS.recipe(arch) for arch in ARCHS},
    make_data=_data,
    draw=_draw,
    metric="mIoU",
    baselines={arch: MODELS.entry(arch).compared_with for arch in ARCHS},
    extra_metrics={arch: MODELS.entry(arch).demo_metrics for arch in ARCHS},
    num_train=160,
    num_val=32,
    image_size=128,
)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m segmentation.demo [--arch ARCH] [--compare] ...``: :func:`ghost_backbones.demo.demo_main`."""
    return demo_main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
