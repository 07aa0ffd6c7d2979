"""The timing harness of the three benchmark CLIs: named callables timed in interleaved rounds.

Every round times every case once (``warmup`` untimed calls, then ``iters`` timed ones). A case's figure is the
median of its round medians, and its *best* is its fastest single call: a burst of load from other processes hits
all cases alike, and the fastest call is the least disturbed one. Speed-up is always the baseline's time over the
case's time (above 1: faster than the baseline).

Examples::

    >>> config = TimingConfig(warmup=0, iters=2, repeats=3)
    >>> timings = time_cases({"relu": Case(torch.relu, torch.rand(64)), "tanh": Case(torch.tanh, torch.rand(64))},
    ...                      config)
    >>> [len(t.round_ms) for t in timings.values()]
    [3, 3]
    >>> speedup(timings["relu"], timings["relu"])
    (1.0, 1.0)
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from ghost_backbones.engine import resolve_device

from .timing import measure_latency, torch_threads

__all__ = ["CLOCKS", "Case", "Timing", "TimingConfig", "add_timing_args", "speedup", "time_cases"]

#: ``--timer`` choices: ``wall`` is latency; ``cpu`` is the CPU time of this process over all its threads, which
#: other jobs on the same cores do not inflate (run with ``OMP_WAIT_POLICY=PASSIVE`` so waiting threads do not spin).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class TimingConfig:
    """How to time: the settings every benchmark CLI shares (``add_timing_args`` adds their flags).

    Args:
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (checked: CUDA must be available when asked for).
        threads: ``torch.set_num_threads`` while timing on the CPU (``None``: unchanged; ignored on CUDA).
        warmup: untimed calls per case per round, >= 0.
        iters: timed calls per case per round, >= 1.
        repeats: interleaved rounds, >= 1.
        timer: a key of :data:`CLOCKS`; ``cpu`` only with a CPU device.

    Examples::

        >>> TimingConfig(repeats=0)
        Traceback (most recent call last):
        ...
        ValueError: repeats must be >= 1, got 0
    """

    device: str = "cpu"
    threads: int | None = 2
    warmup: int = 5
    iters: int = 20
    repeats: int = 3
    timer: str = "wall"

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if self.iters < 1:
            raise ValueError(f"iters must be >= 1, got {self.iters}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.timer not in CLOCKS:
            raise ValueError(f"timer must be one of {sorted(CLOCKS)}, got {self.timer!r}")
        if self.timer == "cpu" and self.torch_device.type != "cpu":
            raise ValueError(f"timer 'cpu' measures CPU time and needs --device cpu, got {self.device!r}")

    @property
    def torch_device(self) -> torch.device:
        """The resolved device (``auto`` -> ``cuda`` when available, else ``cpu``)."""
        return resolve_device(self.device)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TimingConfig:
        """The config from the flags of :func:`add_timing_args`."""
        return cls(args.device, args.threads, args.warmup, args.iters, args.repeats, args.timer)

    def threads_context(self) -> contextlib.AbstractContextManager:
        """``torch_threads(threads)`` on the CPU, a no-op on other devices."""
        return torch_threads(self.threads if self.torch_device.type == "cpu" else None)

    def describe(self) -> dict[str, Any]:
        """The settings plus the machine (CPU name, torch version), for the report's ``config``."""
        fields = dict(device=self.device, threads=self.threads, warmup=self.warmup, iters=self.iters)
        fields.update(repeats=self.repeats, timer=self.timer, torch=torch.__version__)
        fields["cpu"] = platform.processor() or platform.machine()
        return fields


@dataclass(frozen=True)
class Case:
    """One timed callable: ``fn(inputs)``.

    Args:
        fn: what to time, called as ``fn(inputs)`` under ``torch.inference_mode()``.
        inputs: its single argument (shared between cases if the same object is passed).
        prepare: untimed call before the case's calls of each round (e.g. ``model.eval``).
        context: factory of a context manager entered around the case's calls (e.g. autocast).
    """

    fn: Callable[[Any], Any]
    inputs: Any
    prepare: Callable[[], Any] | None = None
    context: Callable[[], contextlib.AbstractContextManager] | None = None


