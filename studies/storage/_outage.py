"""Storage outages are waited out, never turned into failures, never mistaken for dead workers.

A storage stops answering for a while in every real lab: a backup holds SQLite's write lock, the
database server restarts, a file is made read-only, a file server goes away. Three rules:

1. **Every storage call waits.** Each method of a storage :func:`install_retries` wraps, and each
   query layerlab runs on the storage's engine itself (:func:`storage_call`), is retried with
   exponential backoff (0.5 s doubling to 10 s) while the storage is locked, unreachable or
   read-only (``studies.storage._faults.is_transient``). One line says so when an outage begins (again
   every minute), and one when the storage answers again.
2. **Staleness counts only answered time.** A trial is declared lost when this process has watched
   its heartbeat stand still for the grace period *while the storage answered this process*
   (:class:`StaleJudge`). Any call of the process that failed, or took over :data:`SLOW_CALL`
   seconds, restarts every watch: a worker that could not reach the storage cannot judge others'
   heartbeats, which could not reach it either. Heartbeats themselves never wait in a loop: the
   heartbeat thread tries once per interval, so it beats as soon as the storage answers again.
3. **An outage past the limit stops the worker.** After ``--outage-limit`` seconds (default
   ``$LAYERLAB_STORAGE_WAIT`` or 600) of an outage, seen by any thread of the process, every later
   call of the process raises :class:`StorageLockedError`: one line, exit 4, with what to run.
   Its running cell is handed back if the storage lets it within :data:`HAND_BACK_WAIT` seconds;
   else its heartbeat stands still and the next worker to watch it queues it again. A worker
   that gave up never continues its trial when the storage comes back (others may have re-queued
   it meanwhile).

What counts as an outage, as a lost storage and as a full disk is in :mod:`studies.storage._faults`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from searchspace.errors import DiskFullError, StorageLockedError, StorageLostError
from studies.storage._faults import (
    _STOPPING,
    STORAGE_WAIT,
    STORAGE_WAIT_ENV,
    as_fault,
    cause_line,
    file_identity,
    is_transient,
)
from studies.storage._registry import redact

T = TypeVar("T")

SLOW_CALL = 2.0  # seconds: a storage call pending this long means the storage is not answering
WARN_EVERY = 60.0  # seconds between the "still waiting" lines of one outage
HAND_BACK_WAIT = 10.0  # seconds a hand-back waits for the storage (a stopping worker must not hang)
MAX_DELAY = 10.0  # the longest pause between two tries of one call
monotonic = time.monotonic  # the clock of every decision here (tests advance it)


def outage_limit() -> int:
    """The default outage limit: ``$LAYERLAB_STORAGE_WAIT`` seconds, else 600."""
    text = os.environ.get(STORAGE_WAIT_ENV)
    try:
        return max(1, math.ceil(float(text))) if text is not None else STORAGE_WAIT
    except ValueError:
        from searchspace.errors import ConfigError

        raise ConfigError(f"${STORAGE_WAIT_ENV} must be a number of seconds, got {text!r}") from None


class OutageClock:
    """What this process has seen of its storages, from every thread: the calls pending now,
    when the last failed or slow call ended, when the current outage began, and whether the
    process gave up (past the outage limit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, float] = {}  # call token -> when it started
        self._tokens = 0
        self.trouble_end = -math.inf  # when the last failed or slow call ended
        self.outage_start: float | None = None  # the first failure of the current outage
        self.gave_up: StorageLockedError | None = None
        self.warned: float | None = None  # when an outage was last announced (one line a minute at most)
        self.announced = False  # the current outage was announced: say when it ends

    def begin(self) -> tuple[int, float]:
        with self._lock:
            self._tokens += 1
            token = (self._tokens, monotonic())
            self._pending[token[0]] = token[1]
        return token

    def end(self, token: tuple[int, float], *, answered: bool) -> float | None:
        """Record a finished call; the length of the outage it ended (None when it ended none)."""
        now = monotonic()
        with self._lock:
            self._pending.pop(token[0], None)
            if not answered or now - token[1] > SLOW_CALL:
                self.trouble_end = now
            if not answered:
                if self.outage_start is None:
                    self.outage_start = token[1]
                return None
            began, self.outage_start = self.outage_start, None
            return None if began is None else now - began

    def answering_since(self) -> float:
        """Since when every call of this process was answered promptly (inf: one is pending)."""
        now = monotonic()
        with self._lock:
            if any(now - start > SLOW_CALL for start in self._pending.values()):
                return math.inf
            return self.trouble_end

    def outage(self) -> float:
        """Seconds the current outage has lasted (0 when the storage answers)."""
        with self._lock:
            return 0.0 if self.outage_start is None else monotonic() - self.outage_start

    def start_over(self) -> None:
        """A new run (a launch, a worker) in this process: forget that an earlier one gave up."""
        with self._lock:
            self.gave_up, self.outage_start, self.warned, self.announced = None, None, None, False


