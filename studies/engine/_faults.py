"""Infrastructure faults: name them in one line, retry what is transient, hand work back.

A trial can fail for its own reasons (a bad config, a diverged loss): it ends FAIL with a reason.
It can also be stopped by the machine around it, and then it is not the cell's fault and the cell
must run again:

- **Full disk** (ENOSPC, SQLite's "database or disk is full"): :class:`DiskFullError` names the
  path; the worker hands its running cell back to the queue, claims nothing more and exits with
  :data:`EXIT_FAULT`. Checkpoints and artifacts are written to a temporary file and moved into place,
  so no half-written file remains. After space is freed the same launch completes the study.
- **Storage locked, unreachable or read-only for a while** (a backup holding SQLite's write lock,
  a database server restarting, a file made read-only): waited out (:mod:`studies.storage._outage`); past
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
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from searchspace.errors import DiskFullError, FaultError, StorageLockedError, StorageLostError
# What a storage failure is lives with the storages (studies.storage); named here too, where the
# engine and the CLI have always found it.
from studies.storage import as_fault, backend_of, disk_full_path, first_line, is_transient, trial_id_of
from studies.storage import stopping as _STOPPING

log = logging.getLogger("layerlab")

EXIT_FAILED_CELLS = 3
EXIT_FAULT = FaultError.exit_code  # 4, set where the error type is defined (searchspace._errors)
PARENT_ENV = "LAYERLAB_PARENT_PID"


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

    from studies.engine._cells import requeue

    try:
        with handing_back():
            trial.set_user_attr("fail_reason", reason)
            try:
                getattr(trial, "flush", lambda: None)()  # a BatchedTrial's buffered attributes (studies.storage)
            except Exception:  # the fault may be the storage itself: the reason alone, in one small write
                backend_of(study).set_user_attr(trial_id_of(trial), "fail_reason", reason)
            study.tell(trial, state=TrialState.FAIL)
            study.add_trial(requeue(backend_of(study).get_trial(trial_id_of(trial))))
        return True
    except Exception:
        return False


# -- stop signals -------------------------------------------------------------------------------

# _STOPPING (studies.storage) is set while a worker hands its cells back. A stop signal then is
# not raised: a second one (the launch's SIGTERM to its workers right after the terminal's Ctrl-C
# reached them all) would interrupt the hand-back in the middle of a storage transaction, leaving
# it open and the study lock contended (seen: a launch and its worker waiting on each other).


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
