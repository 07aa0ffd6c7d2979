"""Command-line front end shared by the tasks' ``train.py``: the flags torchvision's reference users know.

Examples::

    >>> parser = build_parser("Train Faster R-CNN GhostNet-FPN on COCO")
    >>> _ = parser.add_argument("--min-size", type=int)
    >>> cfg = parse_config(DetectionConfig, parser, ["--epochs", "2", "--opts", "train.lr=0.01"],
    ...                    extra_flags={"min_size": "model.min_size"})  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import ConfigError, DataError, NonFiniteLossError
from .config import load_config, parse_override

__all__ = ["build_parser", "parse_config", "run_cli", "user_message", "COMMON_FLAGS"]

T = TypeVar("T")

# argparse destination -> config key
COMMON_FLAGS: dict[str, str] = {
    "data_path": "data.root",
    "skip_bad_images": "data.skip_bad_images",
    "output_dir": "train.output_dir",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "workers": "train.workers",
    "device": "train.device",
    "amp": "train.amp",
    "resume": "train.resume",
    "weights": "train.weights",
    "test_only": "train.test_only",
    "seed": "train.seed",
}


def build_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the common training flags; tasks add their own before calling `parse_config`."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", help="YAML recipe (sections model/data/train); defaults are the built-in ones")
    p.add_argument("--data-path", help="dataset root (data.root)")
    p.add_argument("--output-dir", help="where checkpoints, log.jsonl and metrics.json go (train.output_dir)")
    p.add_argument("--epochs", type=int, help="train.epochs")
    p.add_argument("-b", "--batch-size", type=int, help="images per process (train.batch_size)")
    p.add_argument("--lr", type=float, help="peak learning rate (train.lr)")
    p.add_argument("-j", "--workers", type=int, help="data loading workers per process (train.workers)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    p.add_argument("--amp", action="store_true", default=None, help="mixed precision (train.amp)")
    p.add_argument("--resume", help="checkpoint to resume from, or 'auto' for OUTPUT_DIR/checkpoint.pth")
    p.add_argument("--weights", help="initialise the model from this checkpoint (train.weights)")
    p.add_argument("--test-only", action="store_true", default=None, help="only evaluate (with --resume/--weights)")
    p.add_argument("--seed", type=int, help="train.seed")
    p.add_argument(
        "--skip-bad-images", action="store_true", default=None, help="warn about unreadable images and skip them"
    )
    p.add_argument(
        "--opts", nargs="+", default=[], metavar="KEY=VALUE", help="override any config key, e.g. train.lr=0.01"
    )
    return p


def parse_config(
    cls: type[T],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
    extra_flags: Mapping[str, str] | None = None,
) -> T:
    """Parse ``argv`` and build ``cls``: defaults < ``--config`` YAML < flags < ``--opts``.

    Flags left unset (``None``) do not override the YAML. Unknown ``--opts`` keys raise `ConfigError`
    listing the valid keys.
    """
    args = parser.parse_args(argv)
    flags = {**COMMON_FLAGS, **(extra_flags or {})}
    overrides: dict[str, Any] = {}
    for dest, key in flags.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides[key] = value
    overrides.update(dict(parse_override(o) for o in args.opts))
    return load_config(cls, args.config, overrides)


def user_message(error: BaseException) -> str:
    r"""The message of ``error`` without the worker traceback a DataLoader worker wraps around it.

    An exception raised in a ``DataLoader`` worker (``workers > 0``) is re-raised in the main process with the same
    type but the message ``"Caught DataError in DataLoader worker process 0.\nOriginal Traceback ..."``; the user's
    message is what follows the traceback's last ``DataError: `` (or ``package.module.DataError: ``) line.

    Examples::

        >>> user_message(DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most "
        ...                        "recent call last):\n  File ...\nDataError: a.jpg: cannot read"))
        'a.jpg: cannot read'
    """
    text = str(error)
    if "Original Traceback" not in text:
        return text
    # The traceback's last line names the type, qualified by its module unless it is a builtin.
    lines = list(re.finditer(rf"^(?:[\w.]+\.)?{re.escape(type(error).__name__)}: ", text, flags=re.MULTILINE))
    return text[lines[-1].end() :].strip() if lines else text
    return text


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; user errors print ``error: ...`` (no traceback) and give exit code 2 (1 for divergence)."""
    try:
        main(argv)
    except (ConfigError, DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {user_message(e)}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"error: {user_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; resume with --resume auto (same --output-dir)", file=sys.stderr)
        return 130
    return 0