@dataclass
class Timing:
    """A case's figures: ``round_ms`` (one median per round) and ``best_ms`` (fastest call of all rounds)."""

    round_ms: list[float]
    best_ms: float

    @property
    def median_ms(self) -> float:
        """Median of the round medians."""
        return statistics.median(self.round_ms)


def time_cases(cases: Mapping[str, Case], config: TimingConfig, *, progress: bool = True) -> dict[str, Timing]:
    """Time every case in interleaved rounds (see the module docstring); the order of ``cases`` is kept.

    Args:
        cases: name -> case.
        config: device threads, warmup, iters, repeats and clock.
        progress: a tqdm bar over rounds x cases (stderr, cleared at the end).

    Returns:
        name -> :class:`Timing`.
    """
    if not cases:
        raise ValueError("no cases to time")
    clock = CLOCKS[config.timer]
    round_ms: dict[str, list[float]] = {name: [] for name in cases}
    best = dict.fromkeys(cases, float("inf"))
    bar = tqdm(total=config.repeats * len(cases), desc="benchmark", leave=False, disable=not progress)
    with config.threads_context():
        for _ in range(config.repeats):
            for name, case in cases.items():
                if case.prepare is not None:
                    case.prepare()
                with (case.context or contextlib.nullcontext)():
                    stats = measure_latency(case.fn, case.inputs, warmup=config.warmup, iters=config.iters, timer=clock)
                round_ms[name].append(stats["median_ms"])
                best[name] = min(best[name], stats["min_ms"])
                bar.update()
    bar.close()
    return {name: Timing(round_ms[name], best[name]) for name in cases}


def speedup(timing: Timing | None, baseline: Timing | None) -> tuple[float | None, float | None]:
    """``(baseline median / median, baseline best / best)``: above 1 is faster; ``None`` where either is missing.

    Args:
        timing: the case's figures.
        baseline: the baseline's figures.

    Examples::

        >>> speedup(Timing([30.0, 20.0, 40.0], 10.0), Timing([60.0], 15.0))
        (2.0, 1.5)
    """
    if timing is None or baseline is None or timing.median_ms <= 0 or timing.best_ms <= 0:
        return None, None
    return baseline.median_ms / timing.median_ms, baseline.best_ms / timing.best_ms


def add_timing_args(parser: argparse.ArgumentParser, defaults: TimingConfig, *, img_size: str) -> None:
    """Add the flags every benchmark CLI shares, with that CLI's defaults.

    ``--img-size --device --threads --warmup --iters --repeats --timer --amp --json``; read them back with
    :meth:`TimingConfig.from_args` (the timing ones) and :func:`ghost_backbones.bench.table.report` (``--json``).

    Args:
        parser: the CLI's parser.
        defaults: the CLI's default timing settings.
        img_size: the default ``--img-size``.

    Examples::

        >>> parser = argparse.ArgumentParser()
        >>> add_timing_args(parser, TimingConfig(warmup=1, iters=2), img_size="224")
        >>> TimingConfig.from_args(parser.parse_args(["--threads", "1", "--timer", "cpu"]))
        TimingConfig(device='cpu', threads=1, warmup=1, iters=2, repeats=3, timer='cpu')
    """
    parser.add_argument("--img-size", default=img_size, help="input size: 224 or HxW, e.g. 800x800")
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch intra-op threads on the CPU")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed calls per model per round")
    parser.add_argument("--iters", type=int, default=defaults.iters, help="timed calls per model per round")
    parser.add_argument(
        "--repeats",
        type=int,
        default=defaults.repeats,
        help="interleaved rounds; median ms = median of the round medians",
    )
    parser.add_argument(
        "--timer",
        default=defaults.timer,
        help="wall: latency (default); cpu: CPU time of this process over all its threads, robust when other jobs "
        "share the cores (run with OMP_WAIT_POLICY=PASSIVE so that waiting threads do not spin)",
    )
    parser.add_argument("--amp", action="store_true", help="autocast: float16 on CUDA, bfloat16 on CPU")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="--json: print JSON instead of the table; --json PATH: print the table and write the JSON to PATH",
    )
