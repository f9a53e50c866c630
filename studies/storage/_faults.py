"""What a storage failure is: transient (locked, unreachable, read-only), lost, or a full disk.

:mod:`studies.storage._outage` waits out what is transient and turns the rest into one-line
faults (:class:`FaultError`); the engine (``studies.engine._faults``) hands the running cell back. Kept
below every backend, so a backend can name its own failures without importing the engine.
"""

from __future__ import annotations

import errno
import threading

from searchspace.errors import DiskFullError, FaultError, LayerlabError, StorageLostError
from studies.storage._registry import redact, scheme_of, storage_file

STORAGE_WAIT_ENV = "LAYERLAB_STORAGE_WAIT"  # the default outage limit, in seconds (studies.storage._outage)
STORAGE_WAIT = 600

# Set while a worker hands its cells back (studies.engine._faults.handing_back): a stop signal is then
# not raised, and storage calls wait only briefly (studies.storage._outage). Here, below both.
_STOPPING = threading.Event()


# -- classification ---------------------------------------------------------------------------


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def disk_full_path(exc: BaseException) -> str | None:
    """The path of an ENOSPC / EDQUOT error in ``exc``'s chain ("" when unnamed); None otherwise."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) and e.filename:
            return str(e.filename)
    for e in _chain(exc):
        text = str(e)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return ""
        if "database or disk is full" in text or "No space left on device" in text:
            return ""
    return None


# What a database connection says when the server went away, restarts or cannot be reached
# (PostgreSQL through psycopg, MySQL), lower case.
_CONNECTION_TEXTS = (
    "server closed the connection", "connection refused", "could not connect", "connection timed out",
    "terminating connection", "connection is closed", "connection reset", "the database system is starting up",
    "the database system is shutting down", "the database system is in recovery mode", "is the server running",
    "could not receive data", "could not send data", "no connection to the server", "consuming input failed",
    "connection failed", "ssl connection has been closed", "server conn crashed", "lost connection",
    "gone away", "broken pipe", "connection was closed", "cannot connect",
)
_CONNECTION_ERRORS = ("OperationalError", "InterfaceError", "DisconnectionError", "PendingRollbackError")
# Optuna's answers about a trial's state: the storage answered; whatever failed before is history.
_ANSWERS = ("UpdateFinishedTrialError", "KeyError", "ValueError", "RuntimeError", "TypeError", "AssertionError")


def is_lock_or_connection_error(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "busy", or a database connection that dropped or failed.

    Optuna's own answers ("Cannot tell a FAIL trial", a finished trial) are never one, even when
    they were raised while handling a connection error (their ``__context__``): retrying them
    cannot succeed."""
    if type(exc).__name__ in _ANSWERS:
        return False
    for e in _chain(exc):
        text = str(e).lower()
        if "database is locked" in text or "database is busy" in text:
            return True
        if getattr(e, "connection_invalidated", False):  # SQLAlchemy: the connection died under the call
            return True
        if type(e).__name__ in _CONNECTION_ERRORS and any(s in text for s in _CONNECTION_TEXTS):
            return True
    return False


# errno values of a file that is there but cannot be written for now (read-only, a server away)
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.ENOTCONN,
               errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.EAGAIN}


def is_transient(exc: BaseException, url: str | None = None) -> bool:
    """A storage that should answer again: locked, unreachable, or a file that is still there
    but cannot be written for now (made read-only, on a file server that is away). A file that was
    deleted or replaced is not transient (:func:`storage_lost_reason` says so first)."""
    if is_lock_or_connection_error(exc):
        return True
    if type(exc).__name__ in _ANSWERS:
        return False
    texts = [str(e).lower() for e in _chain(exc)]
    if any("readonly database" in t or "disk i/o error" in t or "unable to open database file" in t for t in texts):
        return True
    try:
        journal = url is not None and scheme_of(url) == "journal"
    except LayerlabError:
        journal = False
    return journal and any(isinstance(e, OSError) and e.errno in _UNWRITABLE for e in _chain(exc))


def cause_line(exc: BaseException) -> str:
    """The innermost error's first line: 'database is locked', not Optuna's generic
    'An exception is raised during the commit'."""
    last = exc
    for e in _chain(exc):
        if str(e).strip() not in ("", "()"):
            last = e
    line = first_line(last)
    return line.split(": ", 1)[1] if ": " in line and type(last).__name__ in line.split(": ", 1)[0] else line


def file_identity(url: str) -> tuple[int, int] | None:
    """(device, inode) of a SQLite or journal storage file, to notice it being deleted or replaced."""
    try:
        path = storage_file(url)
        stat = path.stat() if path is not None else None
    except (LayerlabError, OSError):
        return None
    return (stat.st_dev, stat.st_ino) if stat is not None else None


def storage_lost_reason(exc: BaseException, url: str, identity: tuple[int, int] | None = None) -> str | None:
    """What happened when the storage at ``url`` is gone, replaced or read-only (None if it is not).
    ``identity``: the file's :func:`file_identity` when it was opened."""
    try:
        scheme, path = scheme_of(url), storage_file(url)
    except LayerlabError:
        return None
    texts = [str(e) for e in _chain(exc)]
    kind = {"sqlite": "SQLite file", "journal": "journal file"}.get(scheme)
    if kind is not None and path is not None:
        if not path.exists():
            return f"the {kind} {path} was deleted while the study ran"
        if identity is not None and file_identity(url) != identity:
            return f"the {kind} {path} was deleted and recreated (or replaced) while the study ran"
    # "attempt to write a readonly database" with the file in place: read-only for now (is_transient)
    if scheme == "sqlite":
        if any("no such table" in t for t in texts):
            return f"the SQLite file {path} was replaced by an empty database while the study ran"
    if scheme == "journal" and path is not None:
        if not path.exists():
            return f"the journal file {path} was deleted while the study ran"
        # a recreated file can get the deleted one's inode back, so the identity check above can
        # miss it; reading from the old position then meets a partial or foreign line
        if any((isinstance(e, AttributeError) and "JournalStorage" in str(e)) or type(e).__name__ == "JSONDecodeError"
               for e in _chain(exc)):
            return f"the journal file {path} was deleted, truncated or replaced while the study ran"
    return None


def as_fault(exc: BaseException, url: str | None = None, identity: tuple[int, int] | None = None) -> FaultError | None:
    """``exc`` as a one-line :class:`FaultError`, or None when it is not an infrastructure fault."""
    if isinstance(exc, FaultError):
        return exc
    path = disk_full_path(exc)
    if path is not None:
        if not path and url is not None and any("database or disk is full" in str(e) for e in _chain(exc)):
            where = storage_file(url)
            path = str(where) if where is not None else redact(url)
        return DiskFullError(f"no space left on device (ENOSPC) writing {path or 'a file'}; free space, then relaunch "
                             "the same command to finish the study")
    if url is not None:
        reason = storage_lost_reason(exc, url, identity)
        if reason is not None:
            return StorageLostError(f"storage {redact(url)} lost: {reason}; "
                                    "restore it (or start a new study) and relaunch")
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def is_lock_error(exc: BaseException) -> bool:
    """SQLite's "database is locked", possibly wrapped in Optuna's StorageInternalError."""
    while exc is not None:
        if "database is locked" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
