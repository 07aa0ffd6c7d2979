"""Command-line front end shared by the tasks' ``train.py``: the flags torchvision's reference users know.

Examples::

    >>> parser = build_parser("Train a detector", DetectionConfig, {"--min-size": "model.min_size"})  # doctest: +SKIP
    >>> cfg = parse_config(DetectionConfig, parser, ["--epochs", "2", "--opts", "train.lr=0.01"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

from ..errors import ConfigError, DataError, NonFiniteLossError
from .config import load_config, parse_override
from .sections import TrainConfig  # noqa: F401  (doctest)

__all__ = ["build_parser", "parse_config", "run_cli", "user_message", "COMMON_FLAGS"]

T = TypeVar("T")

# flag -> config key: the flags torchvision's reference scripts have, each an alias of one config key.
COMMON_FLAGS: dict[str, str] = {
    "--data-path": "data.root",
    "--skip-bad-images": "data.skip_bad_images",
    "--output-dir": "train.output_dir",
    "--epochs": "train.epochs",
    "--batch-size": "train.batch_size",
    "--lr": "train.lr",
    "--workers": "train.workers",
    "--device": "train.device",
    "--amp": "train.amp",
    "--resume": "train.resume",
    "--weights": "train.weights",
    "--test-only": "train.test_only",
    "--seed": "train.seed",
}
_SHORT = {"--batch-size": "-b", "--workers": "-j"}


def _field(cls: type, key: str) -> tuple[Any, Any]:
    """The type annotation and default of the dotted ``key`` of the config dataclass ``cls``."""
    *sections, leaf = key.split(".")
    for section in sections:
        cls = typing.get_type_hints(cls)[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if leaf not in fields:
        raise KeyError(f"{key} is not a key of {cls.__name__}")
    f = fields[leaf]
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return typing.get_type_hints(cls)[leaf], default


def build_parser(
    description: str, config_cls: type, extra_flags: Mapping[str, str] | None = None
) -> argparse.ArgumentParser:
    """A parser whose flags are aliases of config keys: :data:`COMMON_FLAGS` plus the task's ``extra_flags``.

    Each flag takes its type from the config field and shows the config's default in ``--help``; a flag left out
    does not override the YAML. ``--config`` and ``--opts KEY=VALUE ...`` reach every other key.

    Args:
        description: the ``--help`` description.
        config_cls: the task's top-level config dataclass (its defaults are the ones shown).
        extra_flags: more ``{"--flag": "section.key"}`` aliases.

    Examples::

        >>> @dataclasses.dataclass
        ... class Recipe:
        ...     train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
        >>> parser = build_parser("toy", Recipe, {"--clip": "train.clip_grad_norm"})
        >>> parse_config(Recipe, parser, ["--clip", "1.5"]).train.clip_grad_norm
        1.5
        >>> "train.epochs, default: 12" in parser.format_help()
        True
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", help="YAML recipe (sections model/data/train); defaults are the built-in ones")
    flags = {**{k: v for k, v in COMMON_FLAGS.items() if _has_key(config_cls, v)}, **(extra_flags or {})}
    for flag, key in flags.items():
        tp, default = _field(config_cls, key)
        names = [_SHORT[flag], flag] if flag in _SHORT else [flag]
        shown = f"{key}, default: {default!r}" if isinstance(default, str) else f"{key}, default: {default}"
        if tp is bool:
            p.add_argument(*names, action="store_true", default=None, help=f"sets {shown}")
        else:
            scalar = next((t for t in (int, float) if tp is t or t in typing.get_args(tp)), str)
            p.add_argument(*names, type=scalar, metavar=flag.lstrip("-").upper().replace("-", "_"), help=shown)
    p.add_argument(
        "--opts", nargs="+", default=[], metavar="KEY=VALUE", help="override any config key, e.g. train.lr=0.01"
    )
    p.set_defaults(_config_flags=flags)
    return p


def _has_key(cls: type, key: str) -> bool:
    try:
        _field(cls, key)
    except KeyError:
        return False
    return True


def parse_config(cls: type[T], parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> T:
    """Parse ``argv`` and build ``cls``: defaults < ``--config`` YAML < flags < ``--opts``.

    Flags left unset do not override the YAML. Unknown ``--opts`` keys raise `ConfigError` listing the valid keys.
    """
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    for flag, key in args._config_flags.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Warnings as one ``warning: ...`` line on stderr (no source line under them), on its own line under a bar."""
    tqdm.write(f"warning: {message}", file=sys.stderr if file is None else file)


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; user errors print one ``error: ...`` line (no traceback) and give exit code 2.

    A diverging run (`NonFiniteLossError`) gives exit code 1, an interrupt 130. User errors are `ConfigError`,
    `DataError`, ``ValueError`` and ``OSError`` (a missing file, a full disk, a folder that cannot be written).
    Warnings are shown as one ``warning: ...`` line each.

    Examples::

        >>> def main(argv):
        ...     raise DataError("a.json: annotation id 3 has a non-finite 'bbox'")
        >>> run_cli(main, [])  # the message goes to stderr
        2
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            main(argv)
        except NonFiniteLossError as e:
            print(f"error: {user_message(e)}", file=sys.stderr)
            return 1
        except (ConfigError, DataError, ValueError, OSError) as e:
            print(f"error: {user_message(e)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted; resume with --resume auto (same --output-dir)", file=sys.stderr)
            return 130
    return 0
