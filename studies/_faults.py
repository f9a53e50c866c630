"""Infrastructure faults: name them in one line, retry what is transient, hand work back.

A trial can fail for its own reasons (a bad config, a diverged loss): it ends FAIL with a reason.
It can also be stopped by the machine around it, and then it is not the cell's fault and the cell
must run again:

- **Full disk** (ENOSPC, SQLite's "database or disk is full"): :class:`DiskFullError` names the
  path; the worker hands its running cell back to the queue, claims nothing more and exits with
  :data:`EXIT_FAULT`. Checkpoints and artifacts are written to a temporary file and moved into place,
  so no half-written file remains. After space is freed the same launch completes the study.
- **Storage locked, unreachable or read-only for a while** (a backup holding SQLite's write lock,
  a database server restarting, a file made read-only): waited out (:mod:`studies._outage`); past
  the outage limit (``--outage-limit``, default ``$LAYERLAB_STORAGE_WAIT`` or 600 s) the worker
  stops with :class:`StorageLockedError`.
- **Storage gone** (the SQLite or journal file deleted or replaced): :class:`StorageLostError`
  names the storage and what happened.
- **Orphans**: a worker process started by ``study launch`` gets ``$LAYERLAB_PARENT_PID`` and exits
  (SIGTERM, so it hands its cell back) when that parent dies, through Linux's
  ``prctl(PR_SET_PDEATHSIG)`` or, elsewhere, a thread watching the parent pid.

Exit codes of the CLI: 0 done; 1 a bug (with its traceback); 2 bad input (one line); 3 the study
ended with failed cells (one-line summary); 4 an infrastructure fault (one line); 130 interrupted.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from searchspace.errors import DiskFullError, FaultError, LayerlabError, StorageLockedError, StorageLostError

log = logging.getLogger("layerlab")

EXIT_FAILED_CELLS = 3
EXIT_FAULT = 4
MAX_CELLS = 100_000  # a launch queueing more cells is refused unless --max-cells raises the limit
STORAGE_WAIT_ENV = "LAYERLAB_STORAGE_WAIT"  # the default outage limit, in seconds (studies._outage)
STORAGE_WAIT = 600
PARENT_ENV = "LAYERLAB_PARENT_PID"
assert FaultError.exit_code == EXIT_FAULT  # the class lives in searchspace._errors, below this layer


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
    from studies._storage import scheme_of

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
    from studies._storage import storage_file

    try:
        path = storage_file(url)
        stat = path.stat() if path is not None else None
    except (LayerlabError, OSError):
        return None
    return (stat.st_dev, stat.st_ino) if stat is not None else None


def storage_lost_reason(exc: BaseException, url: str, identity: tuple[int, int] | None = None) -> str | None:
    """What happened when the storage at ``url`` is gone, replaced or read-only (None if it is not).
    ``identity``: the file's :func:`file_identity` when it was opened."""
    from studies._storage import scheme_of, storage_file

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
            from studies._storage import redact, storage_file

            where = storage_file(url)
            path = str(where) if where is not None else redact(url)
        return DiskFullError(f"no space left on device (ENOSPC) writing {path or 'a file'}; free space, then relaunch "
                             "the same command to finish the study")
    if url is not None:
        reason = storage_lost_reason(exc, url, identity)
        if reason is not None:
            from studies._storage import redact

            return StorageLostError(f"storage {redact(url)} lost: {reason}; "
                                    "restore it (or start a new study) and relaunch")
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


# -- cells --------------------------------------------------------------------------------------


def check_cell_limit(total: int | None, max_cells: int | None) -> None:
    """Refuse a study of more than ``max_cells`` cells before anything is written."""
    if max_cells is None or total is None or total <= max_cells:
        return
    from studies._spec import StudyError

    raise StudyError(f"the study has {total:,} cells (configs x repeats), above the limit of {max_cells:,}; "
                     "lower --repeats / --n-trials, or pass --max-cells N to allow it")


def hand_back(study: Any, trial: Any, reason: str) -> bool:
    """Fail a trial stopped by a fault and queue its cell again (best effort: the storage may be
    the fault; a trial left RUNNING is re-queued by the heartbeat once its grace period passes)."""
    from optuna.trial import TrialState

    from studies._cells import requeue

    try:
        with handing_back():
            trial.set_user_attr("fail_reason", reason)
            try:
                getattr(trial, "flush", lambda: None)()  # a BatchedTrial's buffered attributes (studies._attrs)
            except Exception:  # the fault may be the storage itself: the reason alone, in one small write
                study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            study.tell(trial, state=TrialState.FAIL)
            study.add_trial(requeue(study._storage.get_trial(trial._trial_id)))
        return True
    except Exception:
        return False


# -- stop signals -------------------------------------------------------------------------------

# Set while a worker hands its cells back. A stop signal then is not raised: a second one (the
# launch's SIGTERM to its workers right after the terminal's Ctrl-C reached them all) would
# interrupt the hand-back in the middle of a storage transaction, leaving it open and the study
# lock contended (seen: a launch and its worker waiting on each other).
_STOPPING = threading.Event()


def interrupt(signum: int, frame: Any) -> None:
    """The stop-signal handler: KeyboardInterrupt, so the running cell is handed back; nothing
    while a hand-back is already under way (:func:`handing_back`)."""
    if not _STOPPING.is_set():
        raise KeyboardInterrupt


def stop_on_signals() -> None:
    """:func:`interrupt` for SIGINT (Ctrl-C), SIGTERM (a scheduler preempting the job) and SIGHUP
    (the terminal closed); a signal already ignored (``nohup``, a background job) stays ignored."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, interrupt)


class handing_back:
    """``with handing_back():`` a stop signal meanwhile is not raised (see :func:`interrupt`)."""

    def __enter__(self) -> None:
        self._outer = _STOPPING.is_set()
        _STOPPING.set()

    def __exit__(self, *exc: Any) -> None:
        if not self._outer:
            _STOPPING.clear()


# -- orphans ------------------------------------------------------------------------------------


PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    """When ``$LAYERLAB_PARENT_PID`` names this process's parent, die (SIGTERM: the running cell
    is handed back) as soon as that parent does, so a killed ``study launch`` leaves no orphans."""
    text = os.environ.get(PARENT_ENV)
    if not text or not text.isdigit():
        return
    parent = int(text)
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
