"""Launching, resuming and refusing studies; local worker processes (one per GPU or CPU share)."""

from __future__ import annotations

import gc
import io
import json
import os
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from searchspace import LayerlabError
from searchspace.errors import StudyError
from studies import Overrides, launch, leaderboard, load_preset, load_study, study_status
from studies._artifacts import checkpoint_dir_of
from studies.engine._launch import create_or_resume

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
    for key in ("config", "config_id", "seed", "repeat", "test_accuracy", "params", "train_seconds", "confusion", "history",
                "val_correct", "test_correct"):  # per-image correctness (objectives._per_image)
        assert key in attrs
    assert attrs["config"]["family"] == "seq" and trial.value == attrs["val_accuracy"]
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
    with pytest.raises(LayerlabError, match="unknown config key 'lrr'"):  # refused as the overrides are built
        launch(Overrides(values={"lrr": 0.1}).apply(load_preset(str(tiny_preset))), storage=url, progress=False)
    assert not (tmp_path / "sub").exists()
    with pytest.raises(LayerlabError, match="--workers"):
        launch(load_preset(str(tiny_preset)), storage=url, workers=0, progress=False)
    assert not (tmp_path / "sub").exists()


class _Recorder(io.StringIO):
    """A gated worker's stdin: keeps what the launch wrote after it is closed."""

    def close(self):
        self.written = self.getvalue()
        super().close()


class _FakePopen:
    """Records what launch would start, and exits at once."""

    started: list[tuple[list[str], dict[str, str]]] = []
    instances: list[_FakePopen] = []

    def __init__(self, cmd, env=None, stdin=None, **kwargs):
        _FakePopen.started.append((cmd, env))
        _FakePopen.instances.append(self)
        self.returncode, self.pid = 0, 12345
        self.stdin = _Recorder() if stdin is not None else None

    def poll(self):
        return 0

    def wait(self, timeout=None):
        _FakePopen.collector.append(gc.isenabled())  # while the launch waits on its workers
        return 0


_FakePopen.collector = []


