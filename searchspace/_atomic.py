"""Atomic file writes: a reader sees the previous file or the new one, never a part of either.

Every file layerlab writes for a user to keep (checkpoints, trial artifacts, reports, what the
dashboard stores) goes through :func:`atomic_write`: the bytes go to a temporary file in the same
directory, which is flushed and fsynced and then moved over the target with ``os.replace`` (atomic
on POSIX and Windows), and the directory is fsynced so the move survives a power cut. A kill -9 or
a full disk in the middle leaves the previous file as it was; on an error the temporary file is
removed (after a kill -9 it stays, hidden, beside the target and is never read; :func:`leftover_temporaries`
finds it for the target's owner to remove).

Here, in the bottom package, because objectives (checkpoints) and studies (artifacts, reports)
both write files and both may import searchspace. Written by hand: neither the standard library
nor the project's dependencies have a write-then-rename helper.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# the temporary file of a write of <name> is .<name>.<random>.tmp: hidden, and never read as <name>
_TEMP_PREFIX = ".{name}."
_TEMP_SUFFIX = ".tmp"


def atomic_write(
    path: str | Path,
    data: bytes | str | Callable[[BinaryIO], object],
    *,
    encoding: str = "utf-8",
    previous: str | Path | None = None,
) -> Path:
    """Write ``data`` (bytes, text, or a function that writes to a binary file) to ``path``
    atomically; returns ``path``.

    ``previous``: the file being replaced is first moved there (a checkpoint keeps the one before
    as ``<name>.prev``). An ``OSError`` that names no file (a failed ``write``) is raised again with
    ``path`` as its file name, so the one-line error says where the disk was full."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX.format(name=path.name), suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp makes the file private (0600): give it the mode open() would (0666 less the umask),
        # so a report or an artifact is as readable by the team as any file the user writes
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode(encoding) if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        if previous is not None and path.exists():
            os.replace(path, previous)  # a crash here leaves only `previous`: its reader falls back to it
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)  # ENOSPC, an interrupt: no half-written file remains
        if isinstance(exc, OSError) and exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    _sync_directory(path.parent)
    return path


def leftover_temporaries(path: str | Path) -> list[Path]:
    """The temporary files that writes of ``path`` killed mid-way (kill -9, power cut) left beside
    it. Only the owner of ``path`` may remove them, and only when no write of it is in flight: a
    finished checkpoint's owner does, so a resumed cell leaves nothing behind."""
    path = Path(path)
    return sorted(path.parent.glob(f"{glob.escape(_TEMP_PREFIX.format(name=path.name))}*{_TEMP_SUFFIX}"))


def _sync_directory(directory: Path) -> None:
    """fsync a directory so a rename in it is durable (POSIX; a no-op where directories cannot be
    opened, e.g. Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
