"""A race on a study's storage: its state read from the trials, its rounds queued exactly once.

The race's settings are stored on the study (user attribute ``layerlab_race``) and its state is
recomputed from the trials by :func:`studies.engine._race.replay` whenever it is needed, so a killed
worker, a second machine or a relaunch all see the same race and carry it on where it stopped.

Queueing a round happens in :func:`advance_race` under :meth:`studies.storage.Backend.study_lock` (an
advisory lock on PostgreSQL, ``flock`` on the SQLite or journal file): the worker that finds
nothing to claim takes the lock, recomputes the state from the storage and queues the cells the
race asks for that have no trial yet. Several workers finishing a round's last cells at the same
moment queue them one after the other, and the second finds them present, so each cell is queued
once.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import TrialState

from studies._artifacts import SPEC_ATTR
from studies.engine._cells import cell_key, repeat_of, trial_params
from studies.engine._race import DONE, PENDING, RACE_ATTR, RaceError, RaceSettings, RaceState, replay, resolve_mode
from studies._spec import StudySpec
from studies.storage import backend_of


def config_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def race_spec(spec: StudySpec, settings: RaceSettings) -> StudySpec:
    """The spec a race runs: a grid with ``repeats = max_repeats`` (the most any config gets).
    Refuses what cannot race, before anything is written."""
    if spec.sampler != "grid":
        raise RaceError(
            f"--race needs a grid study, not sampler {spec.sampler!r}: a race compares a fixed set of configs "
            "round by round, and a sampler proposes new configs one at a time (use --sampler grid, "
            "with --n-trials to race a random subset of the grid)"
        )
    if resolve_mode(settings, spec.baseline or None) == "ablation":
        if not spec.baseline:
            raise RaceError(
                "--race-mode ablation needs a baseline config (baseline: in the preset); use --race-mode selection"
            )
        _baseline_key(spec)
    return spec.replace(repeats=settings.max_repeats)


def _baseline_key(spec: StudySpec) -> str | None:
    if not spec.baseline:
        return None
    points = [params for params, _config, repeat in spec.grid_cells() if repeat == 0]
    matches = [p for p in points if all(p.get(k) == v for k, v in spec.baseline.items())]
    if len(matches) != 1:
        raise RaceError(
            f"the baseline {dict(spec.baseline)} matches {len(matches)} grid configs; "
            "an ablation race needs exactly one (use --race-mode selection)"
        )
    return config_key(matches[0])


def settings_of(study: optuna.Study) -> RaceSettings | None:
    stored = study.user_attrs.get(RACE_ATTR)
    return RaceSettings.from_dict(stored) if stored else None


def start_race(study: optuna.Study, spec: StudySpec, settings: RaceSettings | None) -> int:
    """Record the race on a new study, or check a resumed one; queue what the race needs now.
    Call with the study lock held (``create_or_resume`` does). Returns how many cells it queued."""
    stored = settings_of(study)
    if settings is not None and stored is None:
        if study.get_trials(deepcopy=False):
            raise RaceError(f"study {study.study_name!r} exists with fixed repeats; a race needs a new --study-name")
        study.set_user_attr(RACE_ATTR, settings.to_dict())
        stored = settings
    elif settings is not None and stored != settings:
        raise RaceError(
            f"study {study.study_name!r} is a race with {stored.to_dict()}; "
            f"refusing to change it to {settings.to_dict()} "
            "(relaunch with the same race options, or without them to resume)"
        )
    return _queue(study, spec, race_state(study, spec, stored))


def race_state(study: optuna.Study, spec: StudySpec | None = None, settings: RaceSettings | None = None) -> RaceState:
    """The race's state, recomputed from the study's trials."""
    spec = spec or StudySpec.from_dict(study.user_attrs[SPEC_ATTR]["spec"])
    settings = settings or settings_of(study)
    if settings is None:
        raise RaceError(f"study {study.study_name!r} is not a race")
    configs = [config_key(params) for params, _config, repeat in spec.grid_cells() if repeat == 0]
    trials: dict[tuple[str, int], list[optuna.trial.FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        trials.setdefault((config_key(trial_params(t)), repeat_of(t)), []).append(t)
    cells: dict[tuple[str, int], tuple[str, float | None]] = {}
    for key, group in trials.items():
        states = {t.state for t in group}
        complete = [t for t in group if t.state == TrialState.COMPLETE]
        if complete:
            cells[key] = (DONE, float(complete[0].value))
        elif TrialState.PRUNED in states:
            cells[key] = (DONE, None)
        elif states & {TrialState.WAITING, TrialState.RUNNING}:
            cells[key] = (PENDING, None)
        else:
            cells[key] = (DONE, None)  # every try failed: the race goes on without this seed
    baseline = _baseline_key(spec) if resolve_mode(settings, spec.baseline or None) == "ablation" else None
    return replay(configs, cells, settings, baseline=baseline)


def _queue(study: optuna.Study, spec: StudySpec, state: RaceState) -> int:
    present = {cell_key(trial_params(t), repeat_of(t)) for t in study.get_trials(deepcopy=False)}
    queued = 0
    for config, repeat in state.to_queue:
        params = json.loads(config)
        if cell_key(params, repeat) in present:
            continue
        study.enqueue_trial(params, user_attrs={"repeat": repeat})
        queued += 1
    return queued


def advance_race(study: optuna.Study, storage_url: str) -> bool:
    """For a worker that found nothing to claim: queue the race's next round if it is due.
    True when there is now something to claim (queued here or by another worker); False for
    a study that is not a race, or a race with nothing waiting."""
    if RACE_ATTR not in study.user_attrs:
        return False
    with backend_of(study).study_lock(study.study_name, storage_url):
        state = race_state(study)
        _queue(study, StudySpec.from_dict(study.user_attrs[SPEC_ATTR]["spec"]), state)
    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def race_status(study: optuna.Study, spec: StudySpec) -> dict[str, Any]:
    """The race's part of ``study status`` (empty for other studies): round, open configs,
    seeds spent and what every config at max_repeats would cost."""
    if RACE_ATTR not in study.user_attrs:
        return {}
    state = race_state(study, spec)
    spent = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
                for t in study.get_trials(deepcopy=False))
    busy = bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)))
    return {
        "race": {
            **state.settings.to_dict(),
            "mode": state.mode,
            "round": state.round,
            "seeds_per_open_config": state.n,
            "finished": state.finished,
            "open_configs": len(state.open),
            "decided_configs": len([c for c in state.decisions if c != state.baseline]),
            "configs": len(state.repeats),
            "trials_spent": spent,
            "trials_planned": state.trials,
            "trials_at_max_repeats": state.trials_fixed,
        },
        "finished": state.finished and not busy,
        "cells_remaining": 0 if state.finished else max(0, state.trials - spent),  # this round's, at least
        # against the cells the race has planned so far, not every config at max_repeats (which a
        # race that decides early never runs)
        "progress": 1.0 if state.finished and not busy else min(1.0, spent / max(state.trials, 1)),
    }


def format_race(status: dict[str, Any]) -> list[str]:
    race = status.get("race")
    if not race:
        return []
    where = "finished" if race["finished"] else (
        f"round {race['round']} ({race['seeds_per_open_config']} seeds per open config)")
    return [
        f"the race has planned {race['trials_planned']} of the {status['cells_total']} cells so far; "
        f"{100 * status['progress']:.1f}% of them done",
        f"race ({race['mode']}, alpha {race['alpha']}, {race['min_repeats']}..{race['max_repeats']} seeds): {where}; "
        f"{race['open_configs']} open, {race['decided_configs']} decided; {race['trials_spent']} trials spent of "
        f"{race['trials_at_max_repeats']} at max repeats"
    ]
