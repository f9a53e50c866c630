"""A heartbeat lease for Optuna's JournalStorage, so dead workers are detected on shared file systems too.

Optuna beats heartbeats only for RDB storages. Without one, a worker that dies mid-trial on a
journal leaves its trial RUNNING forever: the cell is lost and idle workers cannot tell a slow trial
from a dead one. This storage implements Optuna's heartbeat interface (``BaseHeartbeat``) on top of
the journal: a beat is a trial system attribute holding the wall-clock time, so
``optuna.storages.fail_stale_trials`` and ``RetryHeartbeatStaleTrialCallback`` work unchanged.

Caveats: the clocks of the machines sharing the file must agree to well within the grace period,
and every beat appends one line to the journal (one per running trial per interval).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.storages._heartbeat import BaseHeartbeat  # the interface fail_stale_trials looks for
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

HEARTBEAT_ATTR = "layerlab:heartbeat"  # trial system attribute: time.time() of the last beat


class LeasedJournalStorage(JournalStorage, BaseHeartbeat):
    """A :class:`JournalStorage` whose running trials beat a heartbeat."""

    def __init__(
        self,
        backend: JournalFileBackend,
        *,
        heartbeat_interval: int,
        grace_period: int,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        super().__init__(backend)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [
            t._trial_id
            for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if HEARTBEAT_ATTR in t.system_attrs and now - float(t.system_attrs[HEARTBEAT_ATTR]) > self.grace_period
        ]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback


class WholeLinesJournalBackend(JournalFileBackend):
    """Optuna's journal file whose appends are all or nothing.

    Optuna appends a batch of log lines with one write and an fsync; a full disk (ENOSPC) or any
    other error in between can leave part of a line at the end of the file, and the next append
    would glue onto it and corrupt the journal. Here, under Optuna's own file lock, the file is cut
    back to its size before the append when the append fails, then the error goes on (to be named
    in one line by studies._faults). Written by hand: Optuna has no such option.
    """

    def append_logs(self, logs: list[dict]) -> None:
        from optuna.storages.journal._file import get_lock_file  # the lock Optuna's append takes

        with get_lock_file(self._lock):
            size = os.path.getsize(self._file_path) if os.path.exists(self._file_path) else 0
            text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
            try:
                with open(self._file_path, "ab") as f:
                    f.write(text.encode("utf-8"))
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                try:
                    os.truncate(self._file_path, size)  # no half-written line stays behind
                except OSError:
                    pass
                raise


def open_journal(path: Path, *, options, callback) -> LeasedJournalStorage:
    return LeasedJournalStorage(
        WholeLinesJournalBackend(str(path)),
        heartbeat_interval=options.heartbeat_interval,
        grace_period=options.grace_period,
        heartbeat_stale_trial_callback=callback,
    )
