"""TensorBoard event files of a run in ``OUT/tb/`` (``train.tensorboard``; optional extra ``tensorboard``).

Scalars: ``train/<loss>`` and ``train/lr`` every ``log_every`` iterations, ``epoch/<loss>`` per epoch, and every
numeric metric of an evaluation under its dotted path with ``/`` (``bbox/AP``, ``mIoU``,
``per_class_IoU/circle``); the x axis is the optimizer step. Images: the run's pictures (``OUT/plots``) and a few
validation images with each evaluation's predictions drawn (``predictions/0`` ...). Without the ``tensorboard``
package one note says so and the run goes on without event files.

Examples::

    >>> flatten_scalars({"bbox": {"AP": 0.5, "per_category": [{"id": 3, "name": "square", "AP": 0.25}]},
    ...                  "images": 6, "absent_classes": ["a"]})
    {'bbox/AP': 0.5, 'bbox/per_category/square/AP': 0.25, 'images': 6.0}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TensorBoard", "flatten_scalars"]

# Keys naming an entry of a list of per-class results rather than measuring anything.
_IDENTITY_KEYS = ("id", "name")


def flatten_scalars(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every finite number of a nested metrics dict, keyed by its ``/``-joined path.

    Lists of dicts are entered by each item's ``name`` (else its index); their ``id`` / ``name`` are left out, as
    are strings, booleans, ``None`` and non-finite numbers.
    """
    flat: dict[str, float] = {}
    for key, value in values.items():
        tag = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_scalars(value, f"{tag}/"))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    rest = {k: v for k, v in item.items() if k not in _IDENTITY_KEYS}
                    flat.update(flatten_scalars(rest, f"{tag}/{item.get('name', i)}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[tag] = float(value)
    return flat


class TensorBoard:
    """A ``SummaryWriter`` on ``folder`` when ``enabled`` and tensorboard is installed, else a no-op.

    Args:
        folder: where the event files go (``OUT/tb``).
        enabled: ``train.tensorboard`` (and the main process).
        purge_step: a resumed run's first new step (the checkpoint's steps + 1): the events an earlier,
            interrupted try wrote from this step on are hidden by TensorBoard.
        note: how to say that tensorboard is missing (called once).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        enabled: bool,
        purge_step: int | None = None,
        note: Callable[[str], None] = print,
    ) -> None:
        self.writer: Any = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            note(
                "train.tensorboard: tensorboard is not installed, no event files are written "
                "(pip install 'ghost-backbones[tensorboard]', or set train.tensorboard=false)"
            )
            return
        self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def scalars(self, values: Mapping[str, Any], step: int, prefix: str = "") -> None:
        """Write every number of ``values`` (nested dicts flattened, see :func:`flatten_scalars`) at ``step``."""
        if self.writer is None:
            return
        for tag, value in flatten_scalars(values, prefix).items():
            self.writer.add_scalar(tag, value, step)

    def images(self, paths: Iterable[Path | None], step: int) -> None:
        """Add each PNG of ``paths`` (``None`` entries skipped) as the image ``plots/<file stem>``."""
        if self.writer is None:
            return
        from PIL import Image

        for path in paths:
            if path is not None and Path(path).is_file():
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                self.writer.add_image(f"plots/{Path(path).stem}", pixels, step, dataformats="HWC")

    def arrays(self, pictures: Mapping[str, np.ndarray], step: int, prefix: str = "predictions/") -> None:
        """Add each HWC uint8 picture of ``pictures`` as the image ``<prefix><name>``."""
        if self.writer is None:
            return
        for name, pixels in pictures.items():
            self.writer.add_image(f"{prefix}{name}", pixels, step, dataformats="HWC")

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
