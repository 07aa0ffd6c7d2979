"""Append-only JSON-lines metric log (``OUT/log.jsonl``), one object per line, written by the main process.

A resumed run appends a ``{"type": "resume", "epoch": E, ...}`` record: the ``train`` / ``epoch`` / ``eval`` /
``early_stop`` records of epochs ``>= E`` written before it (an interrupted epoch) are superseded by the resumed run's.
``read_jsonl(path, deduplicate=True)`` (or :func:`drop_superseded`) gives the view that counts each iteration once.

Examples::

    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/log.jsonl"
    >>> log = JsonlLogger(path)
    >>> log.write({"type": "train", "epoch": 0, "iter": 20, "loss": 1.25})
    >>> read_jsonl(path)[-1]["loss"]
    1.25
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

__all__ = ["JsonlLogger", "count_superseded", "drop_superseded", "read_jsonl", "write_json"]

# Records that belong to one epoch of training: a resume from epoch E replaces those of epochs >= E.
_PER_EPOCH = ("train", "epoch", "eval", "early_stop")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return _clean(value.item())
    return value


class JsonlLogger:
    """Appends one JSON object per call to ``path`` (created with its folder), adding a ``time`` stamp."""

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(_clean({**record, "time": round(time.time(), 3)}))
        with self.path.open("a") as f:
            f.write(line + "\n")


def read_jsonl(path: str | Path, *, deduplicate: bool = False) -> list[dict[str, Any]]:
    """All records of a JSON-lines file; with ``deduplicate``, without those a later resume superseded.

    Args:
        path: the file.
        deduplicate: drop the per-epoch records that a ``resume`` record supersedes (see :func:`drop_superseded`).
    """
    with Path(path).open() as f:
        records = [json.loads(line) for line in f if line.strip()]
    return drop_superseded(records) if deduplicate else records


def drop_superseded(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` without the per-epoch records (``train``, ``epoch``, ``eval``, ``early_stop``) a later ``resume``
    record supersedes.

    A run killed in epoch E and resumed from the checkpoint of epoch E - 1 trains epoch E again: its first
    records stay in the log, marked superseded by ``{"type": "resume", "epoch": E}``.

    Examples::

        >>> log = [{"type": "train", "epoch": 0, "iter": 1}, {"type": "train", "epoch": 1, "iter": 1},
        ...        {"type": "resume", "epoch": 1}, {"type": "train", "epoch": 1, "iter": 1}]
        >>> [(r["type"], r["epoch"]) for r in drop_superseded(log)]
        [('train', 0), ('resume', 1), ('train', 1)]
    """
    kept: list[dict[str, Any]] = []
    for record in records:
        if record.get("type") == "resume":
            epoch = record.get("epoch", 0)
            kept = [r for r in kept if not (r.get("type") in _PER_EPOCH and r.get("epoch", -1) >= epoch)]
        kept.append(record)
    return kept


def count_superseded(path: str | Path, epoch: int) -> int:
    """How many records of ``path`` a ``resume`` from ``epoch`` supersedes (0 when there is no file yet)."""
    if not Path(path).is_file():
        return 0
    return sum(1 for r in read_jsonl(path) if r.get("type") in _PER_EPOCH and r.get("epoch", -1) >= epoch)


def write_json(path: str | Path, data: dict[str, Any] | list[Any]) -> Path:
    """Write ``data`` as indented JSON atomically (temp file + rename): a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n")
    tmp.replace(path)
    return path
