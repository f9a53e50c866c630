"""Samplers, seed repeats and pruners."""

from __future__ import annotations

from collections import defaultdict

import optuna
import pytest
from optuna.trial import TrialState

from searchspace import Categorical, Float, Space
from studies import StudySpec, launch, leaderboard, study_status, trials_frame
from searchspace._pin import build_space
from studies.engine._worker import make_pruner, make_sampler

TINY = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 4, "fc_units": 16,
        "epochs": 1, "batch_size": 64}


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_sampled_configs_carry_their_repeats(sampler, sqlite_url):
    """n_trials configs x K repeats; the repeats of a config share its params and config_id."""
    space = build_space(TINY, Space([Float("lr", low=1e-4, high=1e-1, log=True)]))
    spec = StudySpec(space=space, name="s", sampler=sampler, n_trials=3, repeats=2, seed=7)
    study = launch(spec, storage=sqlite_url, study_name="s", progress=False, device="cpu")
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == len(study.trials) == 6
    slots = defaultdict(list)
    for t in trials:
        slots[t.user_attrs.get("repeat_of", t.number)].append(t)
    assert len(slots) == 3
    for group in slots.values():
        assert sorted(t.user_attrs["repeat"] for t in group) == [0, 1]
        assert len({t.user_attrs["config_id"] for t in group}) == 1
        assert len({t.params["lr"] for t in group}) == 1
        assert sorted(t.user_attrs["seed"] for t in group) == [7, 8]  # repeat r trains with seed + r
    assert len({group[0].user_attrs["config_id"] for group in slots.values()}) == 3
    board = leaderboard(study)
    assert len(board) == 3 and (board["n"] == 2).all()
    frame = trials_frame(study)
    assert frame.groupby("slot")["config_id"].nunique().eq(1).all()
    status = study_status(study)
    assert status["configs_total"] == 3 and status["cells_total"] == 6 == status["cells_done"] and status["finished"]


def test_relaunching_a_finished_sampled_study_samples_nothing_more(sqlite_url):
    space = build_space(TINY, Space([Float("lr", low=1e-4, high=1e-1, log=True)]))
    spec = StudySpec(space=space, name="s", sampler="random", n_trials=2, repeats=1)
    launch(spec, storage=sqlite_url, study_name="s", progress=False, device="cpu")
    study = launch(spec, storage=sqlite_url, study_name="s", progress=False, device="cpu")
    assert len(study.trials) == 2


def test_a_sampled_study_grows_with_a_larger_budget_and_refuses_a_smaller_one(sqlite_url):
    from searchspace.errors import StudyError

    space = build_space(TINY, Space([Float("lr", low=1e-4, high=1e-1, log=True)]))
    spec = StudySpec(space=space, name="s", sampler="random", n_trials=2, repeats=1)
    launch(spec, storage=sqlite_url, study_name="s", progress=False, device="cpu")
    study = launch(spec.replace(n_trials=3), storage=sqlite_url, study_name="s", progress=False, device="cpu")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert study_status(study)["configs_total"] == 3
    with pytest.raises(StudyError, match="can only grow"):
        launch(spec.replace(n_trials=1), storage=sqlite_url, study_name="s", progress=False, device="cpu")


def test_median_pruner_prunes_a_config_that_is_worse_every_epoch(sqlite_url):
    space = build_space({**TINY, "epochs": 3, "early_stopping": False},
                        Space([Categorical("lr", choices=[0.01, 1e-7])]))  # 1e-7: stays at chance
    spec = StudySpec(space=space, name="p", sampler="grid", repeats=3, pruner="median")
    study = launch(spec, storage=sqlite_url, study_name="p", progress=False, device="cpu")
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned, [(t.params, t.state.name, t.intermediate_values) for t in study.trials]
    assert all(t.params["lr"] == 1e-7 and "pruned_at_epoch" in t.user_attrs for t in pruned)
    assert all(len(t.intermediate_values) < 3 for t in pruned)  # stopped before the last epoch
    good = [t for t in study.trials if t.params["lr"] == 0.01]
    assert all(t.state == TrialState.COMPLETE and len(t.intermediate_values) == 3 for t in good)
    status = study_status(study)
    assert status["cells_pruned"] == len(pruned) and status["cells_done"] == 6 and status["finished"]


def test_pruners_and_samplers_are_optunas():
    space = build_space(TINY, Space([Float("lr", low=1e-4, high=1e-1, log=True)]))
    expected = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
                "halving": optuna.pruners.SuccessiveHalvingPruner, "hyperband": optuna.pruners.HyperbandPruner}
    for name, cls in expected.items():  # applied per config (studies.engine._prune.ConfigPruner wraps them)
        pruner = make_pruner(StudySpec(space=space, pruner=name, sampler="grid"))
        assert isinstance(getattr(pruner, "pruner", pruner), cls)
    tpe = make_sampler(StudySpec(space=space, sampler="tpe", n_trials=4, seed=3), worker_index=1)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert tpe._multivariate and tpe._group and tpe._constant_liar
    assert isinstance(make_sampler(StudySpec(space=space, sampler="random", n_trials=4)), optuna.samplers.RandomSampler)
