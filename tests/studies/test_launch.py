"""Launching, resuming and refusing studies; exactly-once grids on SQLite."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from searchspace import LayerlabError
from studies import Overrides, StudyError, launch, leaderboard, load_preset, load_study, study_status, trials_frame
from studies._launch import create_or_resume

ROOT = Path(__file__).resolve().parents[2]


def _cells(study: optuna.Study) -> Counter:
    return Counter(
        (t.user_attrs["config_id"], t.user_attrs["repeat"]) for t in study.get_trials(states=(TrialState.COMPLETE,))
    )


def test_launch_runs_every_cell_once_and_stores_what_the_dashboard_shows(tiny_preset, sqlite_url):
    spec = load_preset(str(tiny_preset))
    study = launch(spec, storage=sqlite_url, study_name="t", progress=False)
    cells = _cells(study)
    assert len(cells) == 3 * 2 and set(cells.values()) == {1}
    trial = study.get_trials(states=(TrialState.COMPLETE,))[0]
    attrs = trial.user_attrs
    for key in ("config", "config_id", "seed", "repeat", "test_accuracy", "params", "train_seconds", "confusion", "history"):
        assert key in attrs
    assert attrs["config"]["family"] == "seq" and trial.value == attrs["val_accuracy"]
    assert trial.value != attrs["test_accuracy"] or True  # test is recorded beside, never the value
    assert list(trial.intermediate_values) == [1]
    seeds = {(t.user_attrs["repeat"], t.user_attrs["seed"]) for t in study.trials}
    assert seeds == {(0, 0), (1, 1)}  # repeat r trains with seed r: paired across configs
    board = leaderboard(study)
    assert len(board) == 3 and (board["n"] == 2).all()
    assert board["val_mean"].is_monotonic_decreasing


def test_relaunch_resumes_instead_of_starting_over(tiny_preset, sqlite_url):
    spec = load_preset(str(tiny_preset))
    launch(spec, storage=sqlite_url, study_name="t", progress=False)
    study = launch(spec, storage=sqlite_url, study_name="t", progress=False)
    assert len(study.trials) == 6
    status = study_status(study)
    assert status["cells_done"] == status["cells_total"] == 6 and status["states"]["WAITING"] == 0


def test_a_study_with_a_different_spec_is_refused(tiny_preset, sqlite_url):
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "t")
    other = Overrides(repeats=3).apply(spec)
    with pytest.raises(StudyError, match="different spec"):
        create_or_resume(other, sqlite_url, "t")


def test_overrides_pin_searched_dimensions(tiny_preset):
    spec = load_preset(str(tiny_preset))
    assert spec.grid_size() == 3
    pinned = Overrides(values={"layers": "Conv-FCL"}, epochs=2).apply(spec)
    assert pinned.grid_size() == 1
    (params, config, _), *_ = pinned.grid_cells()
    assert config["layers"] == "Conv-FCL" and config["epochs"] == 2


def test_bad_input_writes_nothing(tiny_preset, tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'never.db'}"
    spec = Overrides(values={"lrr": 0.1}).apply(load_preset(str(tiny_preset)))
    with pytest.raises(LayerlabError, match="unknown config key 'lrr'"):
        launch(spec, storage=url, progress=False)
    assert not (tmp_path / "sub").exists()
    with pytest.raises(LayerlabError, match="--workers"):
        launch(load_preset(str(tiny_preset)), storage=url, workers=0, progress=False)
    assert not (tmp_path / "sub").exists()


def test_three_worker_processes_finish_the_grid_exactly_once(tiny_preset, sqlite_url):
    spec = Overrides(repeats=4).apply(load_preset(str(tiny_preset)))  # 12 cells
    create_or_resume(spec, sqlite_url, "par")
    cmd = [sys.executable, str(ROOT / "cli.py"), "study", "worker", "--storage", sqlite_url, "--study-name", "par", "--device", "cpu"]
    procs = [subprocess.Popen([*cmd, "--worker-index", str(i)], cwd=ROOT) for i in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    study = load_study(sqlite_url, "par")
    cells = _cells(study)
    assert len(cells) == 12 and set(cells.values()) == {1}
    assert all(t.state == TrialState.COMPLETE for t in study.trials) and len(study.trials) == 12
    frame = trials_frame(study)
    assert set(frame["state"]) == {"COMPLETE"}
