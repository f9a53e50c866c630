"""The one trial-to-config path: ``trial_config`` is ``searchspace.sample`` then
``RunConfig.from_flat``, and its ``on_params`` hook runs between the two."""

from __future__ import annotations

import optuna
import pytest

from objectives import RunConfig
from objectives._trial import trial_config
from searchspace import Categorical, Space, grid_points
from searchspace._dims import Fixed
from searchspace._space import sample
from searchspace.errors import ConfigError

BASE = {"family": "seq", "dataset": "digits", "channels": 4, "epochs": 1}


def _space(**extra) -> Space:
    fixed = [Fixed(k, value=v) for k, v in {**BASE, **extra}.items()]
    return Space([*fixed, Categorical("lr", choices=(0.1, 0.01)), Categorical("layers", choices=("Conv-FCL", "Conv-BN-FCL"))])


def test_each_grid_point_resolves_to_the_run_config_of_its_decoded_config():
    space = _space()
    study = optuna.create_study()
    points = grid_points(space)
    for point in points:
        study.enqueue_trial(point.params)
    for point in points:
        trial = study.ask()
        run = trial_config(space, trial, parts=("synthetic",))
        assert run == RunConfig.from_flat(point.config, parts=("synthetic",))
        assert run.to_flat()["synth_mean"] == 0.5  # the asked part is resolved with its defaults
        fixed = optuna.trial.FixedTrial(point.params)
        assert trial_config(space, fixed).config_id == RunConfig.from_flat(sample(space, fixed)).config_id
        study.tell(trial, 0.0)


def test_on_params_runs_once_the_parameters_are_set_and_before_the_check():
    space = _space(lrr=0.1)  # a key no config part has: the check fails
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    seen = []
    with pytest.raises(ConfigError, match="lrr"):
        trial_config(space, trial, on_params=lambda: seen.append(dict(trial.params)))
    assert len(seen) == 1 and set(seen[0]) == {"lr", "layers"}
