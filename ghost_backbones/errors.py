"""Errors the engine and the tasks raise for problems a user can fix (bad config, bad data, diverging run)."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "ExportError", "NonFiniteLossError"]


class ConfigError(ValueError):
    """An invalid configuration: unknown key, wrong type, bad value. The message lists what is valid."""


class DataError(ValueError):
    """Bad input data: the message names the file (or annotation id) and the problem."""


class ExportError(ValueError):
    """A model that cannot be exported faithfully: the message names the format, the layer or output, the numbers."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the iteration and the last good checkpoint."""
