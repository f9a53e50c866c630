"""The storage interface the engine talks to: :class:`Backend`, and opening a storage from a URL.

- ``sqlite:///runs/layerlab.db`` (default): one machine, several local workers.
- ``postgresql://user:pass@host:5432/db``: many workers on many machines share one database.
- ``journal:///shared/fs/study.log`` (or a path ending in ``.log``): Optuna's JournalStorage on a
  shared file system.
- ``memory://name``: an in-process storage (tests, notebooks); gone when the process ends.

The engine hands Optuna the storage (``Backend.storage``) and asks the backend for everything
Optuna's public API does not offer: the atomic claim of a waiting cell, trials queued and
attributes written in one transaction, heartbeats judged on answered time, the study lock. Each
backend is one module of this package (``_sqlite``, ``_postgres``, ``_journal``, ``_memory``, and
``_rdb`` for what SQLite and PostgreSQL share); only those modules touch Optuna's private
attributes or ask which kind of storage they have.

Every storage beats a heartbeat for running trials: RDB storages use Optuna's own; the journal
gets a small lease (:mod:`studies.storage._journal`). A worker that dies mid-trial stops beating;
another worker marks its trial failed after the grace period and Optuna's
``RetryHeartbeatStaleTrialCallback`` re-queues the same cell (same parameters, same repeat) once.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from searchspace.errors import StorageError
from studies.storage import _outage  # its clock is read through the module: tests move it
from studies.storage._outage import _JUDGES, StaleJudge, outage_limit, storage_call, unwrap
from studies.storage._registry import backend_class, check_url, registered

T = TypeVar("T")

DEFAULT_STORAGE = "sqlite:///runs/layerlab.db"
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats
GRACE_PERIOD = 40  # seconds without a heartbeat before a trial counts as dead


@dataclass(frozen=True)
class StorageOptions:
    """How workers keep their claims alive and wait out an outage. The class also names the
    storage a study goes to when none is given (``StorageOptions.DEFAULT_STORAGE``)."""

    DEFAULT_STORAGE: ClassVar[str] = DEFAULT_STORAGE
    heartbeat_interval: int = HEARTBEAT_INTERVAL  # seconds between heartbeats of a running trial
    grace_period: int = GRACE_PERIOD  # seconds of answered time without a heartbeat before a trial counts as dead
    max_retry: int = 3  # how many times one cell is re-queued after its worker died
    # seconds a storage may stay locked, unreachable or read-only before the worker stops (exit 4);
    # default $LAYERLAB_STORAGE_WAIT or 600 (studies.storage._outage)
    outage_limit: int = field(default_factory=outage_limit)

    def __post_init__(self) -> None:
        from studies._options import check_options

        for name in ("heartbeat_interval", "grace_period", "max_retry"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "max_retry" else 1):
                raise StorageError(f"{name} must be a positive integer, got {value!r}")
        if self.grace_period <= self.heartbeat_interval:
            raise StorageError(
                f"grace_period ({self.grace_period}s) must exceed heartbeat_interval "
                f"({self.heartbeat_interval}s), or live workers are declared dead"
            )
        check_options(heartbeat_interval=self.heartbeat_interval, grace_period=self.grace_period,
                      outage_limit=self.outage_limit)


def retry_callback(options: StorageOptions) -> RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that queues a dead worker's cell again (at most ``max_retry`` times)."""
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; we rely on them knowingly
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=options.max_retry)


