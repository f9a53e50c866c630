"""The repeats of one config as one batch of Optuna trials: trained together, recorded apart.

:func:`run_repeats` is the batched counterpart of calling :class:`ClassifyObjective` once per
trial. Each trial still gets its own seed, user attributes, per-epoch reports (so a pruner may
stop one repeat while the others go on) and objective value, so nothing downstream of a trial
changes. The training itself is ``objectives.train._batched.fit_batched``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna

from objectives._objective import TRIAL_METRICS, ClassifyObjective, _reporter
from objectives.data import prepare_data
from objectives.train import Diverged, EpochStats
from objectives.train._batched import choose_batched, fit_batched

# The metrics ClassifyObjective.__call__ stores on a trial: the same single list.
METRIC_ATTRS = TRIAL_METRICS


def supports_batch(objective: Any) -> bool:
    """Only the plain classify objective (subclasses, e.g. objectives.skip, train differently), and only
    when all its repeats see the same images (a variance design that varies the split does not)."""
    return type(objective) is ClassifyObjective and not objective.seeding.varies_data


def plan_batch(objective: ClassifyObjective, trial: optuna.trial.Trial, k: int, mode: str) -> tuple[bool, str]:
    """Whether the ``k`` repeats of ``trial``'s config should train batched under ``mode``, and why."""
    if not supports_batch(objective):
        return False, f"objective {type(objective).__name__} is not batched"
    run, _repeat, _seed = objective.resolve(trial)
    data = prepare_data(run.data, device=objective.device, data_dir=objective.data_dir)
    return choose_batched(run, data, k, mode)


def has_resume_point(objective: ClassifyObjective, trials: Sequence[optuna.trial.Trial]) -> bool:
    """True when any trial has a checkpoint to resume from (a batch trains from its start, so
    such cells run sequentially and keep their finished epochs)."""
    if objective.checkpoint_dir is None:
        return False
    for trial in trials:
        run, repeat, _seed = objective.resolve(trial)
        if (objective.checkpoint_dir / f"{run.config_id}-r{repeat}.pt").exists():
            return True
    return False


def run_repeats(objective: ClassifyObjective, trials: Sequence[optuna.trial.Trial]) -> list[float | BaseException]:
    """Train the trials (repeats of one config) together; per trial, its objective value (NaN for
    a diverged one, with ``fail_reason`` set) or the exception that ended it (``TrialPruned``...)."""
    resolved = [objective.resolve(trial) for trial in trials]
    run = resolved[0][0]
    if any(r.config_id != run.config_id for r, _, _ in resolved):
        raise ValueError("run_repeats takes the repeats of one config")
    data = prepare_data(run.data, device=objective.device, data_dir=objective.data_dir)
    for trial, (r, repeat, seed) in zip(trials, resolved):
        objective.record_cell(trial, r, repeat, seed, data)
    reporters = [_reporter(trial, objective.on_epoch) for trial in trials]

    def on_epoch(index: int, stats: EpochStats) -> None:
        reporters[index](stats)

    seeds = [objective.cell_seeds(repeat).train for _, repeat, _ in resolved]
    outcomes = fit_batched(run, data, seeds=seeds, on_epoch=on_epoch)
    values: list[float | BaseException] = []
    for trial, outcome in zip(trials, outcomes):
        if isinstance(outcome, Diverged):
            trial.set_user_attr("fail_reason", str(outcome))
            values.append(math.nan)
        elif isinstance(outcome, BaseException):
            values.append(outcome)
        else:
            metrics = outcome.metrics()
            for key in METRIC_ATTRS:
                trial.set_user_attr(key, metrics[key])
            for key, value in outcome.extra.items():
                trial.set_user_attr(key, value)
            values.append(outcome.val_accuracy)
    return values
