"""Timing and counting primitives under the harness (:mod:`ghost_backbones.bench.harness`).

``measure_latency`` (one callable, one clock), ``count_macs``, ``count_params``, ``find_device``, ``parse_img_size``,
``torch_threads`` and ``calibrate_batchnorm``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

__all__ = [
    "calibrate_batchnorm",
    "count_macs",
    "count_params",
    "find_device",
    "measure_latency",
    "parse_img_size",
    "torch_threads",
]


def calibrate_batchnorm(model: nn.Module, *inputs: Any) -> nn.Module:
    """Set every BatchNorm's running statistics from one call on ``inputs`` (model left in eval mode), as a trained
    model's come from its data; the learned weights stay random.

    An untrained network in eval mode normalises with the initial statistics (mean 0, variance 1), so its
    activations shrink layer after layer: torchvision's untrained SSDLite outputs exact zeros, every score ties and
    its NMS becomes trivially cheap, which says nothing about a real model. Timing untrained models after this call
    gives each the same kind of post-processing work. The batch needs two values per channel at the smallest map
    (e.g. two images).

    Examples::

        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        >>> _ = calibrate_batchnorm(model, torch.rand(2, 3, 8, 8) + 5)
        >>> bool(model[1].running_mean.abs().sum() > 0), model.training, model[1].momentum
        (True, False, 0.1)
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one call sets the statistics of its batch
        norm.train()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()
    return model


def count_params(model: nn.Module) -> int:
    """Count the parameters of ``model`` (shared parameters once).

    Args:
        model: any module.

    Examples::

        >>> count_params(torch.nn.Linear(10, 5))
        55
    """
    return sum(p.numel() for p in model.parameters())


def count_macs(model: Callable[..., Any], inputs: Any) -> int:
    """Count multiply-accumulates of one forward pass with ``torch.utils.flop_counter``.

    The count is ``FLOPs / 2`` as reported by :class:`~torch.utils.flop_counter.FlopCounterMode` (convolutions,
    matrix products, attention); element-wise ops (BN, activations, adds) are not counted, as in the papers.
    ``model`` is called as ``model(inputs)`` under ``torch.no_grad()``; put it in eval mode first.

    Args:
        model: module or callable taking ``inputs`` as its single argument.
        inputs: a tensor, or whatever single argument ``model`` takes (e.g. a list of images).

    Examples::

        >>> conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        >>> count_macs(conv, torch.rand(1, 3, 10, 10))  # 8 * 100 outputs * 27 MACs
        21600
    """
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(inputs)
    return counter.get_total_flops() // 2


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def find_device(inputs: Any) -> torch.device:
    """Return the device of the first tensor found in ``inputs`` (nested lists/tuples/dicts), else CPU.

    Args:
        inputs: a tensor or a nested container of tensors.

    Examples::

        >>> find_device([{"a": torch.zeros(1)}])
        device(type='cpu')
    """
    tensor = _first_tensor(inputs)
    return tensor.device if tensor is not None else torch.device("cpu")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(
    fn: Callable[[Any], Any],
    inputs: Any,
    warmup: int = 10,
    iters: int = 50,
    batch_size: int | None = None,
    progress: bool = False,
    desc: str = "timing",
    timer: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Time ``fn(inputs)`` under ``torch.inference_mode()`` and return latency statistics.

    Each of the ``iters`` timed calls is measured separately with ``time.perf_counter`` (CUDA is synchronized
    before and after each call when ``inputs`` live on a GPU), so the median is robust to other processes
    stealing the CPU now and then.

    Args:
        fn: callable run as ``fn(inputs)``; wrap multi-argument calls in a lambda.
        inputs: the single argument passed to ``fn``.
        warmup: untimed calls first (allocator, oneDNN/cuDNN autotuning).
        iters: timed calls, at least 1.
        batch_size: images per call; adds ``images_per_s`` (from the median) to the result.
        progress: show a tqdm bar over warmup + timed calls.
        desc: tqdm label.
        timer: clock in seconds; ``time.perf_counter`` (wall, the default) or ``time.process_time`` (CPU time of
            this process: robust when other jobs share the cores, see ``--timer cpu`` of the CLI).

    Returns:
        ``dict(median_ms, mean_ms, min_ms, max_ms, p90_ms, std_ms, iters[, images_per_s])``.

    Examples::

        >>> stats = measure_latency(torch.nn.Conv2d(3, 8, 3), torch.rand(2, 3, 32, 32), warmup=1, iters=5,
        ...                         batch_size=2)
        >>> sorted(stats)
        ['images_per_s', 'iters', 'max_ms', 'mean_ms', 'median_ms', 'min_ms', 'p90_ms', 'std_ms']
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = find_device(inputs)
    times_ms: list[float] = []
    bar = tqdm(total=warmup + iters, desc=desc, disable=not progress, leave=False)
    with torch.inference_mode():
        for _ in range(warmup):
            fn(inputs)
            bar.update()
        _synchronize(device)
        for _ in range(iters):
            start = timer()
            fn(inputs)
            _synchronize(device)
            times_ms.append((timer() - start) * 1000.0)
            bar.update()
    bar.close()
    ordered = sorted(times_ms)
    median = statistics.median(ordered)
    stats = {
        "median_ms": median,
        "mean_ms": statistics.fmean(ordered),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "p90_ms": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
        "std_ms": statistics.pstdev(ordered),
        "iters": float(iters),
    }
    if batch_size is not None:
        stats["images_per_s"] = batch_size * 1000.0 / median
    return stats


def parse_img_size(value: str | int | Sequence[int]) -> tuple[int, int]:
    """Parse an image size given as ``224``, ``"224"``, ``"800x1333"`` (H x W) or ``(H, W)``.

    Args:
        value: the size; a single number means a square image.

    Examples::

        >>> parse_img_size("800x1333"), parse_img_size(224)
        ((800, 1333), (224, 224))
    """
    if isinstance(value, int):
        size: tuple[int, ...] = (value, value)
    elif isinstance(value, str):
        parts = value.lower().replace("*", "x").split("x")
        try:
            size = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"image size must look like 224 or 800x1333 (HxW), got {value!r}") from None
        if len(size) == 1:
            size = (size[0], size[0])
    else:
        size = tuple(int(v) for v in value)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image size must be one or two positive integers (HxW), got {value!r}")
    return size[0], size[1]


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Temporarily set ``torch.set_num_threads`` (``None`` leaves it unchanged).

    Args:
        num_threads: intra-op threads to use inside the block, >= 1.

    Examples::

        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
    """
    if num_threads is None:
        yield
        return
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
