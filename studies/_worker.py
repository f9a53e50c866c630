"""Workers: claim a study's queued cells one at a time and run them.

Optuna's ``GridSampler`` can run a grid point twice when several workers share one storage. Here a
grid study's cells are queued once, as WAITING trials, when it is launched; a worker only *claims*
a WAITING trial, through the storage's atomic WAITING -> RUNNING transition (a row lock on
PostgreSQL), so N workers finish with every cell COMPLETE exactly once.

On RDB storages each running trial beats a heartbeat. Before every claim a worker fails trials
whose heartbeat stopped (their worker died) and Optuna's ``RetryHeartbeatStaleTrialCallback``
re-queues the same cell; only the worker whose FAIL transition succeeds re-queues it, so a dead
cell comes back exactly once. Idle workers wait while other trials are still running, because
those may yet die and need a taker.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from objectives import make_objective
from searchspace import sample
from searchspace._errors import LayerlabError
from studies._spec import StudyError, StudySpec
from studies._storage import StorageOptions, fail_stale_trials, has_heartbeat, open_storage

log = logging.getLogger("layerlab")
SPEC_ATTR = "layerlab"  # study user attribute holding the spec and its fingerprint
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def load_spec(study: optuna.Study) -> StudySpec:
    attrs = study.user_attrs.get(SPEC_ATTR)
    if not attrs:
        raise StudyError(f"study {study.study_name!r} was not created by layerlab (no {SPEC_ATTR!r} attribute)")
    return StudySpec.from_dict(attrs["spec"])


def make_sampler(spec: StudySpec, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    seed = spec.seed + 1000 * worker_index
    if spec.sampler == "tpe":
        # multivariate + group handle conditional spaces; constant_liar keeps parallel workers
        # from proposing the same point while their trials run.
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    # grid studies never ask the sampler (every cell is queued); random is the explicit choice.
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if spec.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


class _Heartbeat:
    """Records a trial's heartbeat every ``interval`` seconds from a daemon thread."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, interval: float) -> None:
        self._stop = threading.Event()
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        storage.record_heartbeat(trial_id)  # at once: a trial without a beat is never declared dead
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # a transient database error must not kill the trial
                log.warning("heartbeat for trial %s failed", self._trial_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class WorkerReport:
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    trials: list[int] = field(default_factory=list)


def claim_waiting(study: optuna.Study) -> int | None:
    """Atomically move one WAITING trial to RUNNING; its id, or None when none is left."""
    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
                return frozen._trial_id
        except UpdateFinishedTrialError:
            continue
        except Exception as exc:  # SQLite "database is locked" under contention: try the next one
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    return None


def configs_started(study: optuna.Study) -> int:
    """Sampled configs so far (first repeats that are not retries of a dead trial)."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("repeat", 0) == 0 and "failed_trial" not in t.system_attrs
        and t.state != TrialState.WAITING
    )


def run_worker(
    storage_url: str,
    study_name: str,
    *,
    device: str = "auto",
    data_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    worker_index: int = 0,
    options: StorageOptions | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
    max_trials: int | None = None,
) -> WorkerReport:
    """Claim and run cells of study ``study_name`` until none is left to run."""
    options = options or StorageOptions()
    storage = open_storage(storage_url, options=options)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise StudyError(f"no study named {study_name!r} in this storage") from None
    spec = load_spec(study)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=make_sampler(spec, worker_index), pruner=make_pruner(spec)
    )
    objective = make_objective(
        spec.objective, spec.space, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir, base_seed=spec.seed
    )
    if on_epoch is not None and hasattr(objective, "on_epoch"):
        objective.on_epoch = on_epoch
    report = WorkerReport()
    heartbeat = has_heartbeat(storage)
    poll = min(2.0, options.heartbeat_interval)
    while max_trials is None or len(report.trials) < max_trials:
        if heartbeat:
            fail_stale_trials(study)
        trial_id = claim_waiting(study)
        if trial_id is not None:
            trial = optuna.trial.Trial(study, trial_id)
        elif spec.sampler != "grid" and configs_started(study) < (spec.n_trials or 0):
            trial = study.ask()
            trial.set_user_attr("repeat", 0)
            sample(spec.space, trial)  # fixes the params so the repeats can be queued now
            for repeat in range(1, spec.repeats):
                study.enqueue_trial(dict(trial.params), user_attrs={"repeat": repeat})
        elif study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            time.sleep(poll)  # others are running: they may still die and need a taker
            continue
        else:
            break
        frozen = _run_trial(study, trial, objective, heartbeat, options)
        report.trials.append(trial.number)
        if frozen is not None:
            if frozen.state == TrialState.COMPLETE:
                report.completed += 1
            elif frozen.state == TrialState.PRUNED:
                report.pruned += 1
            else:
                report.failed += 1
            if on_trial is not None:
                on_trial(frozen)
    return report


def _run_trial(
    study: optuna.Study,
    trial: optuna.trial.Trial,
    objective: Callable[[optuna.trial.Trial], float],
    heartbeat: bool,
    options: StorageOptions,
) -> optuna.trial.FrozenTrial | None:
    beat = _Heartbeat(study._storage, trial._trial_id, options.heartbeat_interval) if heartbeat else None
    try:
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            return study.tell(trial, state=TrialState.PRUNED)
        except LayerlabError as exc:
            trial.set_user_attr("fail_reason", str(exc))
            log.error("trial %d failed: %s", trial.number, exc)
            return study.tell(trial, state=TrialState.FAIL)
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            study.add_trial(_requeue(study._storage.get_trial(trial._trial_id)))
            raise
        except Exception as exc:  # a bug or a resource error: record it, keep the study going
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
            log.error("trial %d failed:\n%s", trial.number, traceback.format_exc())
            return study.tell(trial, state=TrialState.FAIL)
        return study.tell(trial, value)
    except UpdateFinishedTrialError:
        log.warning("trial %d was declared dead and re-queued meanwhile; its result is discarded", trial.number)
        return None
    finally:
        if beat is not None:
            beat.stop()


def _requeue(frozen: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """A WAITING copy of an interrupted cell (same params and repeat), as a heartbeat retry makes."""
    history = [*frozen.system_attrs.get("retry_history", []), frozen.number]
    return optuna.trial.create_trial(
        state=TrialState.WAITING,
        params=frozen.params,
        distributions=frozen.distributions,
        user_attrs={"repeat": frozen.user_attrs.get("repeat", 0)},
        system_attrs={"failed_trial": history[0], "retry_history": history},
    )
