"""Storage URLs -> Optuna storages, with heartbeats on every backend layerlab opens.

- ``sqlite:///runs/layerlab.db`` (default): one machine, several local workers.
- ``postgresql://user:pass@host:5432/db``: many workers on many machines share one database.
- ``journal:///shared/fs/study.log`` (or a path ending in ``.log``): Optuna's JournalStorage on a
  shared file system.

Every storage beats a heartbeat for running trials: RDB storages (SQLite, PostgreSQL, MySQL) use
Optuna's own; the journal gets a small lease (:mod:`studies._journal`). A worker that dies mid-trial
stops beating; another worker marks its trial failed after the grace period and Optuna's
``RetryHeartbeatStaleTrialCallback`` re-queues the same cell (same parameters, same repeat) once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from searchspace.errors import LayerlabError, StorageError, valid_list
from studies._outage import MAX_DELAY, call_with_retry, fail_stale_with_reason, install_retries, outage_limit

DEFAULT_STORAGE = "sqlite:///runs/layerlab.db"
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats
GRACE_PERIOD = 40  # seconds without a heartbeat before a trial counts as dead
SCHEMES = ("sqlite", "postgresql", "mysql", "journal")
SQLITE_BUSY_TIMEOUT = 60  # seconds a SQLite writer waits for the lock before "database is locked"
# ($LAYERLAB_SQLITE_BUSY_TIMEOUT overrides it; past it, studies._faults retries with backoff)


@dataclass(frozen=True)
class StorageOptions:
    heartbeat_interval: int = HEARTBEAT_INTERVAL  # seconds between heartbeats of a running trial
    grace_period: int = GRACE_PERIOD  # seconds of answered time without a heartbeat before a trial counts as dead
    max_retry: int = 3  # how many times one cell is re-queued after its worker died
    # seconds a storage may stay locked, unreachable or read-only before the worker stops (exit 4);
    # default $LAYERLAB_STORAGE_WAIT or 600 (studies._outage)
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


def scheme_of(url: str) -> str:
    if "://" not in url:
        if url.endswith((".log", ".journal")):
            return "journal"
        raise StorageError(
            f"storage URL {url!r} has no scheme; valid schemes: {valid_list(SCHEMES)} "
            "(e.g. sqlite:///runs/layerlab.db, postgresql://user@127.0.0.1/db, journal:///path/study.log)"
        )
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "postgres":  # the libpq spelling; SQLAlchemy only knows "postgresql"
        scheme = "postgresql"
    if scheme not in SCHEMES:
        raise StorageError(f"unknown storage scheme {scheme!r} in {redact(url)!r}; "
                           f"valid schemes: {valid_list(SCHEMES)}")
    return scheme


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other schemes or in-memory databases)."""
    if scheme_of(url) != "sqlite":
        return None
    path = url.split("://", 1)[1].split("?", 1)[0]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///relative/x.db -> relative/x.db ; sqlite:////abs -> /abs
    return None if path in ("", ":memory:") else Path(path)


def journal_path(url: str) -> Path | None:
    if scheme_of(url) != "journal":
        return None
    return Path(url.split("://", 1)[1]) if "://" in url else Path(url)


