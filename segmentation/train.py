"""Train or evaluate a segmentation model on VOC-layout data: ``python -m segmentation.train``.

Same flags and behaviour as ``detection.train`` (``--config``, ``--data-path``, ``--output-dir``, ``--epochs``,
``--batch-size``, ``--lr``, ``--workers``, ``--device``, ``--amp``, ``--resume``, ``--weights``, ``--test-only``,
``--seed``, ``--skip-bad-images``, ``--opts KEY=VALUE ...``) plus ``--crop-size`` and ``--base-size``.
Writes ``OUT/checkpoint.pth`` (every epoch), ``OUT/best.pth`` (best mIoU), ``OUT/log.jsonl`` and
``OUT/metrics.json``. Launch with ``torchrun --nproc_per_node N -m segmentation.train ...`` for DDP.

Examples::

    python -m segmentation.train --config configs/deeplabv3_ghostnet_voc.yaml --data-path data/voc --output-dir runs/dl3
    python -m segmentation.train --config configs/deeplabv3_ghostnet_voc.yaml --data-path data/voc \\
        --output-dir runs/dl3 --resume runs/dl3/checkpoint.pth --test-only
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ghost_backbones.engine import build_parser, fit, parse_config, run_cli

from .config import SegmentationConfig
from .task import SegmentationTask

__all__ = ["get_parser", "main"]

EXTRA_FLAGS = {"--crop-size": "data.crop_size", "--base-size": "data.base_size"}


def get_parser() -> argparse.ArgumentParser:
    """The common training flags plus ``--crop-size`` and ``--base-size``."""
    return build_parser(
        "Train / evaluate a segmentation model (model.arch) on VOC-layout data", SegmentationConfig, EXTRA_FLAGS
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, then train (or ``--test-only`` evaluate); returns the last metrics.

    Args:
        argv: command-line arguments (``None``: ``sys.argv[1:]``).

    Examples::

        >>> argv = ["--config", "configs/fcn_ghostnet_voc.yaml", "--data-path", "data/voc", "--epochs", "1"]
        >>> main(argv)["mIoU"]  # doctest: +SKIP
    """
    cfg = parse_config(SegmentationConfig, get_parser(), argv)
    return fit(SegmentationTask(cfg))


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
