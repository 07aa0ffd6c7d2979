"""The one result format of the three benchmark CLIs: rows, their table and their JSON.

Every row has the same keys, in every CLI (the table shows all but ``round_ms``):

==============  ===================  ============================================================================
key             header               meaning
==============  ===================  ============================================================================
model           model                the timed model
params_m        params (M)           parameters, millions
gmacs           GMACs                multiply-accumulates of one image (convolutions and matrix products)
median_ms       median ms            median of the round medians
best_ms         best ms              fastest single call (the least disturbed by other processes)
baseline        baseline             the model this row is compared with (itself for a baseline)
speedup         speed-up             baseline ``median_ms`` / this ``median_ms`` (above 1: faster)
best_speedup    speed-up (best)      baseline ``best_ms`` / this ``best_ms``
round_ms        (JSON only)          the round medians
==============  ===================  ============================================================================

A task with more measurements (detection's training step) adds them under a prefix with the same pattern:
``train_median_ms``, ``train_best_ms``, ``train_speedup``, ``train_best_speedup``, ``train_round_ms``.
The JSON is ``{"config": {...}, "results": [row, ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .harness import Timing, speedup

__all__ = ["add_measure", "format_table", "report", "result_row", "table_columns"]


def result_row(
    model: str, baseline: str, timings: Mapping[str, Timing], *, params_m: float, gmacs: float | None
) -> dict[str, Any]:
    """One row: ``model``'s figures and its speed-up over ``baseline`` (both keys of ``timings``).

    Args:
        model: the row's model.
        baseline: the model it is compared with.
        timings: from :func:`ghost_backbones.bench.time_cases`.
        params_m: parameters in millions.
        gmacs: GMACs per image (``None``: not measured).

    Examples::

        >>> timings = {"ours": Timing([10.0, 12.0], 9.0), "theirs": Timing([15.0], 9.0)}
        >>> row = result_row("ours", "theirs", timings, params_m=5.0, gmacs=0.1)
        >>> row["median_ms"], row["speedup"], row["best_speedup"]
        (11.0, 1.3636363636363635, 1.0)
    """
    row: dict[str, Any] = dict(model=model, params_m=params_m, gmacs=gmacs, median_ms=None, best_ms=None)
    row["baseline"] = baseline
    add_measure(row, "", timings[model], timings[baseline])
    return row


def add_measure(row: dict[str, Any], prefix: str, timing: Timing | None, baseline: Timing | None) -> None:
    """Add a measurement to ``row`` as ``{prefix}_median_ms``, ``_best_ms``, ``_speedup``, ``_best_speedup``, ...

    Args:
        row: the row to extend.
        prefix: e.g. ``"train"``; ``""`` for the main measurement (keys without a prefix).
        timing: the row's figures (``None``: not measured; the keys are still added, as ``None``).
        baseline: the baseline's figures for the same measurement.

    Examples::

        >>> row = {}
        >>> add_measure(row, "train", Timing([20.0], 18.0), Timing([30.0], 27.0))
        >>> row["train_speedup"], row["train_best_speedup"]
        (1.5, 1.5)
    """
    key = f"{prefix}_" if prefix else ""
    fast, fast_best = speedup(timing, baseline)
    row[f"{key}median_ms"] = timing.median_ms if timing else None
    row[f"{key}best_ms"] = timing.best_ms if timing else None
    row[f"{key}speedup"] = fast
    row[f"{key}best_speedup"] = fast_best
    row[f"{key}round_ms"] = list(timing.round_ms) if timing else None


def table_columns(extras: Mapping[str, str] | None = None, timer: str = "wall") -> list[tuple[str, str, str]]:
    """The table's ``(key, header, format)`` columns: the common ones, then each extra measurement's four.

    Args:
        extras: prefix -> label of extra measurements, e.g. ``{"train": "train step"}``.
        timer: ``"cpu"`` says so in the time headers (``median CPU ms``).

    Examples::

        >>> [header for _, header, _ in table_columns()]
        ['model', 'params (M)', 'GMACs', 'median ms', 'best ms', 'baseline', 'speed-up', 'speed-up (best)']
    """
    ms = "CPU ms" if timer == "cpu" else "ms"
    columns = [("model", "model", ""), ("params_m", "params (M)", ".2f"), ("gmacs", "GMACs", ".3f")]
    columns += [("median_ms", f"median {ms}", ".1f"), ("best_ms", f"best {ms}", ".1f"), ("baseline", "baseline", "")]
    columns += [("speedup", "speed-up", ".2f"), ("best_speedup", "speed-up (best)", ".2f")]
    for prefix, label in (extras or {}).items():
        columns += [(f"{prefix}_median_ms", f"{label} median {ms}", ".1f")]
        columns += [(f"{prefix}_best_ms", f"{label} best {ms}", ".1f")]
        columns += [(f"{prefix}_speedup", f"{label} speed-up", ".2f")]
        columns += [(f"{prefix}_best_speedup", f"{label} speed-up (best)", ".2f")]
    return columns


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Render ``rows`` as a GitHub-markdown table.

    Args:
        rows: one dict per row.
        columns: ``(key, header, format_spec)`` triples, e.g. ``("median_ms", "ms", ".1f")``; missing keys print ``-``.

    Examples::

        >>> print(format_table([{"m": "a", "ms": 1.234}], [("m", "model", ""), ("ms", "ms", ".1f")]))
        | model | ms  |
        |-------|-----|
        | a     | 1.2 |
    """
    header = [title for _, title, _ in columns]
    body = [["-" if row.get(key) is None else format(row[key], spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(str(cell)) for cell in col) for col in zip(header, *body)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(header, widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, widths)) + " |" for cells in body]
    return "\n".join(lines)


def report(
    rows: Sequence[dict[str, Any]],
    config: Mapping[str, Any],
    json_target: str | None = None,
    *,
    columns: Sequence[tuple[str, str, str]] | None = None,
) -> None:
    """Print the rows: a ``key=value`` line of ``config`` and the table, or the JSON.

    Args:
        rows: the result rows.
        config: the run's settings (what was timed, how, on what).
        json_target: ``None``: table only; ``"-"``: JSON on stdout instead of the table; a path: the table, and the
            JSON written there (parent folders created).
        columns: the table's columns (default: :func:`table_columns` for ``config["timer"]``).

    Examples::

        >>> report([{"model": "a", "median_ms": 1.0}], {"timer": "wall"}, "-")  # doctest: +ELLIPSIS
        {
          "config": {
            "timer": "wall"
          },
          "results": [...
    """
    payload = json.dumps({"config": dict(config), "results": list(rows)}, indent=2)
    if json_target == "-":
        print(payload)
        return
    print(", ".join(f"{k}={v}" for k, v in config.items()))
    print(format_table(rows, columns or table_columns(timer=config.get("timer", "wall"))))
    if json_target:
        path = Path(json_target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(payload + "\n")