def storage_file(url: str) -> Path | None:
    """The file holding a SQLite database or a journal (None for database servers)."""
    return sqlite_path(url) if scheme_of(url) == "sqlite" else journal_path(url)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL: ``postgresql://`` gets an installed driver, preferring psycopg 3 (the
    one layerlab's ``postgres`` extra installs; SQLAlchemy's default would be psycopg2)."""
    scheme, rest = url.split("://", 1)
    if scheme.lower() in ("postgres", "postgresql") and importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    if scheme.lower() == "postgres":
        return f"postgresql://{rest}"
    return url


def check_url(url: str, *, create: bool = False) -> None:
    """Validate ``url`` without writing anything (``create`` allows a missing file)."""
    scheme_of(url)
    path = storage_file(url)
    if path is not None and not create and not path.exists():
        kind = "SQLite database" if scheme_of(url) == "sqlite" else "journal file"
        raise StorageError(f"no {kind} at {path} (from {url!r})")


def open_storage(url: str, *, create: bool = False, options: StorageOptions | None = None,
                 wait: bool = False) -> optuna.storages.BaseStorage:
    """Open (and with ``create``, initialise) the storage at ``url``; unreachable -> StorageError
    at once, or with ``wait`` (a worker joining a study that exists) after the outage limit."""
    options = options or StorageOptions()
    check_url(url, create=create)
    scheme = scheme_of(url)
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; we rely on them knowingly
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=options.max_retry)
    path = storage_file(url)
    if create and path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of storage {url!r}: "
                               f"{exc.strerror or exc} ({path.parent})") from None
    if scheme == "journal":
        from studies._journal import open_journal

        try:
            return install_retries(open_journal(path, options=options, callback=retry), url, options.outage_limit,
                                   min(MAX_DELAY, options.heartbeat_interval))
        except OSError as exc:
            raise StorageError(f"cannot open journal {path}: {exc}") from None
    if scheme == "sqlite":
        # isolation_level=None stops Python's sqlite3 from deferring BEGIN to the first write;
        # _serialise_sqlite then opens every transaction with BEGIN IMMEDIATE (see there).
        engine_kwargs = {"connect_args": {"timeout": _busy_timeout(), "isolation_level": None}}
    else:
        engine_kwargs = {"pool_pre_ping": True}

    def create() -> RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                engine_url(url),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=options.heartbeat_interval,
                grace_period=options.grace_period,
                heartbeat_stale_trial_callback=retry,
            )

    try:
        if scheme == "postgresql":
            with _schema_lock(url, engine_kwargs, options.outage_limit if wait else None):  # one creates the tables
                storage = call_with_retry(create, url=url, what="opening the storage", max_wait=options.outage_limit)
        else:
            storage = call_with_retry(_retry_schema_race(create), url=url, what="opening the storage",
                                      max_wait=options.outage_limit)
    except ImportError as exc:
        raise StorageError(f"storage {redact(url)!r} needs a database driver: {exc} "
                           "(pip install 'layerlab[postgres]')") from None
    except LayerlabError:
        raise
    except Exception as exc:  # sqlalchemy's OperationalError and friends: one line, no traceback
        raise StorageError(_open_failure(url, exc)) from None
    if scheme == "sqlite":
        _serialise_sqlite(storage.engine)
        _fast_commits(storage.engine, url)
    _ENGINES.add(storage.engine)
    return install_retries(storage, url, options.outage_limit, min(MAX_DELAY, options.heartbeat_interval))


# Every engine open_storage made that is still alive. The collector no longer walks what lives as
# long as the process (objectives._warm freezes it), so an engine is not closed by a collection
# at exit: close_storages closes them explicitly. On SQLite that matters beyond file descriptors:
# the last connection to close folds the write-ahead log back into the database file.
_ENGINES: weakref.WeakSet = weakref.WeakSet()


def close_storage(storage: Any) -> None:
    """Close the pooled connections of one storage from :func:`open_storage` (it stays usable)."""
    engine = getattr(getattr(storage, "_backend", storage), "engine", None)
    if engine is not None:
        _dispose(engine)


def close_storages() -> None:
    """Close the pooled connections of every storage :func:`open_storage` opened (an engine stays
    usable: it opens new connections when used again). Called when a worker or a launch ends and
    before a layerlab process exits."""
    for engine in list(_ENGINES):
        _dispose(engine)


def _dispose(engine) -> None:
    with contextlib.suppress(Exception):  # closing must never turn a finished run into an error
        engine.dispose()


def _retry_schema_race(create, attempts: int = 5):
    """``create`` retried when another process changed the SQLite schema while this one checked
    it (SQLAlchemy's table check then misses an existing table: "table ... already exists"; or
    both stamped Optuna's schema version: "UNIQUE constraint failed: alembic_version...")."""

    def run():
        for attempt in range(attempts):
            try:
                return create()
            except Exception as exc:
                raced = "already exists" in str(exc) or "UNIQUE constraint failed: alembic_version" in str(exc)
                if not raced or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    return run


def _busy_timeout() -> float:
    text = os.environ.get("LAYERLAB_SQLITE_BUSY_TIMEOUT")
    try:
        return float(text) if text is not None else float(SQLITE_BUSY_TIMEOUT)
    except ValueError:
        raise StorageError(f"$LAYERLAB_SQLITE_BUSY_TIMEOUT must be a number of seconds, got {text!r}") from None


def _is_unreachable(exc: BaseException) -> bool:
    """The server could not be reached at all (as opposed to a failure once connected)."""
    from sqlalchemy.exc import OperationalError

    texts = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None).lower()
    return isinstance(exc, OperationalError) and any(
        s in texts for s in ("connection refused", "could not connect", "could not translate host", "timeout expired",
                             "connection timed out", "name or service not known", "no route to host",
                             "unable to open database file")
    )