CLOCK = OutageClock()
_mode = threading.local()  # .active: inside a retried call (nested calls try once); .single: see single_attempt


class StorageUnanswered(Exception):
    """One try of a storage call found it locked, unreachable or read-only (single_attempt)."""


@contextlib.contextmanager
def single_attempt() -> Iterator[None]:
    """Storage calls meanwhile (this thread) are tried once: a transient failure raises
    :class:`StorageUnanswered` instead of waiting (heartbeats try again at their next beat)."""
    before = getattr(_mode, "single", False)
    _mode.single = True
    try:
        yield
    finally:
        _mode.single = before


def call_with_retry(call: Callable[[], T], *, url: str, what: str, max_wait: float | None = None,
                    identity: tuple[int, int] | None = None, max_delay: float = MAX_DELAY) -> T:
    """``call()``, retried with backoff (0.5 s doubling to ``max_delay``) while the storage at
    ``url`` is locked, unreachable or read-only, for up to ``max_wait`` seconds of outage (default
    :func:`outage_limit`); a lost storage or a full disk becomes its one-line :class:`FaultError`
    at once."""
    if getattr(_mode, "active", False):
        return call()  # nested in a retried call: the outermost one retries the whole
    limit = outage_limit() if max_wait is None else max_wait
    stopping = _STOPPING.is_set()  # a hand-back: short waits, and it may still run after giving up
    if stopping:
        limit = min(limit, HAND_BACK_WAIT)
    elif CLOCK.gave_up is not None:
        raise CLOCK.gave_up
    single = getattr(_mode, "single", False)
    start, delay = monotonic(), 0.5
    _mode.active = True
    try:
        while True:
            token = CLOCK.begin()
            try:
                result = call()
            except BaseException as exc:
                if not isinstance(exc, Exception):  # an interrupt, not the storage's answer
                    CLOCK.end(token, answered=True)
                    raise
                fault = as_fault(exc, url, identity)
                transient = not isinstance(fault, (DiskFullError, StorageLostError)) and is_transient(exc, url)
                CLOCK.end(token, answered=not transient)
                if not transient:
                    if fault is not None:
                        raise fault from None
                    raise
                waited = max(monotonic() - start, CLOCK.outage())
                if waited + (0 if single else delay) > limit:
                    if stopping:
                        raise StorageLockedError(
                            f"storage {redact(url)} did not answer within {limit:g} s while a running cell was handed "
                            f"back ({cause_line(exc)}); the cell is queued again once its heartbeat is seen to stop")
                    CLOCK.gave_up = StorageLockedError(  # every later call of this process stops too
                        f"storage {redact(url)} stayed locked or unreachable (or read-only) for {waited:.0f} s "
                        f"({cause_line(exc)}); stopped at the outage limit of {limit:g} s. Once it answers again, "
                        "run the same command: the study resumes (its running cells are queued again)")
                    raise CLOCK.gave_up from None
                _announce(url, exc, limit, delay, what)
                if single:
                    raise StorageUnanswered(cause_line(exc)) from None
                time.sleep(delay)
                delay = min(max_delay, delay * 2)
            else:
                lasted = CLOCK.end(token, answered=True)
                if lasted is not None and CLOCK.announced:
                    CLOCK.announced = False
                    _say(f"storage {redact(url)} answers again after {lasted:.0f} s; carrying on")
                return result
    finally:
        _mode.active = False


def outage_fault(exc: BaseException, url: str | None) -> StorageLockedError | None:
    """A transient storage error that escaped the retries (a query not routed through them), as
    the one-line fault it is; None for anything else."""
    if url is None or not is_transient(exc, url):
        return None
    return StorageLockedError(f"storage {redact(url)} is locked or unreachable ({cause_line(exc)}); once it answers "
                              "again, run the same command: the study resumes")


