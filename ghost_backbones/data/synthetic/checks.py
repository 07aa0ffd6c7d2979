"""Argument checks shared by the writers: every input is checked before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .scenes import AVAILABLE_SHAPES, MIN_SIDE, SHAPE_CATEGORY_IDS

__all__ = ["SceneOptions", "check_count", "check_options", "prepare_output"]


@dataclass(frozen=True)
class SceneOptions:
    """The checked arguments every layout takes; ``size_range`` is an inclusive ``(min, max)`` side."""

    num_train: int
    num_val: int
    size_range: tuple[int, int]
    max_objects: int
    seed: int
    classes: tuple[str, ...]


def check_count(name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``, else ``ValueError``.

    Examples::

        >>> check_count("num_val", 3, 1)
        3
        >>> check_count("num_val", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: num_val must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """Normalise ``image_size`` (a side or a (min, max) side range) to an inclusive range."""
    if isinstance(image_size, (int, np.integer)):
        pair: tuple = (image_size, image_size)
    else:
        pair = tuple(image_size) if isinstance(image_size, Sequence) and not isinstance(image_size, str) else ()
    if (
        len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair)
        or pair[0] < MIN_SIDE
        or pair[0] > pair[1]
    ):
        raise ValueError(
            f"image_size must be an int >= {MIN_SIDE} or a (min, max) pair of ints with "
            f"{MIN_SIDE} <= min <= max, got {image_size!r}"
        )
    return int(pair[0]), int(pair[1])


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    classes = (classes,) if isinstance(classes, str) else tuple(classes)
    unknown = [name for name in classes if name not in SHAPE_CATEGORY_IDS]
    if not classes or unknown or len(set(classes)) != len(classes):
        raise ValueError(
            f"classes must be distinct names from {AVAILABLE_SHAPES}, got {classes!r}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    return classes


def check_options(
    *,
    num_train: int,
    num_val: int,
    image_size: int | Sequence[int],
    max_objects: int,
    seed: int,
    classes: Sequence[str],
) -> SceneOptions:
    """Check the arguments common to all layouts; ``ValueError`` names the first bad one and what it got.

    Examples::

        >>> options = check_options(num_train=4, num_val=2, image_size=64, max_objects=3, seed=0, classes="circle")
        >>> print(options.size_range, options.classes)
        (64, 64) ('circle',)
        >>> check_options(num_train=4, num_val=2, image_size=(96, 64), max_objects=3, seed=0, classes=["circle"])
        Traceback (most recent call last):
        ...
        ValueError: image_size must be an int >= 32 or a (min, max) pair of ints with 32 <= min <= max, got (96, 64)
    """
    return SceneOptions(
        num_train=check_count("num_train", num_train, 1),
        num_val=check_count("num_val", num_val, 1),
        max_objects=check_count("max_objects", max_objects, 1),
        seed=check_count("seed", seed, 0),
        size_range=_check_size(image_size),
        classes=_check_classes(classes),
    )


def prepare_output(root: str | Path, written: Sequence[Path], overwrite: bool) -> None:
    """Refuse a file as ``root`` and, unless ``overwrite``, an existing dataset (any of the ``written`` files).

    Examples::

        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "train.txt").write_text("")
        0
        >>> prepare_output(root, [root / "train.txt"], overwrite=True)
        >>> prepare_output(root, [root / "train.txt"], overwrite=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileExistsError: .../train.txt already exists; pass overwrite=True (--overwrite) to regenerate the dataset
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output root {root} exists and is not a directory")
    for path in written:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to regenerate the dataset")