def _open_failure(url: str, exc: BaseException) -> str:
    if _is_unreachable(exc):
        return f"cannot reach storage {redact(url)}: {_first_line(exc)}"
    return f"storage {redact(url)} could not be opened: {_first_line(exc)}"


@contextlib.contextmanager
def _schema_lock(url: str, engine_kwargs: dict, wait: float | None = None) -> Iterator[None]:
    """A PostgreSQL advisory lock held while Optuna creates (or checks) its tables, so concurrent
    first launches on a fresh database do not race in ``CREATE TABLE`` (UniqueViolation on
    ``pg_type_typname_nsp_index``). ``wait``: seconds to wait for a server that does not answer
    (a worker joining mid-study while the server restarts); None: refuse at once."""
    from sqlalchemy import create_engine, text

    engine = create_engine(engine_url(url), **engine_kwargs)

    def lock():
        conn = engine.connect()
        try:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    try:
        try:
            conn = lock() if wait is None else call_with_retry(lock, url=url, what="connecting", max_wait=wait)
        except LayerlabError:
            raise
        except Exception as exc:
            raise StorageError(_open_failure(url, exc)) from None
        with conn:
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a server gone meanwhile took the session's lock with it
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
                    conn.commit()
    finally:
        engine.dispose()


SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha1(b"layerlab:schema").digest()[:8], "big", signed=True)


