"""Cells: the units of work of a study, each to finish exactly once.

A cell is one (config, repeat). A grid study knows all its cells up front and queues each as a
WAITING trial. A sampled study (tpe/random) queues ``n_trials`` empty *slots* (WAITING trials with
repeat 0 and no parameters): the worker that claims a slot lets the sampler fill its parameters,
then queues the slot's other repeats with the same parameters (user attribute ``repeat_of`` = the
slot's trial number). Claiming a slot goes through the same atomic WAITING -> RUNNING transition as
a grid cell, so N workers sample exactly ``n_trials`` configs.

A retried trial (a dead worker's cell re-queued by Optuna's ``RetryHeartbeatStaleTrialCallback``)
keeps its cell: same parameters and repeat, and ``system_attrs['failed_trial']`` names the first try.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from studies._spec import StudySpec
from studies.storage import backend_of, trial_id_of

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's parameters; a WAITING trial holds them in ``fixed_params`` until it runs."""
    fixed = trial.system_attrs.get("fixed_params")
    return dict(fixed) if fixed else dict(trial.params)


def repeat_of(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get("repeat", 0))


def root_number(trial: FrozenTrial) -> int:
    """The trial number naming a sampled config: its slot (the first try of repeat 0)."""
    if repeat_of(trial) > 0 and "repeat_of" in trial.user_attrs:
        return int(trial.user_attrs["repeat_of"])
    return int(trial.system_attrs.get("failed_trial", trial.number))


def cell_key(params: dict[str, Any], repeat: int) -> str:
    return json.dumps([params, int(repeat)], sort_keys=True, default=str)


def cell_of(trial: FrozenTrial, sampler: str) -> str:
    """The cell a trial belongs to: parameters and repeat for a grid, slot and repeat otherwise."""
    if sampler == "grid":
        return cell_key(trial_params(trial), repeat_of(trial))
    return json.dumps(["slot", root_number(trial), repeat_of(trial)])


def queue_grid(study: optuna.Study, spec: StudySpec, *, progress: bool = False) -> int:
    """Queue every grid cell that has no trial yet; returns how many were queued (one storage
    transaction for all of them, see :meth:`studies.storage.Backend.add_trials`). ``progress``: a bar on a
    terminal's stderr (queueing thousands of cells takes a while on a remote database)."""
    from studies._progress import terminal_bar

    present = {cell_of(t, "grid") for t in study.get_trials(deepcopy=False)}
    waiting = []
    for params, _config, repeat in terminal_bar(spec.grid_cells(), enabled=progress, desc="queueing cells", unit="cell",
                                                total=spec.total_cells()):
        key = cell_key(params, repeat)
        if key in present:
            continue
        # what study.enqueue_trial(params, user_attrs=...) adds
        waiting.append(optuna.trial.create_trial(
            state=TrialState.WAITING, system_attrs={"fixed_params": params}, user_attrs={"repeat": repeat}
        ))
        present.add(key)
    backend_of(study).add_trials(study, waiting)
    return len(waiting)


def queue_slots(study: optuna.Study, spec: StudySpec) -> int:
    """Queue empty slots until a sampled study has ``n_trials`` configs; returns how many."""
    slots = {root_number(t) for t in study.get_trials(deepcopy=False) if repeat_of(t) == 0}
    missing = max(0, (spec.n_trials or 0) - len(slots))
    for _ in range(missing):
        study.enqueue_trial({}, user_attrs={"repeat": 0})
    return missing


def fill_slot(study: optuna.Study, trial: optuna.trial.Trial, spec: StudySpec) -> None:
    """Give a just-claimed slot of a sampled study its parameters and queue its other repeats.

    The sampler fills the slot through the one trial-to-config path (``objectives.interface.trial_config``);
    the repeats are queued once the parameters are set and before the config is checked, so a
    config that fails its check fails in every repeat. A grid cell, or a slot's repeat, arrives
    with its parameters: nothing to do.
    """
    if spec.sampler == "grid" or repeat_of(backend_of(study).get_trial(trial_id_of(trial))) != 0:
        return
    from objectives.interface import objective_config_parts, trial_config  # here: `study status` never imports torch

    trial_config(spec.space, trial, parts=objective_config_parts(spec.objective),
                 on_params=lambda: queue_repeats(study, trial, spec.repeats))


def record_params(trial: optuna.trial.Trial, spec: StudySpec) -> None:
    """Suggest ``trial``'s parameters (a pruned config's repeat that will not train records
    them, so it reads like its config's other trials)."""
    from objectives.interface import objective_config_parts, trial_config  # here: `study status` never imports torch

    trial_config(spec.space, trial, parts=objective_config_parts(spec.objective))


