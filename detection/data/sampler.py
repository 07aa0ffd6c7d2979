"""Aspect-ratio grouping: batches of landscape images and batches of portrait images (less padding)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler

__all__ = ["GroupedBatchSampler"]


class GroupedBatchSampler(Sampler[list[int]]):
    """Batches whose indices all share a group id, in the order the wrapped sampler gives them.

    A batch is yielded as soon as a group holds ``batch_size`` indices; what is left at the end is batched
    regardless of group. Every batch is full (the final remainder is dropped, as the engine's default sampler
    does) unless there are fewer indices than ``batch_size``, then they form one batch. The length is exact, so
    every DDP rank runs the same number of iterations.

    Args:
        sampler: the index sampler (e.g. a ``DistributedSampler``).
        group_ids: group of each dataset index (e.g. 0 for landscape, 1 for portrait).
        batch_size: indices per batch.

    Examples::

        >>> list(GroupedBatchSampler(range(6), [0, 1, 0, 1, 1, 0], batch_size=2))
        [[0, 2], [1, 3], [5, 4]]
    """

    def __init__(self, sampler: Sampler[int] | Sequence[int], group_ids: Sequence[int], batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.sampler = sampler
        self.group_ids = list(group_ids)
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        buffers: dict[int, list[int]] = {}
        emitted = 0
        for index in self.sampler:
            buffer = buffers.setdefault(self.group_ids[index], [])
            buffer.append(index)
            if len(buffer) == self.batch_size:
                yield buffer
                buffers[self.group_ids[index]] = []
                emitted += 1
        leftover = [i for buffer in buffers.values() for i in buffer]
        while emitted < len(self) and leftover:
            yield leftover[: self.batch_size]
            leftover = leftover[self.batch_size :]
            emitted += 1

    def __len__(self) -> int:
        total = len(self.sampler)
        return total // self.batch_size if total >= self.batch_size else int(total > 0)
