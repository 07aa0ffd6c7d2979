"""Append-only JSON-lines metric log (``OUT/log.jsonl``), one object per line, written by the main process.

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

__all__ = ["JsonlLogger", "read_jsonl", "write_json"]


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


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines file."""
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n")
    tmp.replace(path)
    return path
