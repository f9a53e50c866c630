"""Worker processes on SQLite and on the journal file: exactly once, with a worker SIGKILLed."""

from __future__ import annotations

import pytest

from studies import launch, load_preset
from tests.studies._util import OPTIONS, assert_exactly_once, sigkill_mid_trial, three_workers_on_twelve_cells

pytestmark = pytest.mark.slow


def test_sigkill_mid_trial_on_sqlite_completes_every_cell_once(tmp_path):
    sigkill_mid_trial(f"sqlite:///{tmp_path / 'kill.db'}", "kill", tmp_path)


def test_three_workers_on_a_journal_file_finish_the_grid_exactly_once(tmp_path):
    three_workers_on_twelve_cells(f"journal:///{tmp_path / 'study.log'}", "journal", tmp_path)


def test_launch_with_two_worker_processes(tiny_preset, sqlite_url, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = load_preset(str(tiny_preset))
    study = launch(spec, storage=sqlite_url, study_name="two", workers=2, device="cpu", progress=False, options=OPTIONS)
    assert_exactly_once(study, 6)
    assert len(study.trials) == 6
    assert all(t.user_attrs["device"] == "cpu" for t in study.trials)
