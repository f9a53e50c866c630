"""Pruning by config: an Optuna pruner's decision applies to all repeats of a config together.

Optuna's pruners judge one trial at a time. In layerlab a config runs as several trials (its seed
repeats), so a per-trial pruner can prune some repeats of a config and keep others, or prune
every repeat of a config that then silently drops out of the leaderboard. :class:`ConfigPruner`
wraps any Optuna pruner and runs the wrapped pruner's own logic on per-config aggregates:

- **A view with one trial per config.** On each check it builds an in-memory Optuna study holding
  one trial per config, whose intermediate value at step ``s`` is the mean over that config's
  repeats that reported step ``s`` (the mean learning curve). A config with a COMPLETE repeat is
  COMPLETE in the view, a pruned config PRUNED, any other RUNNING. The wrapped pruner then
  decides on the current config's view trial, against the other configs' curves, exactly as it
  would on single trials (median, successive halving, Hyperband: nothing is re-implemented).
- **One decision per config.** A config with a COMPLETE repeat is never pruned (it survived).
  While other repeats of the config run and have not yet reached the current step, the decision
  waits for the last of them (so batched or parallel repeats are judged on their mean); with
  repeats running one after another, the first repeat to reach a step decides for its config.
  A pruned config's decision is stored on the deciding trial (user attribute ``pruned_config``:
  the epoch it was pruned at), and every other repeat of it is pruned at its next report (the
  first epoch for one that starts later), carrying the same attribute.
- **State across workers.** Successive halving and Hyperband store rung results as system
  attributes of the judged trial; on the view trial these are copied back onto the real trial
  under the prefix ``config_pruner:``, so they reach every worker through the study's storage.

- **Evidence from the repeats** (``alpha``; on for every study's pruner, :func:`make_pruner`). A
  config the wrapped pruner would stop is stopped only if the repeats show it worse than the best
  config at that epoch: a one-sided pooled two-sample t test of its best-so-far validation
  accuracy against the best config's, with the seed-to-seed variance pooled over every config's
  repeats at that epoch (:func:`worse_than_best`). Where configs are tied within seed noise (six
  of the demo's seven) nothing is stopped, so a pruned study ranks the same ties an unpruned one
  does; where configs really differ, the clearly worse stop early. Without repeats to measure the
  noise (a study of one repeat per config, or before any config has two), nothing is stopped.
- **Warm-up in proportion to the study.** No config is stopped in its first ``warmup_steps``
  epochs (a quarter of the study's, :func:`make_pruner`): learning curves cross early, and a
  config that starts slowly may end among the best.

Why hand-written: Optuna has no notion of groups of trials or of seed repeats; this is the thin
glue that lets its pruners see one config where layerlab stores several trials, and the one test
that asks the repeats before a config is stopped.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from studies.engine._cells import trial_params
from studies.storage import backend_of, trial_id_of

PRUNED_ATTR = "pruned_config"  # user attr: the epoch (step) at which the trial's config was pruned
_PREFIX = "config_pruner:"  # system attrs the wrapped pruner set on a config's view trial


def config_key(trial: FrozenTrial) -> str:
    """The config a trial belongs to: its parameters (a WAITING trial's ``fixed_params``)."""
    return json.dumps(trial_params(trial), sort_keys=True, default=str)


def config_pruned_at(trials: list[FrozenTrial]) -> int | None:
    """The epoch at which the config of ``trials`` (its repeats) was pruned, or None."""
    steps = [int(t.user_attrs[PRUNED_ATTR]) for t in trials if PRUNED_ATTR in t.user_attrs]
    return min(steps) if steps else None


class ConfigPruner(optuna.pruners.BasePruner):
    """Prune or keep all repeats of a config together; see the module docstring.

    Args:
        pruner: the Optuna pruner whose logic is applied to per-config mean learning curves
            (e.g. ``MedianPruner`` counts configs, not trials, in ``n_startup_trials``).
        warmup_steps: epochs at the start of every config in which it is never stopped.
        alpha: when set, a config the wrapped pruner would stop is stopped only if its repeats'
            evidence shows it worse than the best config at that epoch, at this one-sided level
            (:func:`worse_than_best`); None leaves the wrapped pruner's decision alone.
        keep: with ``alpha``, a config must be shown worse than each of the ``keep`` best, so
            that the top ``keep`` of the leaderboard are never stopped.
    """

    def __init__(
        self, pruner: optuna.pruners.BasePruner, *, warmup_steps: int = 0, alpha: float | None = None, keep: int = 1
    ) -> None:
        if not isinstance(pruner, optuna.pruners.BasePruner):
            raise TypeError(f"pruner must be an optuna BasePruner, got {type(pruner).__name__}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
        if alpha is not None and not 0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
        self._pruner = pruner
        self._warmup_steps = warmup_steps
        self._alpha = alpha
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self._keep = keep

    @property
    def pruner(self) -> optuna.pruners.BasePruner:
        """The wrapped Optuna pruner."""
        return self._pruner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        key = config_key(trial)
        by_config: dict[str, list[FrozenTrial]] = {}
        for t in study.get_trials(deepcopy=False):
            if trial_id_of(t) != trial_id_of(trial):
                by_config.setdefault(config_key(t), []).append(t)
        siblings = by_config.get(key, [])
        by_config[key] = [*siblings, trial]  # the current trial's fresh values, not the storage copy's
        pruned_at = config_pruned_at(siblings)
        if pruned_at is not None:
            return self._mark(study, trial, pruned_at)
        if any(t.state == TrialState.COMPLETE for t in siblings):
            return False  # the config survived: a repeat of it ran to the end
        if any(t.state == TrialState.RUNNING and (t.last_step is None or t.last_step < step) for t in siblings):
            return False  # a running repeat has not reached this step yet: it decides when it does
        if step <= self._warmup_steps:
            return False  # curves cross early: a config that starts slowly may end among the best
        view, view_trial = _config_view(study, by_config, key)
        before = dict(view_trial.system_attrs)
        prune = self._pruner.prune(view, view_trial)
        after = backend_of(view).get_trial(trial_id_of(view_trial)).system_attrs
        for name, value in after.items():
            if before.get(name) != value:  # e.g. successive halving's completed rungs: kept for all workers
                backend_of(study).set_system_attr(trial_id_of(trial), _PREFIX + name, value)
        if prune and self._alpha is not None:
            prune = worse_than_best(by_config, key, step, alpha=self._alpha, keep=self._keep)
        return self._mark(study, trial, step) if prune else False

    @staticmethod
    def _mark(study: optuna.Study, trial: FrozenTrial, step: int) -> bool:
        # Written at once (not buffered with the trial's other attributes): running repeats of the
        # config read it at their next report.
        backend_of(study).set_user_attr(trial_id_of(trial), PRUNED_ATTR, int(step))
        return True


def worse_than_best(
    by_config: dict[str, list[FrozenTrial]], current: str, step: int, *, alpha: float, keep: int = 1
) -> bool:
    """Whether the repeats show config ``current`` worse than each of the ``keep`` best other
    configs at ``step`` (so worse than the best, and a config that may still be among the top
    ``keep`` is never stopped; with fewer other configs, than the worst of them).

    Each repeat counts with its best validation accuracy up to ``step`` (what early stopping keeps;
    a completed repeat that stopped before ``step`` keeps its final best); configs are ranked by
    their mean there. The seed-to-seed variance is pooled over every config with two
    or more repeats at ``step`` (configs share one noise level, as the report's verdicts assume,
    so a config's first repeat can be judged by the noise its predecessors measured). The test is
    one-sided at ``alpha``: mean gap > t(1 - alpha, df) x the pooled standard error. Without a
    pooled variance (no config has two repeats yet) or with a variance of zero, there is no
    evidence, and the answer is no."""
    from scipy import stats

    samples: dict[str, np.ndarray] = {}
    for name, trials in by_config.items():
        values = [v for v in (_best_so_far(t, step) for t in trials) if v is not None]
        if values:
            samples[name] = np.asarray(values, dtype=float)
    mine = samples.pop(current, None)
    if mine is None or not samples:
        return False
    ranked = sorted(samples.values(), key=lambda v: float(v.mean()), reverse=True)
    best = ranked[min(keep, len(ranked)) - 1]  # the keep-th best: the one closest to `current`
    gap = float(best.mean() - mine.mean())
    pooled = [v for v in (*samples.values(), mine) if len(v) >= 2]
    df = sum(len(v) - 1 for v in pooled)
    if gap <= 0 or df == 0:
        return False
    variance = sum(float(((v - v.mean()) ** 2).sum()) for v in pooled) / df
    if variance <= 0:
        return False
    se = math.sqrt(variance * (1 / len(best) + 1 / len(mine)))
    return gap > float(stats.t.ppf(1 - alpha, df)) * se


def _best_so_far(trial: FrozenTrial, step: int) -> float | None:
    """A repeat's best validation accuracy up to ``step``: None if it has not reached ``step`` (a
    FAILed try, or one still running or pruned before it), its final best if it completed sooner."""
    if trial.state == TrialState.FAIL:
        return None
    values = [v for s, v in trial.intermediate_values.items() if s <= step and v is not None and not math.isnan(v)]
    reached = step in trial.intermediate_values or (trial.state == TrialState.COMPLETE and values)
    return float(max(values)) if reached and values else None


def _config_view(
    study: optuna.Study, by_config: dict[str, list[FrozenTrial]], current: str
) -> tuple[optuna.Study, FrozenTrial]:
    """An in-memory study with one trial per config (in order of the config's first trial, so a
    config keeps its trial number in the view, which Hyperband hashes into a bracket)."""
    # Optuna's in-memory storage logs "A new study created in memory" at INFO: not on every check.
    announcer = logging.getLogger("optuna.storages._in_memory")
    level = announcer.level
    announcer.setLevel(logging.WARNING)
    try:
        view = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), study_name=study.study_name, directions=study.directions
        )
    finally:
        announcer.setLevel(level)
    order = sorted(by_config, key=lambda k: min(t.number for t in by_config[k]))
    frozen = []
    for key in order:
        trials = by_config[key]
        if key == current:
            state = TrialState.RUNNING
        elif config_pruned_at(trials) is not None:
            state = TrialState.PRUNED
        elif any(t.state == TrialState.COMPLETE for t in trials):
            state = TrialState.COMPLETE
        else:
            state = TrialState.RUNNING
        values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        frozen.append(optuna.trial.create_trial(
            state=state,
            value=float(np.mean(values)) if state == TrialState.COMPLETE else None,
            intermediate_values=_mean_curve(trials),
            system_attrs=_view_attrs(trials),
        ))
    view.add_trials(frozen)
    return view, view.get_trials(deepcopy=False)[order.index(current)]