def queue_repeats(study: optuna.Study, trial: optuna.trial.Trial, repeats: int) -> int:
    """Queue repeats 1..K-1 of a slot whose parameters were just sampled (those not queued yet)."""
    frozen = backend_of(study).get_trial(trial_id_of(trial))
    root = root_number(frozen)
    have = {
        repeat_of(t)
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("repeat_of") == root and repeat_of(t) > 0
    }
    queued = 0
    for repeat in range(1, repeats):
        if repeat not in have:
            study.enqueue_trial(dict(frozen.params), user_attrs={"repeat": repeat, "repeat_of": root})
            queued += 1
    return queued


def requeue(frozen: FrozenTrial) -> optuna.trial.FrozenTrial:
    """A WAITING copy of a trial's cell (same parameters, repeat and slot), marked as a retry the
    way Optuna's ``RetryHeartbeatStaleTrialCallback`` marks one."""
    history = [*frozen.system_attrs.get("retry_history", []), frozen.number]
    user_attrs = {k: frozen.user_attrs[k] for k in ("repeat", "repeat_of", "oom_retries") if k in frozen.user_attrs}
    system_attrs = {"failed_trial": history[0], "retry_history": history}
    params = trial_params(frozen)
    if params:
        system_attrs["fixed_params"] = params
    return optuna.trial.create_trial(
        state=TrialState.WAITING,
        params=frozen.params,
        distributions=frozen.distributions,
        user_attrs=user_attrs,
        system_attrs=system_attrs,
    )


# fail reasons of a cell handed back by its worker (stopped, an infrastructure fault, or out of GPU
# memory beside other trials, see studies.engine._gpu_share): the cell was not at fault, and a relaunch
# runs it again without --retry-failed
OOM_HANDED_BACK = "out of GPU memory; handed back"
HANDED_BACK = ("interrupted", "infrastructure: ", OOM_HANDED_BACK)


def requeue_failed(study: optuna.Study, spec: StudySpec, *, handed_back_only: bool = False) -> int:
    """Queue one more try of every cell whose trials all failed (``study launch --retry-failed``).

    ``handed_back_only`` (every launch does this, under ``study_lock``): only the cells whose last
    trial was handed back (``HANDED_BACK``) without its new copy being queued, which happens when
    the worker is stopped between failing the trial and queueing the copy."""
    by_cell: dict[str, list[FrozenTrial]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False):
        by_cell[cell_of(t, spec.sampler)].append(t)
    queued = 0
    for trials in by_cell.values():
        if all(t.state == TrialState.FAIL for t in trials):
            last = max(trials, key=lambda t: t.number)
            if handed_back_only and not str(last.user_attrs.get("fail_reason", "")).startswith(HANDED_BACK):
                continue
            study.add_trial(requeue(last))
            queued += 1
    return queued


@dataclass
class CellCounts:
    """How far a study is through its cells (see :func:`count_cells`)."""

    total: int | None  # cells the finished study will have (None: unbounded)
    complete: int = 0  # cells with a COMPLETE trial
    pruned: int = 0  # cells with a PRUNED trial (and no COMPLETE one)
    running: int = 0  # unfinished cells with a RUNNING trial
    waiting: int = 0  # unfinished cells queued as WAITING (none running)
    failed: int = 0  # cells whose every trial failed: no retry pending (--retry-failed queues one)
    duplicated: int = 0  # cells finished more than once (0 unless exactly-once was broken)
    retries: int = 0  # trials that re-run a cell after its worker died or was stopped
    seen: set = field(default_factory=set, repr=False)

    @property
    def done(self) -> int:
        return self.complete + self.pruned

    @property
    def remaining(self) -> int | None:
        """Cells still to finish: running, waiting or not queued yet (failed ones excluded)."""
        return None if self.total is None else max(0, self.total - self.done - self.failed)


def cell_trials(study: optuna.Study) -> list[Any]:
    """Every trial with its number, state, parameters and the attributes naming its cell, and
    nothing else (no values, metrics or histories): cheap on a database, whatever the study's size."""
    return backend_of(study).cell_trials(study)


def count_cells(study: optuna.Study, spec: StudySpec, trials: list[FrozenTrial] | None = None) -> CellCounts:
    """Progress through the cells; ``trials`` (default: read from the study, cell attributes only)
    lets a caller that already read them pass them in."""
    by_cell: dict[str, list[FrozenTrial]] = defaultdict(list)
    counts = CellCounts(total=spec.total_cells())
    if trials is None:
        trials = cell_trials(study)
    for t in trials:
        by_cell[cell_of(t, spec.sampler)].append(t)
        counts.retries += "failed_trial" in t.system_attrs
    for key, trials in by_cell.items():
        counts.seen.add(key)
        states = [t.state for t in trials]
        finished = sum(s in DONE_STATES for s in states)
        counts.duplicated += max(0, finished - 1)
        if TrialState.COMPLETE in states:
            counts.complete += 1
        elif TrialState.PRUNED in states:
            counts.pruned += 1
        elif TrialState.RUNNING in states:
            counts.running += 1
        elif TrialState.WAITING in states:
            counts.waiting += 1
        else:
            counts.failed += 1
    return counts
