"""SQLite: one file, one machine, several local workers.

The file runs in WAL mode with ``synchronous=NORMAL`` (:func:`_fast_commits`), every transaction
takes the write lock when it begins (:func:`_serialise_sqlite`: what makes a claim a true
compare-and-set here), and the study lock is ``flock`` on ``<file>.lock`` beside the database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from searchspace.errors import StorageError
from studies.storage._backend import file_lock
from studies.storage._faults import file_identity
from studies.storage._rdb import RdbBackend

SQLITE_BUSY_TIMEOUT = 60  # seconds a SQLite writer waits for the lock before "database is locked"
# ($LAYERLAB_SQLITE_BUSY_TIMEOUT overrides it; past it, studies.storage._outage retries with backoff)


class SqliteBackend(RdbBackend):
    scheme = "sqlite"
    file_kind = "SQLite database"

    @classmethod
    def file_path(cls, url: str) -> Path | None:
        """The database file (None for an in-memory database)."""
        path = url.split("://", 1)[1].split("?", 1)[0]
        if path.startswith("/"):
            path = path[1:]  # sqlite:///relative/x.db -> relative/x.db ; sqlite:////abs -> /abs
        return None if path in ("", ":memory:") else Path(path)

    @classmethod
    def engine_kwargs(cls) -> dict:
        # isolation_level=None stops Python's sqlite3 from deferring BEGIN to the first write;
        # _serialise_sqlite then opens every transaction with BEGIN IMMEDIATE (see there).
        return {"connect_args": {"timeout": _busy_timeout(), "isolation_level": None}}

    @classmethod
    def _prepare(cls, engine: Any, url: str) -> None:
        _serialise_sqlite(engine)
        _fast_commits(engine, url)

    def _insert(self) -> Any:
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 24, 0):  # no upsert before 3.24: Optuna's own path
            return None
        from sqlalchemy.dialects.sqlite import insert

        return insert

    @contextlib.contextmanager
    def study_lock(self, study_name: str, url: str | None = None) -> Iterator[None]:
        """``flock`` on a lock file beside the database, ``<file>.lock``, never on the database
        itself: closing any descriptor of the database file drops every POSIX lock this process
        holds on it, SQLite's own included (sqlite.org/howtocorrupt.html, section 2.2), and
        another process could then write under a connection of this one (measured: "database
        disk image is malformed" with two workers). The lock file is left in place: removing it
        would let two processes hold locks on two different files of the same name."""
        path = self.file_path(url or self.url or "sqlite://")
        if path is None or not path.exists():
            yield
            return
        with file_lock(path.with_name(path.name + ".lock")):
            yield


def _busy_timeout() -> float:
    text = os.environ.get("LAYERLAB_SQLITE_BUSY_TIMEOUT")
    try:
        return float(text) if text is not None else float(SQLITE_BUSY_TIMEOUT)
    except ValueError:
        raise StorageError(f"$LAYERLAB_SQLITE_BUSY_TIMEOUT must be a number of seconds, got {text!r}") from None


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
    deleted or replaced file fails the transaction, which ``studies.storage._faults`` names in one line."""
    import sqlite3

    from sqlalchemy import event

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
        # met an I/O error may be unusable: drop it from the pool, so the retry (studies.storage._outage)
        # opens a fresh one once the file can be written again.
        text = str(context.original_exception).lower()
        if "readonly database" in text or "disk i/o error" in text:
            context.is_disconnect = True

    engine.dispose()