class Backend(ABC):
    """One kind of storage, as the engine needs it. An instance is a view of one Optuna storage
    (``storage``: as a study holds it, possibly inside Optuna's cache); it keeps no state of its
    own, so :func:`backend_of` can make one whenever the engine asks."""

    scheme: ClassVar[str]  # the URL scheme this backend is registered under
    aliases: ClassVar[tuple[str, ...]] = ()  # other spellings of the scheme ("postgres")
    suffixes: ClassVar[tuple[str, ...]] = ()  # endings that name this backend on a bare path (".log")
    file_kind: ClassVar[str] = "file"  # what a missing file is called in an error ("SQLite database")

    def __init__(self, storage: optuna.storages.BaseStorage) -> None:
        self.storage = storage
        self._raw = unwrap(storage)

    # -- URLs and opening -----------------------------------------------------------------------

    @classmethod
    def file_path(cls, url: str) -> Path | None:
        """The file a file-based storage lives in; None for a server or memory."""
        return None

    @classmethod
    @abstractmethod
    def open(cls, url: str, *, create: bool, options: StorageOptions, wait: bool) -> Backend:
        """Open (with ``create``, initialise) the storage at ``url``, its calls retried through
        outages (:mod:`studies.storage._outage`); unreachable -> StorageError at once, or with
        ``wait`` after the outage limit."""

    @classmethod
    @abstractmethod
    def adopts(cls, storage: optuna.storages.BaseStorage) -> bool:
        """Whether this backend runs ``storage``, an Optuna storage not opened by :func:`open_storage`."""

    @property
    def url(self) -> str | None:
        """The URL the storage was opened from (None: opened outside layerlab)."""
        return (getattr(self._raw, "_layerlab_retry", None) or {}).get("url")

    def close(self) -> None:
        """Close pooled connections (the storage stays usable)."""

    # -- calls ------------------------------------------------------------------------------------

    def call(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` (a query run on the storage itself) retried through outages, as the
        storage's methods are."""
        return storage_call(self.storage, what, call)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self.storage.get_trial(trial_id)

    def set_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.storage.set_trial_user_attr(trial_id, key, value)

    def set_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.storage.set_trial_system_attr(trial_id, key, value)

    def set_state(self, trial_id: int, state: TrialState) -> bool:
        """Optuna's state transition; False when another worker moved the trial first."""
        return self.storage.set_trial_state_values(trial_id, state)

    @abstractmethod
    def set_trial_attrs(self, trial_id: int, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None:
        """Set user and system attributes of a running trial in one transaction (or one append)."""

    @abstractmethod
    def add_trials(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        """Queue trials (WAITING, with their params and attributes), as few transactions as the storage allows."""

    # -- claims -----------------------------------------------------------------------------------

    def ensure_claim_index(self) -> None:
        """Make :meth:`waiting_ids` cheap on large studies (an index; nothing elsewhere)."""

    @abstractmethod
    def waiting_ids(self, study: optuna.Study, limit: int) -> list[int]:
        """Up to ``limit`` ids of WAITING trials of ``study``, oldest first, without reading every trial."""

    @abstractmethod
    def claim(self, study: optuna.Study, trial_id: int, token: str) -> bool:
        """Atomically move WAITING trial ``trial_id`` to RUNNING for the worker holding ``token``;
        False when another worker took it first."""

    def note_claimed(self, study: optuna.Study, trial_id: int) -> None:
        """Tell a cache in front of the storage about a trial claimed past it (nothing by default)."""

    def cell_trials(self, study: optuna.Study) -> list[Any]:
        """Every trial with its number, state, params and the attributes naming its cell."""
        return study.get_trials(deepcopy=False)

    def has_running(self, study: optuna.Study) -> bool:
        """Whether any trial of ``study`` is RUNNING."""
        return self.call("looking for running cells", lambda: bool(
            self._raw.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,))))

    # -- heartbeats ---------------------------------------------------------------------------------

    def has_heartbeat(self) -> bool:
        from optuna.storages._heartbeat import is_heartbeat_enabled

        return is_heartbeat_enabled(self.storage)

    def record_heartbeat(self, trial_id: int) -> None:
        self.storage.record_heartbeat(trial_id)

    @property
    def grace_period(self) -> int:
        return getattr(self._raw, "grace_period", None) or GRACE_PERIOD

    def running_heartbeats(self, study: optuna.Study) -> dict[int, Any] | None:
        """Trial id -> last heartbeat of every RUNNING trial of ``study`` that has one; None when
        this storage's heartbeats cannot be read here (Optuna's own staleness rule is used)."""
        return None

    def fail_stale_trials(self, study: optuna.Study) -> None:
        """Fail the trials whose heartbeat stood still for the grace period of answered time
        (:class:`studies.storage._outage.StaleJudge`), recording ``fail_reason`` 'worker lost (no
        heartbeat for N s)' on each first; the storage's callback (Optuna's
        ``RetryHeartbeatStaleTrialCallback``) queues each cell again, once: only the worker whose
        FAIL transition succeeded does so."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

        storage = study._storage
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if not isinstance(storage, BaseHeartbeat) or not is_heartbeat_enabled(storage):
                return
            grace_period = self.grace_period
            read_start = _outage.monotonic()
            beats = self.call("reading heartbeats", lambda: self.running_heartbeats(study))
            if beats is None:  # a heartbeat storage of another kind: Optuna's own rule
                stale = storage._get_stale_trial_ids(study._study_id)
            else:
                judges = _JUDGES.setdefault(self._raw, {})
                judge = judges.setdefault(study._study_id, StaleJudge())
                stale = judge.stale(beats, read_start, _outage.monotonic(), grace_period)
            failed = []
            for trial_id in stale:
                try:
                    storage.set_trial_user_attr(trial_id, "fail_reason",
                                                f"worker lost (no heartbeat for {grace_period} s)")
                    if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                        failed.append(trial_id)
                except UpdateFinishedTrialError:
                    pass  # another worker failed it first, or it finished after all
            callback = storage.get_heartbeat_stale_trial_callback()
            if callback is not None:
                for trial_id in failed:
                    callback(study, copy.deepcopy(storage.get_trial(trial_id)))

    # -- the study lock -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def study_lock(self, study_name: str, url: str | None = None) -> Iterator[None]:
        """Hold a lock named after the study while creating it and queueing its cells, so two
        ``study launch`` commands started at once (e.g. on two machines) cannot queue a cell
        twice. ``url``: the storage's URL when it was opened elsewhere. By default, no lock (one
        process: the in-memory storage; MySQL: launch such studies from one process)."""
        yield


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """``flock`` on ``path`` (file-based storages' study lock)."""
    with open(path, "ab") as handle:  # "ab": creates the SQLite lock file, never truncates the journal
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def backend_of(study_or_storage: Any) -> Backend:
    """The backend running a study's storage (or a storage from :func:`open_storage`)."""
    storage = getattr(study_or_storage, "_storage", study_or_storage)  # an optuna.Study holds its storage there
    raw = unwrap(storage)
    cls = getattr(raw, "_layerlab_backend", None)
    if cls is None:
        cls = next(c for c in registered() if c.adopts(raw))
    return cls(storage)


def trial_id_of(trial: Any) -> int:
    """The storage's id of a trial (an ``optuna.trial.Trial`` or ``FrozenTrial``): Optuna keeps it
    private, and every storage call names a trial by it."""
    return trial._trial_id


def open_storage(url: str, *, create: bool = False, options: StorageOptions | None = None,
                 wait: bool = False) -> optuna.storages.BaseStorage:
    """Open (and with ``create``, initialise) the storage at ``url``; unreachable -> StorageError
    at once, or with ``wait`` (a worker joining a study that exists) after the outage limit."""
    options = options or StorageOptions()
    check_url(url, create=create)
    cls = backend_class(url)
    path = cls.file_path(url)
    if create and path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of storage {url!r}: "
                               f"{exc.strerror or exc} ({path.parent})") from None
    backend = cls.open(url, create=create, options=options, wait=wait)
    backend._raw._layerlab_backend = cls
    _OPENED.add(backend._raw)
    return backend.storage


# Every storage open_storage made that is still alive. The collector no longer walks what lives as
# long as the process (objectives._warm freezes it), so an engine is not closed by a collection
# at exit: close_storages closes them explicitly. On SQLite that matters beyond file descriptors:
# the last connection to close folds the write-ahead log back into the database file.
_OPENED: weakref.WeakSet = weakref.WeakSet()


def close_storage(storage: Any) -> None:
    """Close the pooled connections of one storage from :func:`open_storage` (it stays usable)."""
    backend_of(storage).close()


def close_storages() -> None:
    """Close the pooled connections of every storage :func:`open_storage` opened (it stays usable:
    it opens new connections when used again). Called when a worker or a launch ends and before a
    layerlab process exits."""
    for raw in list(_OPENED):
        backend_of(raw).close()
