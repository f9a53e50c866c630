"""Checkpoints: taken by time, written atomically, checked by a checksum, the last two kept.

**When.** A running fit saves a checkpoint at the end of an epoch once ``interval`` seconds have
passed since the last one (or since the fit started or resumed). The default is 30 s
(``$LAYERLAB_CHECKPOINT_INTERVAL`` changes it; 0 saves after every epoch). A ``kill -9`` therefore
loses at most max(one epoch, ``interval``) of work, and short trials write no checkpoint at all.

**How.** The state is serialised with ``torch.save`` into memory, and the file is
``MAGIC + sha256(payload) + payload``, written to a temporary file in the same directory, fsynced
and moved into place with ``os.replace``: the checksum is written atomically with the content it
covers, and a crash mid-write leaves the previous checkpoint intact. Before the move, the current
checkpoint becomes ``<name>.prev``, so the previous good one survives a damaged newest one. On
ENOSPC the temporary file is removed before the error propagates: no half-written file remains.

**Reading.** The payload is read back with ``torch.load(..., weights_only=True)`` (only tensors and
plain containers; nothing is unpickled) after its checksum matches. A damaged file (truncated,
overwritten, random bytes, wrong checksum) is named in one warning line, moved aside to
``<name>.damaged``, and the previous checkpoint is tried; with none left the fit restarts at epoch 0.

**Whose.** A checksum shows integrity, not origin: a valid checkpoint of another cell or study
copied over this one's would resume the wrong training. Inside :func:`checkpoint_owner` (the worker
runs every trial in it) a checkpoint records its owner: the study, a random key stored with the
study (two studies of one name in two storages differ) and the cell (the file's name, which the
objective builds from the config id and the repeat). One recording another owner, or none, is named
in one warning line, moved aside to ``<name>.foreign`` and never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch

from searchspace.interface import atomic_write, leftover_temporaries

log = logging.getLogger("layerlab")

MAGIC = b"LAYERLAB-CKPT-1\n"  # format tag; the 32-byte SHA-256 digest of the payload follows
CHECKPOINT_INTERVAL = 30.0  # seconds between checkpoints of a running fit (at epoch ends)
INTERVAL_ENV = "LAYERLAB_CHECKPOINT_INTERVAL"


OWNER_FIELD = "owner"  # the checkpoint state's entry naming study, key and cell (see "Whose" above)
_OWNER: ContextVar[dict[str, Any] | None] = ContextVar("layerlab_checkpoint_owner", default=None)


class CheckpointDamaged(ValueError):
    """A checkpoint file failed its checksum or could not be decoded."""


@contextlib.contextmanager
def checkpoint_owner(study: str, key: str | None) -> Iterator[None]:
    """Checkpoints saved meanwhile (in this thread) record ``study``, ``key`` and their cell;
    a checkpoint loaded meanwhile that records another owner, or none, is set aside."""
    token = _OWNER.set({"study": study, "key": key})
    try:
        yield
    finally:
        _OWNER.reset(token)


def owner_of(path: Path) -> dict[str, Any] | None:
    """The owner a checkpoint at ``path`` must record here (None outside :func:`checkpoint_owner`)."""
    owner = _OWNER.get()
    return None if owner is None else {**owner, "cell": Path(path).name.removesuffix(".pt")}


def checkpoint_interval(value: float | None = None) -> float:
    """Seconds between checkpoints: ``value``, else ``$LAYERLAB_CHECKPOINT_INTERVAL``, else 30."""
    if value is None:
        text = os.environ.get(INTERVAL_ENV)
        if text is None:
            return CHECKPOINT_INTERVAL
        try:
            value = float(text)
        except ValueError:
            from searchspace.errors import ConfigError

            raise ConfigError(f"${INTERVAL_ENV} must be a number of seconds >= 0, got {text!r}") from None
    if not value >= 0:
        from searchspace.errors import ConfigError

        raise ConfigError(f"checkpoint interval must be a number of seconds >= 0, got {value!r}")
    return float(value)


def previous_path(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def encode(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode(blob: bytes) -> dict[str, Any]:
    """The state in a checkpoint's bytes; CheckpointDamaged unless the checksum matches."""
    head = len(MAGIC) + 32
    if len(blob) < head or not blob.startswith(MAGIC):
        raise CheckpointDamaged("no layerlab checkpoint header (truncated or overwritten)")
    digest, payload = blob[len(MAGIC):head], blob[head:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointDamaged("checksum mismatch (truncated or overwritten)")
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # a matching checksum over undecodable bytes: written by something else
        raise CheckpointDamaged(f"undecodable ({type(exc).__name__})") from None


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically; the checkpoint it replaces becomes ``<path>.prev``."""
    path = Path(path)
    blob = encode(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, blob, previous=previous_path(path))  # a crash mid-way leaves .prev, which load falls back to


def load_checkpoint(path: Path, *, owner: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The newest good checkpoint at ``path`` (or its ``.prev``); None when there is none.

    A damaged file is named in one warning line and moved aside to ``<name>.damaged``; with
    ``owner``, one that records another owner (or none) likewise to ``<name>.foreign``."""
    path = Path(path)
    for candidate in (path, previous_path(path)):
        if not candidate.exists():
            continue
        fallback = "the previous checkpoint" if candidate == path and previous_path(path).exists() else "epoch 0"
        try:
            state = decode(candidate.read_bytes())
        except CheckpointDamaged as exc:
            aside = candidate.with_name(candidate.name + ".damaged")
            os.replace(candidate, aside)
            log.warning("checkpoint %s is damaged (%s); moved aside to %s, resuming from %s", candidate, exc,
                        aside.name, fallback)
            continue
        recorded = state.pop(OWNER_FIELD, None)
        if owner is not None and recorded != owner:
            aside = candidate.with_name(candidate.name + ".foreign")
            os.replace(candidate, aside)
            whose = (f"study {recorded.get('study')!r}, cell {recorded.get('cell')!r}" if isinstance(recorded, dict)
                     else "no owner")
            log.warning("checkpoint %s belongs to another cell or study (it records %s; this is study %r, cell %r); "
                        "moved aside to %s, not loaded; resuming from %s", candidate, whose, owner["study"],
                        owner["cell"], aside.name, fallback)
            continue
        return state
    return None


def remove_checkpoint(path: Path) -> None:
    """Delete a finished cell's checkpoints: the newest, the previous, and the temporary files of
    saves that a kill -9 interrupted (the cell is finished, so no save of it is in flight)."""
    path = Path(path)
    for candidate in (path, previous_path(path), *leftover_temporaries(path)):
        candidate.unlink(missing_ok=True)


class Checkpointer:
    """Saves at epoch ends once ``interval`` seconds have passed since the last save."""

    def __init__(self, path: Path, interval: float | None = None) -> None:
        self.path = Path(path)
        self.interval = checkpoint_interval(interval)
        self.last = time.monotonic()
        self.owner = owner_of(self.path)  # inside checkpoint_owner: the study, key and cell it belongs to

    def load(self) -> dict[str, Any] | None:
        state = load_checkpoint(self.path, owner=self.owner)
        self.last = time.monotonic()  # the clock starts when training (re)starts
        return state

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.interval

    def save(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.path, {**state, OWNER_FIELD: self.owner} if self.owner is not None else state)
        self.last = time.monotonic()
