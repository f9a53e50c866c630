"""Worker processes started by ``launch``: exactly once (the per-storage scenarios are in test_exactly_once.py)."""

from __future__ import annotations

import gc
import io
import os
import shutil
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from searchspace import LayerlabError
from searchspace._pin import apply_overrides
from studies import launch, load_preset
from studies.engine._processes import start_processes
from tests.studies._util import OPTIONS, ROOT, assert_exactly_once, load

pytestmark = pytest.mark.slow


# SIGKILL mid-trial and three workers on twelve cells run on every storage in test_exactly_once.py.


def test_launch_with_two_worker_processes(tiny_preset, sqlite_url, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = load_preset(str(tiny_preset))
    study = launch(spec, storage=sqlite_url, study_name="two", workers=2, device="cpu", progress=False, options=OPTIONS)
    assert_exactly_once(study, 6)
    assert len(study.trials) == 6
    assert all(t.user_attrs["device"] == "cpu" for t in study.trials)
    pids = {int(t.user_attrs["worker"].split(":")[1]) for t in study.trials}
    assert os.getpid() in pids  # the launching process is worker 0 itself; the other is a process
    assert gc.isenabled()  # the collector paused over the start-up is back (objectives._warm)


def test_a_launch_that_fails_its_checks_stops_its_gated_workers_and_writes_nothing(tiny_preset, tmp_path, monkeypatch):
    """Worker processes start before the validation; when it fails they are killed before they
    open anything, and the collector the launch paused is back on."""
    import studies.engine._launch

    started = []

    def start(*args, **kwargs):
        procs = start_processes(*args, **kwargs)
        started.extend(procs)
        return procs

    monkeypatch.setattr(studies.engine._launch, "start_processes", start)
    preset = load_preset(str(tiny_preset))  # a bad key that only the launch's validation meets
    spec = preset.replace(space=apply_overrides(preset.space, {"lrr": 0.1}))  # (Overrides refuses it when built)
    url = f"sqlite:///{tmp_path / 'sub' / 'x.db'}"
    with pytest.raises(LayerlabError, match="unknown config key 'lrr'"):
        launch(spec, storage=url, workers=3, device="cpu", progress=False, options=OPTIONS)
    assert len(started) == 2 and all(p.returncode is not None for p in started)  # killed and reaped
    assert not (tmp_path / "sub").exists()
    assert gc.isenabled()


def test_a_gated_worker_released_by_nobody_exits_without_opening_the_storage(tmp_path, monkeypatch, capsys):
    from studies.engine._processes import worker_main

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # the launch closed the pipe: it stopped
    url = f"sqlite:///{tmp_path / 'never.db'}"
    code = worker_main(["--storage", url, "--study-name", "s", "--device", "cpu", "--heartbeat-interval", "1",
                        "--grace-period", "8", "--gated"])
    assert code == 0 and not (tmp_path / "never.db").exists() and capsys.readouterr().err == ""
    assert gc.isenabled()


def test_a_finished_launch_leaves_every_result_in_the_database_file(tiny_preset, tmp_path):
    """The processes close their storages before they exit (the collector no longer does it at
    exit, see objectives._warm), so SQLite folds its write-ahead log into the file: a copy of the
    file alone holds every trial."""
    db = tmp_path / "s.db"
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "study", "launch", "--preset", str(tiny_preset),
                          "--storage", f"sqlite:///{db}", "--study-name", "c", "--workers", "2", "--device", "cpu",
                          "--no-progress"], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not (tmp_path / "s.db-wal").exists()
    shutil.copy(db, tmp_path / "copy.db")
    assert len(load(f"sqlite:///{tmp_path / 'copy.db'}", "c").get_trials(states=(TrialState.COMPLETE,))) == 6
