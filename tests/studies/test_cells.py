"""Filling a sampled study's slot: the sampler gives it parameters through the one trial-to-config
path, and its other repeats are queued with them, even when the config then fails its check."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from searchspace import Categorical, Space
from searchspace._dims import Fixed
from searchspace.errors import ConfigError
from studies.engine._cells import fill_slot
from studies._spec import StudySpec

BASE = {"family": "seq", "dataset": "digits", "channels": 4, "epochs": 1}


def _slot(space: Space, repeats: int, sampler: str = "random") -> tuple[optuna.Study, optuna.trial.Trial, StudySpec]:
    spec = StudySpec(space=space, sampler=sampler, n_trials=1, repeats=repeats)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({}, user_attrs={"repeat": 0})
    return study, study.ask(), spec


def _space(**extra) -> Space:
    return Space([*(Fixed(k, value=v) for k, v in {**BASE, **extra}.items()), Categorical("lr", choices=(0.1, 0.01, 0.001))])


def _waiting(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.WAITING,))


def test_a_slot_gets_parameters_and_its_repeats_copy_them():
    study, trial, spec = _slot(_space(), repeats=3)
    fill_slot(study, trial, spec)
    waiting = _waiting(study)
    assert sorted(t.user_attrs["repeat"] for t in waiting) == [1, 2]
    assert all(t.system_attrs["fixed_params"] == trial.params for t in waiting) and "lr" in trial.params
    fill_slot(study, trial, spec)  # a second call (a batch that declined, then the usual path) queues nothing more
    assert len(_waiting(study)) == 2


def test_a_slot_whose_config_fails_its_check_still_queues_its_repeats():
    study, trial, spec = _slot(_space(lrr=0.1), repeats=2)
    with pytest.raises(ConfigError, match="lrr"):
        fill_slot(study, trial, spec)
    assert [t.system_attrs["fixed_params"] for t in _waiting(study)] == [trial.params]


def test_a_grid_cell_is_left_as_it_came():
    study, trial, spec = _slot(_space(), repeats=2, sampler="grid")
    fill_slot(study, trial, spec)
    assert trial.params == {} and _waiting(study) == []