def _serialise_sqlite(engine) -> None:
    """Make each SQLite transaction take the write lock when it begins.

    Python's sqlite3 module (legacy transaction control) only sends BEGIN before the first
    INSERT/UPDATE, so Optuna's read-then-write in ``set_trial_state_values`` (read WAITING, write
    RUNNING) is not atomic there: two workers can both read WAITING and both claim the same trial.
    ``BEGIN IMMEDIATE`` takes SQLite's write lock up front, so such transactions run one after the
    other (waiting up to ``SQLITE_BUSY_TIMEOUT`` for the lock) and a claim is a true compare-and-set.
    PostgreSQL gets the same from the row lock of ``SELECT ... FOR UPDATE``.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _fast_commits(engine, url: str) -> None:
    """Write-ahead log with ``synchronous=NORMAL`` on every connection of a SQLite storage.

    SQLite's default (rollback journal, ``synchronous=FULL``) makes every commit wait for several
    fsyncs: 20-25 ms each on this project's machine, and a trial commits about 18 times (claim,
    heartbeats, attribute flushes, artifacts, result), which was several times the training of a
    short demo trial. In WAL mode with ``synchronous=NORMAL`` a commit appends to the log without
    an fsync (0.01 ms here). A killed process loses nothing that was committed (the log is in the
    OS's cache and the next open replays it); a power cut or OS crash can roll back the last
    commits before a checkpoint, never corrupt the file (sqlite.org/wal.html): a trial then reads
    as running again and its heartbeat re-queues it. WAL shares an index through memory, so every
    process using the file must run on one machine: that was already the rule for SQLite here
    (docs/storage.md; several machines use PostgreSQL or a journal file). A connection that may
    only read (a read-only file or folder) keeps the file's mode. Readers (optuna-dashboard, the
    ``optuna`` CLI) read a WAL database unchanged.
    The connections opened before this (table creation) are closed, so every later one is set.

    A rollback journal notices its file being deleted at the next write ("attempt to write a
    readonly database"); a WAL connection keeps writing to the deleted file without an error. So
    each transaction first checks that the file is still the one opened (one ``stat``), and a
    deleted or replaced file fails the transaction, which ``studies._faults`` names in one line."""
    import sqlite3

    from sqlalchemy import event

    from studies._faults import file_identity

    identity = file_identity(url)

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record) -> None:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError:  # a file or folder we may only read: read it as it is
            pass

    def _same_file(conn) -> None:
        if identity is not None and file_identity(url) != identity:
            raise sqlite3.OperationalError("the database file was deleted or replaced since it was opened")

    event.listen(engine, "begin", _same_file, insert=True)  # before BEGIN IMMEDIATE takes the lock

    @event.listens_for(engine, "handle_error")
    def _reopen_after(context) -> None:
        # A connection opened while the file was read-only stays read-only for good, and one that
        # met an I/O error may be unusable: drop it from the pool, so the retry (studies._outage)
        # opens a fresh one once the file can be written again.
        text = str(context.original_exception).lower()
        if "readonly database" in text or "disk i/o error" in text:
            context.is_disconnect = True

    engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redact(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail trials whose heartbeat stood still for the grace period of answered time, with
    fail_reason 'worker lost (no heartbeat for N s)'; the storage's callback re-queues each cell
    once (studies._outage)."""
    from studies._attrs import _backend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = _backend(study._storage)  # Optuna wraps RDB storages in a cache (a journal's _backend is its file)
        fail_stale_with_reason(study, getattr(backend, "grace_period", None) or GRACE_PERIOD)


def is_lock_error(exc: BaseException) -> bool:
    """SQLite's "database is locked", possibly wrapped in Optuna's StorageInternalError."""
    while exc is not None:
        if "database is locked" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def study_lock(storage: optuna.storages.BaseStorage, url: str, study_name: str) -> Iterator[None]:
    """Hold a lock named after the study while creating it and queueing its cells, so two
    ``study launch`` commands started at once (e.g. on two machines) cannot queue a cell twice.

    PostgreSQL: a session-level advisory lock. A journal file: ``flock`` on the file itself (Optuna
    locks the journal with its own lock files). SQLite: ``flock`` on a lock file beside the
    database, ``<file>.lock``, never on the database itself: closing any descriptor of the
    database file drops every POSIX lock this process holds on it, SQLite's own included
    (sqlite.org/howtocorrupt.html, section 2.2), and another process could then write under a
    connection of this one (measured: "database disk image is malformed" with two workers). The
    lock file is left in place: removing it would let two processes hold locks on two different
    files of the same name. MySQL: no lock; launch such studies from one process.
    """
    scheme = scheme_of(url)
    if scheme == "postgresql":
        from sqlalchemy import text

        from studies._outage import storage_call

        key = int.from_bytes(hashlib.sha1(f"layerlab:{study_name}".encode()).digest()[:8], "big", signed=True)

        def lock():
            conn = storage.engine.connect()
            try:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()  # the lock belongs to the session; do not sit idle in a transaction
            except BaseException:
                conn.close()
                raise
            return conn

        conn = storage_call(storage, "taking the study lock", lock)  # waits out a restarting server
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            except Exception:  # the server went away: its session, and the lock with it, are gone
                pass
            finally:
                conn.close()
        return
    path = storage_file(url)
    if path is None or not path.exists():
        yield
        return
    if scheme == "sqlite":
        path = path.with_name(path.name + ".lock")
    with open(path, "ab") as handle:  # "ab": creates the SQLite lock file, never truncates the journal
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
