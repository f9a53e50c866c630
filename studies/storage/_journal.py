"""The journal file: Optuna's JournalStorage on a shared file system, no database server.

A heartbeat lease for Optuna's JournalStorage, so dead workers are detected on shared file systems too.

Optuna beats heartbeats only for RDB storages. Without one, a worker that dies mid-trial on a
journal leaves its trial RUNNING forever: the cell is lost and idle workers cannot tell a slow trial
from a dead one. This storage implements Optuna's heartbeat interface (``BaseHeartbeat``) on top of
the journal: a beat is a trial system attribute holding the wall-clock time, so
``optuna.storages.fail_stale_trials`` and ``RetryHeartbeatStaleTrialCallback`` work unchanged.

Caveats: the clocks of the machines sharing the file must agree to well within the grace period,
and every beat appends one line to the journal (one per running trial per interval).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat  # the interface fail_stale_trials looks for
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from searchspace.errors import StorageError
from studies.storage._backend import Backend, StorageOptions, file_lock, retry_callback
from studies.storage._outage import MAX_DELAY, install_retries

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
    in one line by studies.storage._faults). Written by hand: Optuna has no such option.
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


_journal_cursor: dict[tuple[int, int], int] = {}  # (id(storage), study_id) -> first index maybe waiting


class JournalBackend(Backend):
    """A journal file. Claims are Optuna's ``set_trial_state_values`` (appends are whole or
    nothing, and log order decides who took a trial first); attributes are one locked append."""

    scheme = "journal"
    suffixes = (".log", ".journal")  # a bare path ending so is a journal
    file_kind = "journal file"

    @classmethod
    def file_path(cls, url: str) -> Path | None:
        return Path(url.split("://", 1)[1]) if "://" in url else Path(url)

    @classmethod
    def adopts(cls, storage: optuna.storages.BaseStorage) -> bool:
        return isinstance(storage, JournalStorage)

    @classmethod
    def open(cls, url: str, *, create: bool, options: StorageOptions, wait: bool) -> Backend:
        path = cls.file_path(url)
        try:
            storage = LeasedJournalStorage(
                WholeLinesJournalBackend(str(path)),
                heartbeat_interval=options.heartbeat_interval,
                grace_period=options.grace_period,
                heartbeat_stale_trial_callback=retry_callback(options),
            )
        except OSError as exc:
            raise StorageError(f"cannot open journal {path}: {exc}") from None
        return cls(install_retries(storage, url, options.outage_limit, min(MAX_DELAY, options.heartbeat_interval)))

    def set_trial_attrs(self, trial_id: int, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None:
        """One ``append_logs`` call with one log entry per attribute (Optuna's journal replays
        exactly one attribute per entry), so one locked append."""
        user, system = dict(user or {}), dict(system or {})
        if not user and not system:
            return
        backend = self._raw

        def append() -> None:
            from optuna.storages.journal._storage import JournalOperation

            worker = backend._replay_result.worker_id
            logs = [
                {"op_code": op, "worker_id": worker, "trial_id": trial_id, field: {key: value}}
                for op, field, attrs in (
                    (JournalOperation.SET_TRIAL_USER_ATTR, "user_attr", user),
                    (JournalOperation.SET_TRIAL_SYSTEM_ATTR, "system_attr", system),
                )
                for key, value in attrs.items()
            ]
            with backend._thread_lock:  # as JournalStorage.set_trial_user_attr, for N entries at once
                backend._backend.append_logs(logs)
                backend._sync_with_backend()

        self.call("writing trial attributes", append)  # one append, so retried whole

    def add_trials(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        if trials:
            study.add_trials(trials)

    def waiting_ids(self, study: optuna.Study, limit: int) -> list[int]:
        """The journal is replayed in memory anyway; a per-process cursor skips trials already
        seen finished or running (a trial never goes back to WAITING: a retry is a new trial at
        the end), so each claim looks at O(1) trials amortised."""
        return self.call("looking for waiting cells", lambda: self._waiting(study._study_id, limit))

    def _waiting(self, study_id: int, limit: int) -> list[int]:
        backend = self._raw
        with backend._thread_lock:
            backend._sync_with_backend()
            replay = backend._replay_result
            trial_ids = replay._study_id_to_trial_ids[study_id]
            key = (id(backend), study_id)
            start = _journal_cursor.get(key, 0)
            out: list[int] = []
            index = start
            while index < len(trial_ids) and len(out) < limit:
                trial_id = trial_ids[index]
                if replay._trials[trial_id].state == TrialState.WAITING:
                    out.append(trial_id)
                elif not out:
                    start = index + 1  # never waiting again: later claims start after it
                index += 1
            _journal_cursor[key] = start
        return out

    def claim(self, study: optuna.Study, trial_id: int, token: str) -> bool:
        return self.storage.set_trial_state_values(trial_id, TrialState.RUNNING)

    def running_heartbeats(self, study: optuna.Study) -> dict[int, Any] | None:
        backend = self._raw
        if not isinstance(backend, LeasedJournalStorage):
            return None
        running = backend.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return {t._trial_id: t.system_attrs[HEARTBEAT_ATTR] for t in running if HEARTBEAT_ATTR in t.system_attrs}

    @contextlib.contextmanager
    def study_lock(self, study_name: str, url: str | None = None) -> Iterator[None]:
        """``flock`` on the journal file itself (Optuna locks the journal with its own lock files)."""
        url = url or self.url
        path = self.file_path(url) if url else Path(self._raw._backend._file_path)
        if not path.exists():
            yield
            return
        with file_lock(path):
            yield