class _HeldPopen(_FakePopen):
    """A worker that runs until it is stopped; records how."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.returncode, self.stopped = None, None

    def poll(self):
        return self.returncode

    def kill(self):
        self.stopped, self.returncode = "kill", -9

    def terminate(self):
        self.stopped, self.returncode = "terminate", 130

    def wait(self, timeout=None):
        return self.returncode


@pytest.mark.parametrize("where, how", [("checkpoint_dir_of", "kill"), ("_progress_bar", "terminate")])
def test_a_launch_that_fails_after_validating_stops_its_workers(tiny_preset, sqlite_url, monkeypatch, where, how):
    """Before the workers are released they are killed (they opened nothing); after, terminated
    (each hands its running cell back). Nothing between the two escapes."""
    import studies.engine._launch
    import studies.engine._processes

    _FakePopen.started, _FakePopen.instances = [], []
    monkeypatch.setattr(studies.engine._processes.subprocess, "Popen", _HeldPopen)

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(studies.engine._launch, where, fail)
    with pytest.raises(KeyboardInterrupt):
        launch(load_preset(str(tiny_preset)), storage=sqlite_url, study_name="f", workers=3, device="cpu", progress=False)
    assert [p.stopped for p in _FakePopen.instances] == [how, how]
    assert gc.isenabled()


def test_gpus_start_one_cuda_worker_per_device(tiny_preset, sqlite_url, monkeypatch, capsys):
    import cli
    import studies.engine._processes

    _FakePopen.started, _FakePopen.instances, _FakePopen.collector = [], [], []
    monkeypatch.setattr(studies.engine._processes.subprocess, "Popen", _FakePopen)  # launch starts workers there
    # a machine with 4 GPUs, as far as the launcher can tell
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 4)
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", sqlite_url, "--study-name", "g",
                     "--gpus", "0,2,3", "--no-progress", "--heartbeat-interval", "2", "--grace-period", "9",
                     "--trials-per-gpu", "1"])
    assert code == 0, capsys.readouterr().err
    assert len(_FakePopen.started) == 3
    for index, ((cmd, env), gpu) in enumerate(zip(_FakePopen.started, ["0", "2", "3"])):
        assert env["CUDA_VISIBLE_DEVICES"] == gpu
        assert cmd[1:3] == ["-c", studies.engine._processes.WORKER_CODE]  # straight into the worker, not the CLI
        flags = {flag: cmd[cmd.index(flag) + 1] for flag in cmd if flag.startswith("--") and flag not in ("--quiet", "--gated")}
        assert flags["--device"] == "cuda" and flags["--worker-index"] == str(index)
        assert flags["--storage"] == sqlite_url and flags["--study-name"] == "g"
        assert flags["--heartbeat-interval"] == "2" and flags["--grace-period"] == "9"
        assert str(ROOT) in env["PYTHONPATH"].split(":")
        assert "--gated" in cmd  # started before the validation, released once the cells are queued:
    go = [json.loads(p.stdin.written) for p in _FakePopen.instances]
    assert go == [{"checkpoint_dir": str(checkpoint_dir_of(load_study(sqlite_url, "g"))), "trials_per_gpu": 1}] * 3
    assert len(load_study(sqlite_url, "g").get_trials(states=(TrialState.WAITING,))) == 6  # queued once, before
    assert _FakePopen.collector and all(_FakePopen.collector)  # no worker here: its start-up ended at release


@pytest.mark.parametrize(
    "gpus, cuda, fragment",
    [("0,1", False, "--gpus needs CUDA"), ("abc", True, "--gpus takes device indices"), ("0,4", True, "this machine has 4 GPU(s)")],
)
def test_gpus_are_checked_before_anything_is_written(tiny_preset, tmp_path, monkeypatch, capsys, gpus, cuda, fragment):
    import cli

    monkeypatch.setattr("torch.cuda.is_available", lambda: cuda)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 4 if cuda else 0)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", url, "--gpus", gpus, "--no-progress"])
    assert code == 2 and fragment in capsys.readouterr().err
    assert not (tmp_path / "g.db").exists()


def test_cpu_workers_share_the_cores(monkeypatch):
    from studies.engine._processes import worker_commands

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    commands = worker_commands("sqlite:///x.db", "s", workers=2, device="cpu")
    assert len(commands) == 2
    for index, (cmd, env) in enumerate(commands):
        assert "CUDA_VISIBLE_DEVICES" not in env and env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
        assert cmd[cmd.index("--device") + 1] == "cpu" and cmd[cmd.index("--worker-index") + 1] == str(index)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert all("OMP_NUM_THREADS" not in env for _, env in worker_commands("sqlite:///x.db", "s", workers=2))


def test_queue_only_queues_and_runs_nothing(tiny_preset, sqlite_url, capsys):
    import cli

    code = cli.main(["study", "launch", "--preset", str(tiny_preset), "--storage", sqlite_url, "--study-name", "q", "--queue-only"])
    assert code == 0
    assert "0/6 done" in capsys.readouterr().out
    assert [t.state for t in load_study(sqlite_url, "q").trials] == [TrialState.WAITING] * 6


def test_a_relaunch_queues_again_a_handed_back_cell_whose_copy_was_never_queued(tiny_preset, sqlite_url):
    """A worker stopped between failing its trial ("interrupted") and queueing the cell's copy
    leaves the cell FAIL with nothing waiting: the next launch queues it once. A cell that failed
    on its own waits for --retry-failed."""
    spec = load_preset(str(tiny_preset))
    study = create_or_resume(spec, sqlite_url, "t")
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for trial_id, reason in ((waiting[0]._trial_id, "interrupted"), (waiting[1]._trial_id, "Diverged: loss is nan")):
        study._storage.set_trial_state_values(trial_id, TrialState.RUNNING)
        study._storage.set_trial_user_attr(trial_id, "fail_reason", reason)
        study._storage.set_trial_state_values(trial_id, TrialState.FAIL)
    for _ in range(2):  # twice: the copy is queued once, not once per launch
        study = create_or_resume(spec, sqlite_url, "t")
        assert len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) == len(waiting) - 1
    assert study_status(study)["cells_failed"] == 1  # the diverged one
    study = create_or_resume(spec, sqlite_url, "t", retry_failed=True)
    assert len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) == len(waiting)
