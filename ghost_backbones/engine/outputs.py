"""Output folders that never overwrite the user's files: checked before any work, unique names, partial results.

Shared by both tasks' ``predict`` CLIs and by the training loop (`fit` checks ``train.output_dir`` with
:func:`prepare_output_dir` before the data and the model are built), so the rules are written once:

- an output folder that is a file, cannot be created or cannot be written is one clear error, before any work;
- prediction refuses an output folder that holds one of its input images (a result would overwrite an input), or a
  file of the name one of its results would take (an earlier prediction's ``detections.json``, a drawing, a mask of
  the user's): a prediction writes over no file it did not create;
- every input gets its own output name (:func:`output_names`: ``a.jpg`` and ``a.png`` do not share ``a.png``);
- an evaluation never replaces a finished run's file (:func:`free_name` finds ``metrics_test.json``, ``_2`` ...);
- unreadable photos stop prediction with one line saying what was already written, or with ``skip_bad_images``
  are skipped with a warning and a count (:func:`iter_images`).

Examples::

    >>> import tempfile
    >>> photos = Path(tempfile.mkdtemp())
    >>> output_names([photos / "a.jpg", photos / "a.png", photos / "b.jpg"], keep_suffix=False)
    ['a_jpg', 'a_png', 'b']
    >>> (photos / "a.jpg").touch()
    >>> prepare_output_dir(photos, inputs=[photos / "a.jpg"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    ghost_backbones.errors.ConfigError: --output-dir ... holds the input image(s) ['a.jpg']: the results would \
overwrite them; choose another folder
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from PIL import Image

from ..data.images import read_rgb
from ..errors import ConfigError, DataError

__all__ = [
    "RUN_FILES",
    "evaluation_path",
    "free_name",
    "iter_images",
    "output_names",
    "prepare_output_dir",
    "refuse_existing_run",
]

# What a training run writes: a folder holding one of them holds a run that a new one (not resuming it) would overwrite.
RUN_FILES = ("checkpoint.pth", "best.pth", "metrics.json")

_SHOWN = 5  # names listed in a message before "... and N more"


def _listed(paths: Sequence[Path]) -> str:
    names = [p.name for p in paths[:_SHOWN]]
    return f"{names}" + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def prepare_output_dir(
    folder: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    outputs: Iterable[str] = (),
    flag: str = "--output-dir",
) -> Path:
    """Create ``folder`` if needed and check it can take the results; returns it.

    Args:
        folder: the output folder.
        inputs: files the command reads; a folder holding any of them is refused (results would overwrite them).
        outputs: the names of the files the command writes in ``folder``; a folder already holding one of them is
            refused (an earlier run's results, or the user's own file, would be replaced).
        flag: how the message names the folder (``--output-dir``, ``train.output_dir``).

    Raises:
        ConfigError: ``folder`` is a file, cannot be created, cannot be written, holds an input or a file of an
            output's name.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{flag} {folder} is a file, not a folder")
    if folder.is_dir():
        resolved = folder.resolve()
        held = [Path(p) for p in inputs if Path(p).resolve().parent == resolved]
        if held:
            raise ConfigError(
                f"{flag} {folder} holds the input image(s) {_listed(held)}: the results would overwrite them; "
                "choose another folder"
            )
        _refuse_taken(folder, outputs, flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{flag} {folder}: cannot create the folder ({e.strerror or e})") from e
    try:
        fd, probe = tempfile.mkstemp(prefix=".write_test.", dir=folder)
    except OSError as e:
        raise ConfigError(f"{flag} {folder} is not writable ({e.strerror or e})") from e
    os.close(fd)
    os.unlink(probe)
    return folder


def _refuse_taken(folder: Path, outputs: Iterable[str], flag: str) -> None:
    """Raise `ConfigError` when ``folder`` already holds a file (or folder) of one of the ``outputs`` names."""
    taken = [folder / name for name in outputs if (folder / name).exists()]
    if taken:
        raise ConfigError(
            f"{flag} {folder} already holds {_listed(taken)}, which this run would write: nothing in it is replaced; "
            "choose another folder, or an empty one"
        )


def output_names(paths: Sequence[Path], *, keep_suffix: bool) -> list[str]:
    """A distinct output name per input, in order (compared ignoring case, as some file systems do).

    Args:
        paths: the input files.
        keep_suffix: ``True``: the file name (``a.jpg``; the same name from two folders: ``a_2.jpg``).
            ``False``: the stem, for outputs of another format (``a`` -> ``a.png``); inputs sharing a stem keep
            their suffix in it (``a_jpg``, ``a_png``).

    Examples::

        >>> output_names([Path("x/a.jpg"), Path("y/a.jpg"), Path("y/b.png")], keep_suffix=True)
        ['a.jpg', 'a_2.jpg', 'b.png']
    """
    if keep_suffix:
        wanted = [(p.stem, p.suffix) for p in paths]
    else:
        stems = Counter(p.stem.casefold() for p in paths)
        wanted = [(p.stem if stems[p.stem.casefold()] == 1 else f"{p.stem}_{p.suffix.lstrip('.')}", "") for p in paths]
    taken: set[str] = set()
    names = []
    for stem, suffix in wanted:
        name, n = stem + suffix, 1
        while name.casefold() in taken:
            n += 1
            name = f"{stem}_{n}{suffix}"
        taken.add(name.casefold())
        names.append(name)
    return names


def free_name(folder: str | Path, name: str) -> Path:
    """``folder/name``, or the first of ``stem_2.ext``, ``stem_3.ext`` ... that does not exist yet.

    Examples::

        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "metrics_test.json").touch()
        >>> free_name(folder, "metrics_test.json").name
        'metrics_test_2.json'
    """
    path = Path(folder) / name
    n = 1
    while path.exists():
        n += 1
        path = path.with_name(f"{Path(name).stem}_{n}{Path(name).suffix}")
    return path


def refuse_existing_run(folder: str | Path) -> None:
    """Raise `ConfigError` when ``folder`` holds a training run's files (:data:`RUN_FILES`): a new run would overwrite.

    Examples::

        >>> import tempfile
        >>> refuse_existing_run(tempfile.mkdtemp())  # an empty folder is fine
    """
    found = [name for name in RUN_FILES if (Path(folder) / name).exists()]
    if found:
        raise ConfigError(
            f"{folder} already holds a run ({', '.join(found)}) that this run would overwrite: continue it with "
            "--resume auto, or choose another --output-dir"
        )


def evaluation_path(folder: str | Path) -> Path:
    """Where an evaluation of a checkpoint (``--test-only``) goes: ``metrics.json``, unless a run's is there.

    Then the first free ``metrics_test.json``, ``metrics_test_2.json`` ...: a finished run's results stay.
    """
    path = Path(folder) / "metrics.json"
    return free_name(folder, "metrics_test.json") if path.exists() else path


def iter_images(
    paths: Sequence[Path], *, skip_bad_images: bool = False, results: str = "the output folder"
) -> Iterator[tuple[int, Path, Image.Image]]:
    """``(index, path, RGB image)`` of each readable image of ``paths`` (EXIF orientation applied), in order.

    Args:
        paths: the images.
        skip_bad_images: warn about an unreadable image (with the count so far) and go on; at the end one
            warning sums up. Otherwise the first unreadable image stops with a `DataError` saying how many images
            were done before it and where their results are.
        results: where the results of the images done so far are (named in the error).

    Examples::

        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (4, 4)).save(folder / "a.png")
        >>> (folder / "b.png").write_bytes(b"not a png")
        9
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     done = [path.name for _, path, _ in iter_images([folder / "b.png", folder / "a.png"],
        ...                                                    skip_bad_images=True)]
        >>> done, str(caught[-1].message)
        (['a.png'], "skipped 1 unreadable image(s) of 2: ['b.png']")
    """
    skipped: list[Path] = []
    done = 0
    for index, path in enumerate(paths):
        try:
            image = read_rgb(path)
        except DataError as e:
            if not skip_bad_images:
                raise DataError(
                    f"{e}; the {done} image(s) before it are done (results in {results}); pass --skip-bad-images "
                    "to skip unreadable images"
                ) from e
            skipped.append(path)
            warnings.warn(f"skipped unreadable image ({len(skipped)} so far): {e}", UserWarning, stacklevel=2)
            continue
        yield index, path, image
        done += 1
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s) of {len(paths)}: {_listed(skipped)}", UserWarning, stacklevel=2
        )
