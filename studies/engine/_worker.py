"""Workers: claim a study's queued cells one at a time and run them.

Optuna's ``GridSampler`` can run a grid point twice when several workers share one storage. Here
every cell is queued once, as a WAITING trial, when the study is launched (see
:mod:`studies.engine._cells`), and a worker only *claims* a WAITING trial through the storage's atomic
WAITING -> RUNNING transition (a row lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, log order
on a journal). A worker never asks the sampler for a new trial, so N workers on one storage finish
with every cell COMPLETE exactly once.

Each running trial beats a heartbeat. A worker records the beat *before* it claims a trial, so no
RUNNING trial is ever without one, and before every claim it fails trials whose heartbeat stopped
(their worker died); Optuna's ``RetryHeartbeatStaleTrialCallback`` then re-queues the same cell, and
only the worker whose FAIL transition succeeded does so, so a dead cell comes back exactly once.
Idle workers wait while other trials still run, because those may yet die and need a taker; they
exit when nothing is waiting or running.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from objectives import make_objective
from objectives.interface import resolve_device
from objectives.interface import is_out_of_memory
from objectives.interface import checkpoint_owner
from objectives.interface import end_start_up, pause_collection, resume_collection
from searchspace.errors import LayerlabError
from studies._artifacts import (CHECKPOINT_KEY, SPEC_ATTR, artifact_dir_of, artifact_store, checkpoint_dir_of,
                                usable_checkpoint_dir)
from studies.engine._cells import fill_slot, record_params, requeue
from studies.engine._claimed import (
    Heartbeat,
    WorkerReport,
    hand_back_claimed,
    hand_back_trial,
    study_lock_of,
    tell,
    worker_name,
)
from studies.engine._faults import (
    FaultError,
    as_fault,
    exit_with_parent,
    first_line,
    hand_back,
    handing_back,
    is_transient,
)
from studies.engine._race_storage import advance_race
from studies._options import check_options
from studies.engine._prune import ConfigPruner, skip_pruned_config
from studies._spec import StudyError, StudySpec, load_spec
from studies.storage import (
    BatchedTrial,
    StorageOptions,
    backend_of,
    close_storage,
    is_lock_error,
    open_storage,
    outage_clock,
    outage_fault,
    trial_id_of,
)

log = logging.getLogger("layerlab")

CLAIM_CANDIDATES = 8  # waiting ids read per claim: enough for a few workers racing for the same one


def make_sampler(spec: StudySpec, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler that fills a sampled study's slots (grid cells arrive with their parameters)."""
    seed = (spec.seed + 1000 * worker_index) % 2**32  # workers must not all propose the same first points
    if spec.sampler == "tpe":
        # multivariate + group model joint and conditional spaces; constant_liar keeps parallel
        # workers from proposing the same point while their trials run. (Optuna calls these
        # options experimental; we rely on them knowingly.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """Optuna's pruners on the per-epoch validation accuracy the objective reports, applied to
    configs as a whole (mean over repeats; all repeats pruned or kept together, studies.engine._prune),
    warmed up in proportion to the study and stopping only configs whose repeats show them worse
    than the best (:data:`PRUNE_ALPHA`)."""
    if spec.pruner == "none":
        return optuna.pruners.NopPruner()
    configs, epochs = study_size(spec)
    warmup = math.ceil(epochs * PRUNE_WARMUP_SHARE)  # epochs 1..warmup are never pruned
    if spec.pruner == "median":  # n_startup_trials counts configs here (that many fully run)
        startup = max(1, math.ceil(configs * PRUNE_STARTUP_SHARE))
        inner = optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup + 1)
    elif spec.pruner == "halving":
        inner = optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup + 1)
    else:
        inner = optuna.pruners.HyperbandPruner(min_resource=warmup + 1, max_resource=max(epochs, warmup + 2))
    return ConfigPruner(inner, warmup_steps=warmup, alpha=PRUNE_ALPHA, keep=PRUNE_KEEP)


# Pruning warms up in proportion to the study: a quarter of its epochs, and (median) a tenth of its
# configs run in full before any is judged. Then a config stops only when its repeats show it worse
# than each of the leaderboard's top 3 at this one-sided level per decision
# (studies.engine._prune.worse_than_best; measured in benchmarks/bench_engine.py --parts prune, see
# docs/speed.md#pruning-by-config).
PRUNE_WARMUP_SHARE = 0.25
PRUNE_STARTUP_SHARE = 0.1
PRUNE_ALPHA = 0.01
PRUNE_KEEP = 3


def study_size(spec: StudySpec) -> tuple[int, int]:
    """(configs, maximum epochs) of ``spec``: what its pruner's warm-up is proportional to."""
    configs = spec.n_trials or 1
    if spec.sampler == "grid":
        try:
            configs = min(spec.grid_size(), spec.n_trials or spec.grid_size())
        except LayerlabError:
            pass  # no grid (a continuous dimension): validate() refuses such a grid study
    epochs = []
    for dim in spec.space:
        if "epochs" in dim.writes():
            try:
                epochs += [dim.decode(p).get("epochs") for p in dim.param_values()]
            except (LayerlabError, TypeError, ValueError):
                continue  # a continuous epochs dimension: left to the default below
    epochs = [int(e) for e in epochs if isinstance(e, (int, float)) and not isinstance(e, bool)]
    if not epochs:
        from objectives.interface import TrainConfig

        epochs = [TrainConfig().epochs]
    return max(1, configs), max(epochs)


