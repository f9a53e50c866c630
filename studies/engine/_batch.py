"""Workers that train the repeats of one config together (``--batch-repeats auto|on``).

After a worker claims a cell, :func:`run_config_batch` decides (see
``objectives.train._batched.choose_batched``) whether that config's repeats train batched. If so it
claims the config's other WAITING cells through the same atomic WAITING -> RUNNING transition
that :func:`studies.engine._worker.claim_waiting` uses, trains them in one pass, and finishes each trial
on its own: its own heartbeat, user attributes, per-epoch pruning, artifacts and ``study.tell``.
Each repeat therefore stays its own Optuna trial, and the exactly-once guarantees of the worker
hold per cell.

On a failure of the batch as a whole (an exception outside any one seed, e.g. out of memory, or
Ctrl-C / SIGTERM) every trial of the batch that is not finished yet is handed back: failed and its
cell queued again at once, as :func:`studies.engine._claimed.hand_back_trial` does for one trial. The worker
then turns batching off for the rest of its life, so the re-queued cells run one by one.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from objectives.interface import has_resume_point, plan_batch, run_repeats, supports_batch
from searchspace.errors import LayerlabError
from studies.engine._cells import fill_slot, repeat_of, trial_params
from studies._spec import StudySpec
from studies.storage import StorageOptions, backend_of, is_lock_error, trial_id_of
from studies.engine._claimed import Heartbeat, WorkerReport, hand_back_trial, tell, worker_name

log = logging.getLogger("layerlab")

BATCHED, DECLINED, FAILED = "batched", "declined", "failed"


def claim_siblings(study: optuna.Study, first: int, *, heartbeat: bool, limit: int | None = None) -> list[int]:
    """Claim the WAITING cells of the same config as (running) trial ``first``: one per repeat
    index other than ``first``'s, oldest trial first. Each claim is the worker's atomic
    WAITING -> RUNNING transition (a cell another worker took meanwhile is skipped)."""
    backend = backend_of(study)
    frozen = backend.get_trial(first)
    params, taken = trial_params(frozen), {repeat_of(frozen)}
    claimed: list[int] = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if limit is not None and len(claimed) >= limit:
            break
        if repeat_of(t) in taken or trial_params(t) != params or not params:
            continue
        try:
            if heartbeat:
                backend.record_heartbeat(trial_id_of(t))
            if backend.set_state(trial_id_of(t), TrialState.RUNNING):
                claimed.append(trial_id_of(t))
                taken.add(repeat_of(t))
        except UpdateFinishedTrialError:
            continue
        except Exception as exc:  # SQLite past its busy timeout: leave that one to others
            if not is_lock_error(exc):
                raise
            time.sleep(0.05)
    return claimed


def run_config_batch(
    study: optuna.Study,
    trial: optuna.trial.Trial,
    spec: StudySpec,
    objective: Any,
    *,
    mode: str,
    heartbeat: bool,
    options: StorageOptions,
    store: Any,
    report: WorkerReport,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    limit: int | None = None,
) -> str:
    """Run ``trial`` (just claimed) with its config's other waiting repeats as one batch.

    Returns ``"batched"`` when it ran them (``report`` and ``on_trial`` updated per trial),
    ``"declined"`` when the caller should run ``trial`` alone as usual, ``"failed"`` when the
    batch failed as a whole and its trials were handed back (the caller should stop batching).
    ``limit`` caps how many more trials may be claimed (a worker's ``max_trials``).
    """
    if spec.repeats < 2 or not supports_batch(objective) or (limit is not None and limit < 1):
        return DECLINED
    try:
        fill_slot(study, trial, spec)  # fill a sampled slot now, so its repeats exist to be claimed
        batched, why = plan_batch(objective, trial, spec.repeats, mode)
    except Exception:  # the usual path meets the same error and records it on the trial
        return DECLINED
    log.info("trial %d: repeats %s (%s)", trial.number, "batched" if batched else "sequential", why)
    if not batched or has_resume_point(objective, [trial]):
        return DECLINED
    ids = claim_siblings(study, trial_id_of(trial), heartbeat=heartbeat, limit=limit)
    trials = [trial]
    for sibling in ids:
        try:
            trials.append(optuna.trial.Trial(study, sibling))
        except Exception as exc:
            backend_of(study).set_user_attr(sibling, "fail_reason", f"{type(exc).__name__}: {exc}")
            backend_of(study).set_state(sibling, TrialState.FAIL)
            report.failed += 1
    if len(trials) < 2:
        return DECLINED
    return _run(study, trials, objective, heartbeat, options, store, report, on_trial)


def _run(study, trials, objective, heartbeat, options, store, report, on_trial) -> str:
    beats = ([Heartbeat(backend_of(study), trial_id_of(t), options.heartbeat_interval) for t in trials]
             if heartbeat else [])
    finished: set[int] = set()
    try:
        for t in trials:
            t.set_user_attr("worker", worker_name())
        values = run_repeats(objective, trials)
        for t, value in zip(trials, values):  # they beat until told: a tell may wait out an outage
            frozen = _finish(study, t, value, store)
            finished.add(trial_id_of(t))
            report.record(t.number, frozen)
            if frozen is not None and on_trial is not None:
                on_trial(frozen)
        return BATCHED
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: hand every unfinished cell back, then stop
        _hand_back_all(study, trials, finished, beats)
        raise
    except Exception:
        log.error("batched repeats failed; handing their cells back:\n%s", traceback.format_exc())
        _hand_back_all(study, trials, finished, beats)
        return FAILED
    finally:
        for beat in beats:
            beat.stop()


def _hand_back_all(study, trials, finished, beats) -> None:
    for beat in beats:
        beat.stop()
    for t in trials:
        if trial_id_of(t) not in finished:
            hand_back_trial(study, t)


def _finish(study: optuna.Study, trial: optuna.trial.Trial, value: Any, store: Any) -> optuna.trial.FrozenTrial | None:
    """Tell one trial's outcome (an exception the fused run caught for it becomes FAIL with its
    reason) through the same :func:`studies.engine._claimed.tell` as a trial run alone."""
    state = None
    if isinstance(value, optuna.TrialPruned):
        value, state = None, TrialState.PRUNED
    elif isinstance(value, LayerlabError):
        trial.set_user_attr("fail_reason", str(value))
        value, state = None, TrialState.FAIL
    elif isinstance(value, BaseException):
        trial.set_user_attr("fail_reason", f"{type(value).__name__}: {value}")
        log.error("trial %d failed: %s", trial.number, value)
        value, state = None, TrialState.FAIL
    try:
        return tell(study, trial, value, state, store)  # a NaN (diverged, fail_reason set) becomes FAIL there
    except UpdateFinishedTrialError:
        log.warning("trial %d was declared dead and re-queued meanwhile; its result is discarded", trial.number)
        return None
