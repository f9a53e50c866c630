"""Workers with --batch-repeats: a config's repeats are claimed together, trained batched and
finished as separate trials; a failed batch hands its cells back."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from objectives import _repeats
from objectives._objective import ClassifyObjective
from studies import Overrides, launch, load_preset, run_worker
from studies.engine._launch import create_or_resume
from studies.engine._batch import claim_siblings
from studies.engine._cells import repeat_of, trial_params
from tests.studies._util import OPTIONS, ROOT, assert_exactly_once, load

BATCH_ATTRS = {"batched_repeats"}  # the one attribute a batched trial adds


def _by_cell(study: optuna.Study) -> dict:
    return {(str(trial_params(t)), repeat_of(t)): t for t in study.get_trials(states=(TrialState.COMPLETE,))}


@pytest.mark.slow
def test_batched_repeats_give_each_repeat_its_own_trial_with_the_sequential_result(tiny_preset, tmp_path):
    spec = Overrides(repeats=3).apply(load_preset(str(tiny_preset)))  # 3 configs x 3 repeats
    studies = {}
    for mode in ("off", "on"):
        studies[mode] = launch(spec, storage=f"sqlite:///{tmp_path / mode}.db", study_name="b", progress=False,
                               options=OPTIONS, device="cpu", batch_repeats=mode)
        assert_exactly_once(studies[mode], 9)
    alone, batched = _by_cell(studies["off"]), _by_cell(studies["on"])
    assert alone.keys() == batched.keys()
    for cell, a in alone.items():
        b = batched[cell]
        assert b.user_attrs["seed"] == a.user_attrs["seed"] and b.user_attrs["config_id"] == a.user_attrs["config_id"]
        assert set(b.user_attrs) == set(a.user_attrs) | BATCH_ATTRS  # same attributes, as ClassifyObjective stores
        assert b.user_attrs["batched_repeats"] == 3
        assert abs(b.value - a.value) <= 0.01  # tests/objectives/test_batched.py states the tolerance
        assert len(b.user_attrs["history"]) == len(a.user_attrs["history"]) == 1
        assert b.intermediate_values.keys() == a.intermediate_values.keys()  # per-epoch reports per trial


def test_claim_siblings_takes_only_waiting_cells_of_the_same_config(tiny_preset, sqlite_url):
    spec = Overrides(repeats=3).apply(load_preset(str(tiny_preset)))
    study = create_or_resume(spec, sqlite_url, "claim", options=OPTIONS)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    first = waiting[0]
    same = [t for t in waiting[1:] if trial_params(t) == trial_params(first)]
    assert len(same) == 2
    # another worker took one sibling already
    study._storage.set_trial_state_values(same[0]._trial_id, TrialState.RUNNING)
    assert study._storage.set_trial_state_values(first._trial_id, TrialState.RUNNING)
    claimed = claim_siblings(study, first._trial_id, heartbeat=False)
    assert claimed == [same[1]._trial_id]
    running = {t._trial_id for t in study.get_trials(states=(TrialState.RUNNING,))}
    assert running == {first._trial_id, same[0]._trial_id, same[1]._trial_id}
    assert claim_siblings(study, first._trial_id, heartbeat=False) == []  # nothing left of that config


@pytest.mark.slow
def test_a_failed_batch_hands_its_cells_back_and_the_worker_goes_on_sequentially(tiny_preset, sqlite_url, monkeypatch):
    spec = load_preset(str(tiny_preset))  # 3 configs x 2 repeats
    create_or_resume(spec, sqlite_url, "fail", options=OPTIONS)
    calls = []

    def broken(objective, trials):
        calls.append(len(trials))
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr("studies.engine._batch.run_repeats", broken)
    report = run_worker(sqlite_url, "fail", device="cpu", options=OPTIONS, batch_repeats="on")
    study = load(sqlite_url, "fail")
    assert calls == [2]  # one batch tried, then batching off for this worker
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 2 and {t.user_attrs["fail_reason"] for t in failed} == {"interrupted"}
    assert report.completed == 6 and report.failed == 0
    assert_exactly_once(study, 6)


@pytest.mark.slow
def test_a_sampled_study_batches_the_repeats_of_each_sampled_config(tiny_preset, sqlite_url):
    spec = Overrides(sampler="random", n_trials=2).apply(load_preset(str(tiny_preset)))
    create_or_resume(spec, sqlite_url, "sampled", options=OPTIONS)
    report = run_worker(sqlite_url, "sampled", device="cpu", options=OPTIONS, batch_repeats="on")
    study = load(sqlite_url, "sampled")
    assert report.completed == 4 and len(study.trials) == 4
    by_config: dict[str, list[int]] = {}
    for t in study.trials:
        assert t.state == TrialState.COMPLETE and t.user_attrs["batched_repeats"] == 2
        by_config.setdefault(t.user_attrs["config_id"], []).append(t.user_attrs["repeat"])
    assert sorted(map(sorted, by_config.values())) == [[0, 1], [0, 1]]


def test_the_metric_attributes_stay_in_step_with_the_objective():
    """run_repeats stores the same metrics as ClassifyObjective.__call__: one list for both."""
    import inspect

    from objectives._objective import TRIAL_METRICS

    assert _repeats.METRIC_ATTRS is TRIAL_METRICS
    assert "TRIAL_METRICS" in inspect.getsource(ClassifyObjective.__call__)


@pytest.mark.slow
def test_cli_rejects_an_unknown_batch_mode(tmp_path):
    proc = subprocess.run(
        [sys.executable, "cli.py", "study", "worker", "--storage", f"sqlite:///{tmp_path}/x.db", "--study-name", "x",
         "--batch-repeats", "fast"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "--batch-repeats" in proc.stderr and "invalid choice: 'fast'" in proc.stderr
    assert not (tmp_path / "x.db").exists()