def claim_waiting(study: optuna.Study, *, heartbeat: bool | None = None) -> int | None:
    """Atomically move one WAITING trial to RUNNING; its id, or None when none is waiting.

    With ``heartbeat`` (default: when the storage has one) the trial's heartbeat is recorded just
    before the claim, so a worker killed right after claiming still leaves a beat that goes stale.
    The caller starts the trial's heartbeat, then calls ``note_claimed`` before building a trial.
    """
    backend = backend_of(study)
    heartbeat = backend.has_heartbeat() if heartbeat is None else heartbeat
    token = f"{worker_name()}:{secrets.token_hex(4)}"  # recognises this worker's claim when it is retried
    while True:
        # a few ids from an indexed query, not every waiting trial
        candidates = backend.waiting_ids(study, CLAIM_CANDIDATES)
        if not candidates:
            return None
        for trial_id in candidates:
            try:
                if heartbeat:
                    backend.record_heartbeat(trial_id)
                if backend.claim(study, trial_id, token):
                    return trial_id  # the caller starts its heartbeat, then notes it (note_claimed)
            except UpdateFinishedTrialError:
                continue
            except Exception as exc:  # SQLite past its busy timeout: try the next one
                if not is_lock_error(exc):
                    raise
                time.sleep(0.05)
        # every candidate was taken by other workers meanwhile: read the next few


def _open_study(storage, study_name: str) -> optuna.Study:
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise StudyError(f"no study named {study_name!r} in this storage") from None


