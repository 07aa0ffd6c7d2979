"""What both detection readers (COCO, VOC) do with an unreadable image: raise, or warn with a count and go on."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ghost_backbones.errors import DataError

__all__ = ["SkippingDataset"]


class SkippingDataset(Dataset):
    """``__getitem__`` over ``_load(index)`` that honours ``skip_bad_images`` / ``substitute_bad``.

    A subclass sets ``image_dir``, ``skip_bad_images``, ``substitute_bad`` and ``num_skipped = 0``, and implements
    ``__len__`` and ``_load``. A `DataError` from ``_load`` is raised as it is unless ``skip_bad_images``; then it is
    one warning with the running count, and the item is the next readable image (``substitute_bad``, training) or
    ``None`` (evaluation: the collate function drops it).
    """

    image_dir: Path
    skip_bad_images: bool
    substitute_bad: bool
    num_skipped: int

    def _load(self, index: int) -> Any:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        for attempt in range(len(self)):
            i = (index + attempt) % len(self)
            try:
                return self._load(i)
            except DataError as e:
                if not self.skip_bad_images:
                    raise
                self.num_skipped += 1
                message = f"skipped bad image: {e} ({self.num_skipped} skipped so far in this process)"
                warnings.warn(message, stacklevel=2)
                if not self.substitute_bad:
                    return None
        raise DataError(f"{self.image_dir}: no readable image left in the dataset")