def _announce(url: str, exc: BaseException, limit: float, delay: float, what: str) -> None:
    """One line when an outage begins and at most one a minute after (all threads together)."""
    now = monotonic()
    with CLOCK._lock:
        due = CLOCK.warned is None or now - CLOCK.warned >= WARN_EVERY
        if due:
            CLOCK.warned, CLOCK.announced = now, True
    if due:
        _say(f"storage {redact(url)} is locked, unreachable or read-only ({cause_line(exc)}); {what}: retrying in "
             f"{delay:g} s (waited {CLOCK.outage():.0f} s of at most {limit:g} s; --outage-limit)")


def _say(line: str) -> None:
    sys.stderr.write(f"warning: {line}\n")
    sys.stderr.flush()


def _storage_methods(storage: Any) -> list[str]:
    from optuna.storages import BaseStorage

    names = [n for n in vars(BaseStorage) if not n.startswith("_") and callable(getattr(BaseStorage, n))]
    # and the private ones Optuna's _CachedStorage (around an RDB storage) calls on it
    names += ["record_heartbeat", "_get_stale_trial_ids", "_get_trials", "_create_new_trial", "_set_trial_param",
              "_get_best_trial_id"]
    return [n for n in names if n not in ("remove_session", "check_trial_is_updatable") and hasattr(storage, n)]


def install_retries(storage: Any, url: str, max_wait: float | None = None, max_delay: float = MAX_DELAY) -> Any:
    """Wrap every storage method of ``storage`` (on the instance, so ``isinstance`` checks and
    Optuna's heartbeat machinery see the same object) in :func:`call_with_retry`, and record
    how, for :func:`storage_call`. ``max_delay``: the longest pause between two tries (the
    storage's heartbeat interval: a call goes on within one beat of the storage's return)."""
    how = {"url": url, "identity": file_identity(url), "max_wait": max_wait, "max_delay": max_delay}
    for name in _storage_methods(storage):
        method = getattr(storage, name)

        def wrapped(*args: Any, _method=method, _name=name, **kwargs: Any) -> Any:
            return call_with_retry(lambda: _method(*args, **kwargs), what=_name, **how)

        setattr(storage, name, wrapped)
    storage._layerlab_retry = how
    return storage


def unwrap(storage: Any) -> Any:
    """The storage behind Optuna's ``_CachedStorage`` wrapper (which ``load_study`` puts around an
    RDB storage, and which caches nothing of attributes); any other storage as is (a
    JournalStorage's own ``_backend`` is its log file). Here, below every backend, because the
    retries are recorded on the storage behind the wrapper."""
    from optuna.storages._cached_storage import _CachedStorage

    return storage._backend if isinstance(storage, _CachedStorage) else storage


def storage_call(storage: Any, what: str, call: Callable[[], T]) -> T:
    """``call()`` (a query layerlab runs on ``storage``'s engine or log itself, not through a
    storage method) retried as the storage's methods are; as is for a storage not from
    ``open_storage``."""
    how = getattr(unwrap(storage), "_layerlab_retry", None)
    if how is None:
        return call()
    return call_with_retry(call, what=what, **how)


# -- staleness ----------------------------------------------------------------------------------


class StaleJudge:
    """When this process first saw each running trial's current heartbeat (see rule 2 above)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Any, float]] = {}  # trial id -> (heartbeat, seen no later than)

    def stale(self, beats: dict[int, Any], read_start: float, read_end: float, grace: float) -> list[int]:
        """The trials whose heartbeat in ``beats`` (read between ``read_start`` and ``read_end``)
        has stood still for ``grace`` seconds of time in which the storage answered."""
        since = CLOCK.answering_since()
        stale = []
        for trial_id, beat in beats.items():
            seen = self._seen.get(trial_id)
            if seen is None or seen[0] != beat or seen[1] < since:
                self._seen[trial_id] = (beat, read_end)  # a new beat, or an outage since: watch anew
            elif read_start - seen[1] >= grace:
                stale.append(trial_id)
        for trial_id in set(self._seen) - set(beats):
            del self._seen[trial_id]  # finished, or failed by another worker
        return stale


_JUDGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # storage backend -> {study id: StaleJudge}
