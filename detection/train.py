"""Train or evaluate a registered detector (``model.arch``) on COCO-format data: a thin CLI over the engine.

Examples::

    python -m detection.train --config configs/faster_rcnn_ghostnet_fpn_coco.yaml --data-path /data/coco \\
        --output-dir runs/frcnn_ghostnet
    torchrun --nproc_per_node 8 -m detection.train --config configs/faster_rcnn_ghostnet_fpn_coco.yaml \\
        --data-path /data/coco --output-dir runs/frcnn_ghostnet --opts model.backbone.width=1.3
    python -m detection.train --config ... --data-path /data/coco --resume runs/frcnn_ghostnet/best.pth --test-only
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ghost_backbones.engine import build_parser, fit, parse_config, run_cli

from .config import DetectionConfig
from .task import DetectionTask

__all__ = ["main", "parse_args"]

EXTRA_FLAGS = {"--min-size": "model.min_size", "--max-size": "model.max_size"}


def parse_args(argv: Sequence[str] | None = None) -> DetectionConfig:
    """The detection recipe from the command line: defaults < ``--config`` < flags < ``--opts``.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> parse_args(["--min-size", "512", "--opts", "model.backbone.width=1.3"]).model.min_size
        512
    """
    parser = build_parser("Train / evaluate a detector on COCO-format data", DetectionConfig, EXTRA_FLAGS)
    return parse_config(DetectionConfig, parser, argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the recipe; returns the last evaluation metrics.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> main(["--data-path", "data/shapes", "--output-dir", "runs/x", "--epochs", "1"])  # doctest: +SKIP
    """
    return fit(DetectionTask(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(run_cli(main))