def work(
    storage_url: str,
    study_name: str,
    *,
    device: str = "auto",
    data_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    artifact_dir: str | Path | None = None,
    worker_index: int = 0,
    options: StorageOptions | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
    max_trials: int | None = None,
    wait: bool = True,
    batch_repeats: str = "off",
    gpu_slot: tuple[int, int] = (0, 1),
) -> WorkerReport:
    """:func:`run_worker` in this process alone: claim and run cells of study ``study_name`` until
    none is waiting or running (the arguments are run_worker's; ``trials_per_gpu`` is decided by
    the caller, :mod:`studies.engine._processes`)."""
    from objectives.interface import check_batch_mode

    pause_collection()  # the start-up imports a lot: no full collections over it (objectives._warm)
    try:
        check_batch_mode(batch_repeats)
        check_options(worker_index=worker_index)
        outage_clock.start_over()  # an earlier run of this process that gave up on an outage does not stop this one
        options = options or StorageOptions()
        exit_with_parent()  # a worker process of `study launch` dies with it (studies.engine._faults)
        storage = open_storage(storage_url, options=options, wait=True)  # joins a study that exists: waits outages out
        spec = load_spec(_open_study(storage, study_name))
        study = optuna.load_study(
            study_name=study_name, storage=storage, sampler=make_sampler(spec, worker_index), pruner=make_pruner(spec)
        )
        # every entry point resumes: by default from the directory recorded on the study (created only
        # once the device is known good, so a bad --device writes nothing)
        from studies.engine._gpu_options import check_precision_on_device

        check_precision_on_device(spec.space, resolve_device(device))  # fp16 on a CPU: one line, nothing written
        backend_of(storage).ensure_claim_index()  # once the study and device are known good: a bad input writes nothing
        checkpoint_dir = usable_checkpoint_dir(
            checkpoint_dir if checkpoint_dir is not None else checkpoint_dir_of(study)
        )
        design = {"seeding": spec.seed_design()} if spec.vary else {}  # only a design's objective takes it
        objective = make_objective(
            spec.objective, spec.space, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
            base_seed=spec.seed, on_epoch=on_epoch, **design,
        )
        end_start_up()  # freezes what lives as long as the process, resumes the collector
    finally:
        resume_collection()  # also when the start-up failed
    try:
        # checkpoints record it (studies.engine._launch)
        key = (study.user_attrs.get(SPEC_ATTR) or {}).get(CHECKPOINT_KEY)
        store = _artifact_store(study, artifact_dir)
        report = WorkerReport()
        backend = backend_of(study)
        heartbeat = backend.has_heartbeat()
        # An idle worker looks again after 0.05 s, doubling up to 0.5 s (three indexed queries a look):
        # it takes a cell re-queued or added (a sampled slot's repeats) within moments, and exits at
        # most 0.5 s after the last running trial ends.
        poll = 0.5
        idle = 0.05
        while max_trials is None or len(report.trials) < max_trials:
            if heartbeat:
                try:
                    backend.fail_stale_trials(study)
                except Exception as exc:  # SQLite past its busy timeout: look again next round
                    if not is_lock_error(exc):
                        raise
            trial_id = claim_waiting(study, heartbeat=heartbeat)
            if trial_id is None and advance_race(study, storage_url):  # a race's next round (once, locked)
                continue
            if trial_id is None:
                # Without a heartbeat a dead worker's trial would stay RUNNING forever: do not wait on it.
                if wait and heartbeat and backend.has_running(study):
                    time.sleep(idle)  # others are running: they may still die and need a taker
                    idle = min(poll, 2 * idle)
                    continue
                break
            idle = 0.05
            beat = None
            try:  # an interrupt anywhere from the claim on hands the cell back (_run_trial does it inside)
                # It beats from the claim until it is told: setting the trial up or telling it may wait out
                # an outage, and a trial that did not beat for the grace period after one would be lost.
                beat = Heartbeat(backend, trial_id, options.heartbeat_interval) if heartbeat else None
                backend.note_claimed(study, trial_id)  # a cache in front of the storage learns of the trial
                try:
                    trial = BatchedTrial(study, trial_id)  # samplers prepare relative params here
                except Exception as exc:
                    log.error("trial %d could not start:\n%s", trial_id, traceback.format_exc())
                    backend.set_user_attr(trial_id, "fail_reason", f"{type(exc).__name__}: {exc}")
                    backend.set_state(trial_id, TrialState.FAIL)
                    report.failed += 1
                    continue
                if batch_repeats != "off":
                    from studies.engine._batch import FAILED, run_config_batch

                    limit = None if max_trials is None else max_trials - len(report.trials) - 1
                    outcome = run_config_batch(study, trial, spec, objective, mode=batch_repeats, heartbeat=heartbeat,
                                               options=options, store=store, report=report, on_trial=on_trial,
                                               limit=limit)
                    if outcome == FAILED:
                        batch_repeats = "off"  # its cells were handed back: run them one by one from now on
                    if outcome != "declined":
                        continue
                try:
                    with checkpoint_owner(study_name, key):  # its checkpoints record the study, its key and the cell
                        frozen = _run_trial(study, trial, spec, objective, beat, store, storage_url, gpu_slot)
                except _Retire as retire:
                    report.record(trial.number, retire.frozen)
                    report.retired = retire.reason
                    log.warning("worker %s (slot %d of %d on its GPU) retires: %s", worker_name(), *gpu_slot,
                                retire.reason)
                    break
                report.record(trial.number, frozen)
                if frozen is not None and on_trial is not None:
                    on_trial(frozen)
            except KeyboardInterrupt:
                if beat is not None:
                    beat.stop()
                try:
                    hand_back_claimed(study, trial_id, storage_url)  # nothing when already handed back
                except FaultError as fault:  # the storage is away: the heartbeat, standing still, re-queues it
                    log.warning("trial %d not handed back: %s", trial_id, fault)
                raise
            finally:
                if beat is not None:
                    beat.stop()
        if report.completed:
            _mark_best(study)
        return report
    finally:
        # its connections now, not at a collection that may never come (objectives._warm); a stop
        # signal (the launch's SIGTERM after a fault) must not cut a close short: SQLAlchemy would
        # log the interrupted close with its traceback
        with handing_back():
            close_storage(storage)


def _mark_best(study: optuna.Study) -> None:
    """The best config by its mean over seeds, on the study for the dashboard (studies.engine._study_info);
    a storage error here costs the mark only, never the trials the worker ran."""
    from studies.engine._study_info import mark_best_config

    try:
        mark_best_config(study)
    except Exception as exc:  # e.g. SQLite past its busy timeout while other workers write
        log.warning("best config not marked on the study: %s", first_line(exc))


def _artifact_store(study: optuna.Study, artifact_dir: str | Path | None):
    path = Path(artifact_dir) if artifact_dir is not None else artifact_dir_of(study)
    if path is None:
        return None
    try:
        return artifact_store(path)
    except OSError as exc:  # e.g. a directory recorded on another machine: run without artifacts
        log.warning("artifacts disabled: cannot use %s (%s)", path, exc)
        return None


