"""What a worker holds while it has claimed trials: its name, the trials' heartbeats, its report,
and the one way each kind of interrupted trial is handed back (FAIL, then its cell queued again
at once, under the study lock).

Apart from :mod:`studies.engine._worker` so that the worker's one-trial path and the batched repeats
(:mod:`studies.engine._batch`) share them without importing each other.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from studies._artifacts import upload_trial_artifacts
from studies.engine._cells import requeue
from studies.engine._faults import FaultError, first_line, handing_back
from studies.storage import Backend, StorageUnanswered, backend_of, single_attempt, trial_id_of

log = logging.getLogger("layerlab")


def worker_name() -> str:
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"{socket.gethostname()}:{os.getpid()}" + (f":gpu{gpu}" if gpu else "")


class Heartbeat:
    """Records a trial's heartbeat every ``interval`` seconds from a daemon thread.

    Each beat is tried once (``studies.storage.single_attempt``): while the storage is away the
    thread tries again at the next beat, so it beats as soon as the storage answers, and
    ``stop`` never waits on a long retry. Past the outage limit it stops beating; the worker
    stops at its next storage call."""

    def __init__(self, backend: Backend, beating: int, interval: float) -> None:
        self._stop = threading.Event()
        self._store, self._beating, self._interval = backend, beating, interval
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat-{beating}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with single_attempt():
                    self._store.record_heartbeat(self._beating)
            except StorageUnanswered:
                continue  # announced by studies.storage; the next beat tries again
            except FaultError:
                return  # past the outage limit, a full disk, a lost storage: the worker's next call says so
            except Exception as exc:  # anything else must not kill the trial
                log.warning("heartbeat for trial %s failed: %s", self._beating, first_line(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class WorkerReport:
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    discarded: int = 0  # trials declared dead while this worker still ran them
    trials: list[int] = field(default_factory=list)
    retired: str | None = None  # why this worker stopped before the study ended (out of GPU memory)

    def record(self, number: int, frozen: optuna.trial.FrozenTrial | None) -> None:
        """Count one trial this worker ran (``frozen`` None: declared dead meanwhile, discarded)."""
        self.trials.append(number)
        if frozen is None:
            self.discarded += 1
        elif frozen.state == TrialState.COMPLETE:
            self.completed += 1
        elif frozen.state == TrialState.PRUNED:
            self.pruned += 1
        else:
            self.failed += 1


def study_lock_of(study: optuna.Study, storage_url: str | None):
    """The study lock when the storage URL is known (a hand-back runs under it, see hand_back_trial)."""
    if not storage_url:
        return contextlib.nullcontext()
    return backend_of(study).study_lock(study.study_name, storage_url)


def hand_back_claimed(study: optuna.Study, claimed: int, storage_url: str | None = None) -> None:
    """A claimed trial interrupted before its run could hand it back (e.g. while it was being set
    up): FAIL it and queue its cell again. Nothing when it is no longer RUNNING (handed back or
    finished). Without this the cell waited for its heartbeat to go stale (the grace period)."""
    with handing_back():
        if backend_of(study).get_trial(claimed).state != TrialState.RUNNING:
            return  # handed back by the trial's own handler (or finished): no lock needed
        with study_lock_of(study, storage_url):
            fail_and_requeue(study, claimed)


def fail_and_requeue(study: optuna.Study, claimed: int) -> None:
    """FAIL a RUNNING trial as interrupted and queue its cell again (under the study lock)."""
    backend = backend_of(study)
    try:
        if backend.get_trial(claimed).state != TrialState.RUNNING:
            return
        backend.set_user_attr(claimed, "fail_reason", "interrupted")
        if not backend.set_state(claimed, TrialState.FAIL):
            return
    except (UpdateFinishedTrialError, ValueError):
        return
    study.add_trial(requeue(backend.get_trial(claimed)))


def hand_back_trial(study: optuna.Study, trial: optuna.trial.Trial, storage_url: str | None = None) -> None:
    """Fail an interrupted trial and queue its cell again at once (no wait for the grace period).

    Under ``study_lock`` when the storage URL is known: a launch started meanwhile queues again a
    handed-back cell whose copy is missing (``requeue_failed``), and must not see the moment
    between the two writes here."""
    with handing_back(), study_lock_of(study, storage_url):
        try:
            trial.set_user_attr("fail_reason", "interrupted")
            getattr(trial, "flush", lambda: None)()  # a BatchedTrial's buffered attributes
            study.tell(trial, state=TrialState.FAIL)
        except (UpdateFinishedTrialError, ValueError):
            return  # already declared dead, and re-queued by the worker that noticed
        study.add_trial(requeue(backend_of(study).get_trial(trial_id_of(trial))))


def tell(study: optuna.Study, trial: optuna.trial.Trial, value: float | None, state: TrialState | None,
         store: Any) -> optuna.trial.FrozenTrial:
    """The one way a run trial is finished, alone (the worker) or among fused repeats (the batch):
    still RUNNING (else UpdateFinishedTrialError: it was declared dead and re-queued meanwhile),
    its buffered attributes flushed in one transaction, its artifacts uploaded (they attach to
    running trials only), then ``study.tell``. A NaN value is the objective's way of saying FAIL
    (its reason is in fail_reason; Optuna would also warn twice)."""
    if backend_of(study).get_trial(trial_id_of(trial)).state != TrialState.RUNNING:
        raise UpdateFinishedTrialError(f"trial {trial.number} is no longer running")
    getattr(trial, "flush", lambda: None)()  # a BatchedTrial's buffered attributes
    if store is not None:
        upload_trial_artifacts(trial, store)
    if value is not None and math.isnan(value):
        value, state = None, TrialState.FAIL
    return study.tell(trial, value, state=state)
