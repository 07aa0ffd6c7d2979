"""One training run per output folder: a lock the run holds on its output folder while it runs.

The lock is an ``fcntl.flock`` on the folder itself (no file is added to it), which the operating system releases
when the process ends in any way (finished, failed, Ctrl-C, killed), so a folder is never left locked by a run that
is gone. A second run started into the same folder while the first runs is refused with one line naming the folder.
Where ``fcntl`` does not exist (Windows) no lock is taken.

Examples::

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> first = RunLock.acquire(folder)
    >>> RunLock.acquire(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: ... is in use by another training run: wait for it to end, or choose another \
--output-dir
    >>> first.release()
    >>> RunLock.acquire(folder).release()  # free again
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock"]


class RunLock:
    """The lock of a run's output folder, held from `acquire` until `release` or the end of the process."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, folder: str | Path) -> RunLock:
        """Take the lock of ``folder`` (an existing folder) for this process.

        Raises:
            ConfigError: another run (another process, or another `RunLock` of this one) holds it.
        """
        if fcntl is None:
            return cls(None)
        fd = os.open(Path(folder), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"{folder} is in use by another training run: wait for it to end, or choose another --output-dir"
            ) from None
        return cls(fd)

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