class _Retire(Exception):
    """A trial ran out of GPU memory beside others: its cell is handed back and this worker stops."""

    def __init__(self, frozen: optuna.trial.FrozenTrial | None, reason: str) -> None:
        super().__init__(reason)
        self.frozen, self.reason = frozen, reason


def _run_trial(
    study: optuna.Study,
    trial: optuna.trial.Trial,
    spec: StudySpec,
    objective: Callable[[optuna.trial.Trial], float],
    beat: Heartbeat | None,
    store: Any,
    storage_url: str | None = None,
    gpu_slot: tuple[int, int] = (0, 1),
) -> optuna.trial.FrozenTrial | None:
    """Run a claimed trial and tell its outcome; ``beat`` (the trial's heartbeat, started at the
    claim) beats until the tell is written."""

    def finish(value: float | None = None, state: TrialState | None = None) -> optuna.trial.FrozenTrial:
        return tell(study, trial, value, state, store)

    try:
        try:
            trial.set_user_attr("worker", worker_name())
            fill_slot(study, trial, spec)  # a sampled slot: the sampler fills it; its repeats reuse the params
            skip_pruned_config(study, trial, lambda: record_params(trial, spec))  # pruned config: no training
            value = objective(trial)
        except optuna.TrialPruned:
            return finish(state=TrialState.PRUNED)
        except FaultError:
            raise  # the machine's fault (an outage past its limit, a full disk), not the cell's: handed back below
        except UpdateFinishedTrialError:
            raise  # declared dead meanwhile (e.g. this process was stopped past the grace period): below
        except LayerlabError as exc:
            trial.set_user_attr("fail_reason", str(exc))
            log.error("trial %d failed: %s", trial.number, exc)
            return finish(state=TrialState.FAIL)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (e.g. a preempted cluster job): hand the cell back
            with handing_back():  # a second stop signal must not cut the hand-back short
                if beat is not None:
                    beat.stop()
                try:
                    hand_back_trial(study, trial, storage_url)
                except FaultError as fault:  # the storage is away: the heartbeat, standing still, re-queues it
                    log.warning("trial %d not handed back: %s", trial.number, fault)
            raise
        except Exception as exc:  # a bug or a resource error: record it, keep the study going
            if as_fault(exc, storage_url) is not None or is_transient(exc, storage_url):
                raise  # the machine's fault, not the cell's: handed back below
            if is_out_of_memory(exc):  # this trial fails alone; the others on the GPU run on
                return _out_of_memory(study, trial, exc, finish, storage_url, gpu_slot)
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
            log.error("trial %d failed:\n%s", trial.number, traceback.format_exc())
            return finish(state=TrialState.FAIL)
        return finish(value)
    except UpdateFinishedTrialError:
        frozen = backend_of(study).get_trial(trial_id_of(trial))
        told = (frozen.state in (TrialState.COMPLETE, TrialState.PRUNED)
                and frozen.user_attrs.get("worker") == worker_name())
        if told:  # told by this worker: the answer to the tell was cut (a database restarting), not the tell
            return frozen
        log.warning("trial %d was declared dead and re-queued meanwhile; its result is discarded", trial.number)
        return None
    except Exception as exc:  # a full disk, a lost storage: hand the cell back and stop this worker
        fault = as_fault(exc, storage_url) or outage_fault(exc, storage_url)
        if fault is None:
            raise
        if beat is not None:
            beat.stop()
        hand_back(study, trial, f"infrastructure: {fault}")
        raise fault from None
    finally:
        if beat is not None:
            beat.stop()


def _out_of_memory(study, trial, exc: BaseException, finish, storage_url: str | None, gpu_slot: tuple[int, int]):
    """A trial that ran out of GPU memory: free what it held, fail it with the reason, and (beside
    other trials, fewer than OOM_RETRIES times) queue its cell again at once, under the study lock
    as any hand-back; a worker in slot > 0 then retires (studies.engine._gpu_share.oom_outcome)."""
    from objectives.interface import release_cached_memory
    from studies.engine._gpu_share import oom_outcome

    release_cached_memory()
    reason, again, retire = oom_outcome(trial, slot=gpu_slot[0], per_gpu=gpu_slot[1])
    log.error("trial %d ran out of GPU memory: %s (%s)", trial.number, first_line(exc), reason)
    with handing_back(), study_lock_of(study, storage_url):
        trial.set_user_attr("fail_reason", reason)
        if again:
            trial.set_user_attr("oom_retries", int(trial.user_attrs.get("oom_retries", 0) or 0) + 1)
        frozen = finish(state=TrialState.FAIL)
        if again:
            study.add_trial(requeue(frozen))
    if retire:
        raise _Retire(frozen, f"trial {trial.number} ran out of GPU memory beside other trials; its cell was queued "
                              "again for a worker with fewer neighbours")
    return frozen