def _mean_curve(trials: list[FrozenTrial]) -> dict[int, float]:
    """Per step, the mean intermediate value over the repeats that reported it (a FAILed try is
    left out: its cell runs again as another trial)."""
    steps: dict[int, list[float]] = {}
    for t in trials:
        if t.state == TrialState.FAIL:
            continue
        for step, value in t.intermediate_values.items():
            steps.setdefault(step, []).append(value)
    return {step: float(np.mean(vals)) for step, vals in sorted(steps.items())}


def _view_attrs(trials: list[FrozenTrial]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for t in trials:
        for name, value in t.system_attrs.items():
            if name.startswith(_PREFIX):
                attrs.setdefault(name[len(_PREFIX):], value)
    return attrs


def pruned_configs(study: optuna.Study) -> list[dict[str, Any]]:
    """Configs pruned as a whole (no COMPLETE repeat, at least one PRUNED), in trial order: one
    dict each with ``params``, ``config_id``, ``n_pruned`` (its pruned trials) and
    ``pruned_at_epoch`` (the config's decision, ``pruned_config``; for a study pruned per trial,
    the latest epoch any repeat was pruned at). The leaderboard ranks completed trials only: these
    are listed beside it so that no config silently drops out."""
    by_config: dict[str, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        by_config.setdefault(config_key(t), []).append(t)
    rows = []
    for trials in by_config.values():
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        if not pruned or any(t.state == TrialState.COMPLETE for t in trials):
            continue
        at = config_pruned_at(trials)
        if at is None:  # pruned trial by trial: the furthest any repeat got
            at = max(int(t.user_attrs.get("pruned_at_epoch", t.last_step or 0)) for t in pruned)
        rows.append({
            "params": trial_params(pruned[0]),
            "config_id": pruned[0].user_attrs.get("config_id"),
            "n_pruned": len(pruned),
            "pruned_at_epoch": at,
        })
    return rows


def skip_pruned_config(study: optuna.Study, trial: optuna.trial.Trial, record_params: Callable[[], Any]) -> None:
    """Raise ``optuna.TrialPruned`` before any training when ``trial``'s config was already pruned
    under a :class:`ConfigPruner` (a repeat that starts after its config's decision costs no
    epoch). ``record_params`` suggests the trial's parameters first (``objectives.interface.trial_config``), so it
    reads like its config's other trials; it gets their ``config_id``, ``pruned_config`` and
    ``pruned_at_epoch`` = 0."""
    if not isinstance(study.pruner, ConfigPruner):
        return
    key = config_key(backend_of(study).get_trial(trial_id_of(trial)))
    siblings = [t for t in study.get_trials(deepcopy=False)
                if trial_id_of(t) != trial_id_of(trial) and config_key(t) == key]
    at = config_pruned_at(siblings)
    if at is None:
        return
    record_params()
    ids = [t.user_attrs["config_id"] for t in siblings if "config_id" in t.user_attrs]
    if ids:
        trial.set_user_attr("config_id", ids[0])
    trial.set_user_attr(PRUNED_ATTR, at)
    trial.set_user_attr("pruned_at_epoch", 0)
    raise optuna.TrialPruned(f"config pruned at epoch {at} by another repeat")
