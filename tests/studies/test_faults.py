"""Fault injection: each case runs a real small study, injects a fault, relaunches, and checks the
exit code, the one-line message, that every cell ends COMPLETE exactly once, that no trial is left
RUNNING and that no worker process outlives its launch (docs/robustness.md).

Subprocess cases drive ``python cli.py`` as a user would; the others run ``cli.main`` or the worker
in this process (much faster, same code). Heartbeats are 1 s with a 4 s grace period, checkpoints
are taken after every epoch (``LAYERLAB_CHECKPOINT_INTERVAL=0``), and the storage lock timeout is
shortened through ``LAYERLAB_SQLITE_BUSY_TIMEOUT``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import cli
from studies import StorageOptions, load_preset, run_worker, study_status
from studies.engine._launch import create_or_resume
from studies._artifacts import checkpoint_dir_of
from studies.engine._faults import EXIT_FAULT, DiskFullError, StorageLostError
from studies.storage import open_storage
from tests.studies._util import ROOT, assert_exactly_once, launch_in_threads, wait_for, write_preset

pytestmark = pytest.mark.faults

HEARTBEAT, GRACE = 1, 4
OPTIONS = StorageOptions(heartbeat_interval=HEARTBEAT, grace_period=GRACE)
BEAT_ARGS = ["--heartbeat-interval", str(HEARTBEAT), "--grace-period", str(GRACE)]

# Two cells: a one-epoch one, and one long enough (no early stopping) to be killed mid-training.
FAULT_PRESET = """\
name: faults
description: a quick cell and a slow one, for fault injection
sampler: grid
repeats: 1
defaults:
  family: seq
  dataset: digits
  layers: Conv-PL-FCL-AL
  channels: 4
  fc_units: 16
  batch_size: 32
  early_stopping: false
space:
  epochs:
    type: categorical
    choices: [1, 30]
"""
# One cell of two epochs, for the in-process cases.
ONE_CELL = FAULT_PRESET.replace("choices: [1, 30]", "choices: [2]").replace("name: faults", "name: one")


@pytest.fixture(autouse=True)
def _fast_faults(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("LAYERLAB_CHECKPOINT_INTERVAL", "0")  # a checkpoint after every epoch
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _launch_cmd(preset: Path, url: str, name: str, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), "study", "launch", "--preset", str(preset), "--storage", url,
            "--study-name", name, "--device", "cpu", "--no-progress", *BEAT_ARGS, *extra]


def _worker_cmd(url: str, name: str, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), "study", "worker", "--storage", url, "--study-name", name,
            "--device", "cpu", *BEAT_ARGS, *extra]


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url, options=OPTIONS))


def _slow_trial_training(url: str, name: str, min_epochs: int = 1, where=lambda trial: trial.params.get("epochs") == 30):
    opened: list[optuna.Study] = []

    def probe():
        if not opened:  # the launch may not have created the study yet
            try:
                opened.append(_study(url, name))
            except Exception:
                return None
        for t in opened[0].get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if "worker" in t.user_attrs and where(t) and len(t.intermediate_values) >= min_epochs:
                return t
        return None

    return probe


def _wait_training(proc: subprocess.Popen, url: str, name: str, min_epochs: int = 1, **where):
    """The slow cell's trial (or the first trial ``where`` accepts) once it has trained
    ``min_epochs``; fails early if ``proc`` exited."""
    probe = _slow_trial_training(url, name, min_epochs, **where)

    def ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before the fault was injected: {(err or '')[-2000:]}")
        return probe()

    return wait_for(ready, timeout=180, every=0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in handle)
    except FileNotFoundError:
        return False


def _worker_pids(study: optuna.Study) -> set[int]:
    return {int(t.user_attrs["worker"].split(":")[1]) for t in study.get_trials(deepcopy=False) if "worker" in t.user_attrs}


def _children(pid: int) -> set[int]:
    """The processes ``pid`` started that are alive now (Linux /proc)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def _assert_no_orphans(pids: set[int]) -> None:
    wait_for(lambda: not any(_alive(p) for p in pids), timeout=30)


def _complete_once(url: str, name: str, n_cells: int) -> optuna.Study:
    study = _study(url, name)
    assert_exactly_once(study, n_cells)
    assert not study.get_trials(states=(TrialState.RUNNING,))
    return study


def _run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


def _main(argv: list[str]) -> tuple[int, str]:
    """``cli.main`` in this process: (exit code, stderr)."""
    err = io.StringIO()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    finally:
        signal.signal(signal.SIGTERM, handler)  # cmd_study_launch installs its own
    return code, err.getvalue()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- kills ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_of_a_launch_worker_loses_nothing(tmp_path):
    """`study launch --workers 2`: its worker process (the launch runs the other worker itself) is
    killed mid-trial; the launch takes the cell over once its heartbeat is stale and ends with both
    cells COMPLETE exactly once."""
    # Three long cells: the launch trains one while its worker process still imports (a few
    # seconds), so the process always gets one of the others to be killed in.
    slow = FAULT_PRESET.replace("choices: [1, 30]", "choices: [100, 101, 102]")
    preset, url = write_preset(tmp_path, slow, "faults"), f"sqlite:///{tmp_path / 's.db'}"
    launch = subprocess.Popen(_launch_cmd(preset, url, "k", "--workers", "2"), cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = _wait_training(launch, url, "k", where=lambda t: int(t.user_attrs["worker"].split(":")[1]) != launch.pid)
        os.kill(int(victim.user_attrs["worker"].split(":")[1]), signal.SIGKILL)
        out, err = launch.communicate(timeout=240)
    finally:
        if launch.poll() is None:
            launch.kill()
    assert launch.returncode == 0, err[-2000:]
    study = _complete_once(url, "k", 3)
    dead = study.trials[victim.number]
    assert dead.state == TrialState.FAIL and dead.user_attrs["fail_reason"] == f"worker lost (no heartbeat for {GRACE} s)"
    _assert_no_orphans(_worker_pids(study))


@pytest.mark.slow
def test_kill_9_of_a_bare_worker_resumes_from_its_default_checkpoint(tmp_path):
    """A bare `study worker` keeps checkpoints by default (the directory recorded on the study);
    after a kill -9 a second worker resumes the cell from them."""
    preset, url = write_preset(tmp_path, FAULT_PRESET, "faults"), f"sqlite:///{tmp_path / 's.db'}"
    assert _run(_launch_cmd(preset, url, "b", "--queue-only")).returncode == 0
    ckpt_dir = checkpoint_dir_of(_study(url, "b"))
    assert ckpt_dir == (tmp_path / "checkpoints" / "b").resolve()  # beside the artifacts, recorded on the study
    first = subprocess.Popen(_worker_cmd(url, "b"), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        victim = _wait_training(first, url, "b", min_epochs=3)
        # a save renames the last checkpoint to .prev, then its new file into place: either is there
        assert list(ckpt_dir.glob("*-r0.pt")) + list(ckpt_dir.glob("*-r0.pt.prev")), "a bare worker must checkpoint by default"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    resumed = _run(_worker_cmd(url, "b"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    study = _complete_once(url, "b", 2)
    assert study.trials[victim.number].user_attrs["fail_reason"].startswith("worker lost (no heartbeat")
    assert not list(ckpt_dir.glob("*.pt*")), "a finished cell's checkpoints are removed"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_launch_leaves_no_orphans_and_the_same_launch_completes(tmp_path, sig):
    """SIGTERM to `study launch --workers 2` hands the running cells back and exits 130; kill -9
    of it makes its workers exit too (they die with their parent). Relaunching completes."""
    preset, url = write_preset(tmp_path, FAULT_PRESET, "faults"), f"sqlite:///{tmp_path / 's.db'}"
    cmd = _launch_cmd(preset, url, "t", "--workers", "2")
    launch = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_training(launch, url, "t")
        children = _children(launch.pid)  # its worker process, also if it never got a cell
        assert children
        pids = _worker_pids(_study(url, "t")) | children
        launch.send_signal(sig)
        _, err = launch.communicate(timeout=60)
    finally:
        if launch.poll() is None:
            launch.kill()
    assert launch.returncode == (130 if sig == signal.SIGTERM else -signal.SIGKILL), err[-2000:]
    _assert_no_orphans(pids)
    again = _run(cmd)
    assert again.returncode == 0, again.stderr[-2000:]
    study = _complete_once(url, "t", 2)
    if sig == signal.SIGTERM:
        assert any(t.user_attrs.get("fail_reason") == "interrupted" for t in study.get_trials(states=(TrialState.FAIL,)))


# -- checkpoints ---------------------------------------------------------------------------------


def _interrupt_after_first_epoch(url: str, name: str) -> None:
    """Run the one cell until its first checkpoint is written, then stop as a SIGTERM would."""

    def stop(stats) -> None:
        if stats.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_worker(url, name, device="cpu", options=OPTIONS, on_epoch=stop)


def _damage(path: Path, how: str) -> None:
    blob = path.read_bytes()
    if how == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif how == "overwritten":  # 1 KiB in the middle of the tensors
        middle = len(blob) // 2
        path.write_bytes(blob[:middle] + bytes(1024) + blob[middle + 1024:])
    else:
        path.write_bytes(os.urandom(len(blob)))


@pytest.mark.parametrize("how", ["truncated", "overwritten", "random"])
def test_a_damaged_checkpoint_is_named_moved_aside_and_the_cell_restarts(tmp_path, how, caplog):
    preset = write_preset(tmp_path, ONE_CELL, "one")
    spec = load_preset(str(preset))
    reference_url, url = f"sqlite:///{tmp_path / 'ref.db'}", f"sqlite:///{tmp_path / 's.db'}"
    create_or_resume(spec, reference_url, "c", options=OPTIONS)
    run_worker(reference_url, "c", device="cpu", options=OPTIONS)
    reference = _complete_once(reference_url, "c", 1).best_trial

    create_or_resume(spec, url, "c", options=OPTIONS, checkpoint_dir=tmp_path / "ckpt")
    _interrupt_after_first_epoch(url, "c")
    (ckpt,) = (tmp_path / "ckpt").glob("*-r0.pt")
    _damage(ckpt, how)
    with caplog.at_level(logging.WARNING, logger="layerlab"):
        run_worker(url, "c", device="cpu", options=OPTIONS)
    warnings = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 1 and str(ckpt) in warnings[0] and "\n" not in warnings[0], warnings
    assert "epoch 0" in warnings[0]
    assert (tmp_path / "ckpt" / f"{ckpt.name}.damaged").exists()
    study = _complete_once(url, "c", 1)
    # restarted from epoch 0 with the same seed: exactly the uninterrupted result
    assert study.best_trial.value == reference.value
    assert study.best_trial.user_attrs["history"][-1]["train_loss"] == reference.user_attrs["history"][-1]["train_loss"]


TWO_REPEATS = ONE_CELL.replace("repeats: 1", "repeats: 2").replace("choices: [2]", "choices: [3]")


@pytest.mark.parametrize("origin", ["another cell", "another study"])
def test_a_valid_checkpoint_from_elsewhere_is_set_aside_and_never_loaded(tmp_path, origin, caplog, monkeypatch):
    """Mid-study, after repeat 1 saved its first checkpoint, its file is replaced by a valid one of
    repeat 0 (another cell) or of the same cell in a study of the same name in another storage.
    The resumed cell names it in one warning line, moves it aside and trains from epoch 0: its
    result equals an uninterrupted run's exactly."""
    spec = load_preset(str(write_preset(tmp_path, TWO_REPEATS, "two")))
    reference_url, url, other_url = (f"sqlite:///{tmp_path / n}" for n in ("ref.db", "s.db", "other.db"))
    create_or_resume(spec, reference_url, "c", options=OPTIONS)
    run_worker(reference_url, "c", device="cpu", options=OPTIONS)
    reference = {t.user_attrs["repeat"]: t for t in _complete_once(reference_url, "c", 2).trials}

    ckpt, stash = tmp_path / "ckpt", tmp_path / "stash.pt"
    if origin == "another study":  # same name, same cells, its own key: stash its repeat 1 at epoch 1
        create_or_resume(spec, other_url, "c", options=OPTIONS, checkpoint_dir=tmp_path / "other-ckpt")

        def keep(stats) -> None:
            if stats.epoch == 1 and not stash.exists():
                (found,) = (tmp_path / "other-ckpt").glob("*-r1.pt")
                stash.write_bytes(found.read_bytes())

        run_worker(other_url, "c", device="cpu", options=OPTIONS, on_epoch=keep)
    create_or_resume(spec, url, "c", options=OPTIONS, checkpoint_dir=ckpt)

    def swap(stats) -> None:
        files = {p.name.split("-r")[1][0]: p for p in ckpt.glob("*.pt")}
        if origin == "another cell" and stats.epoch == 1 and "0" in files and not stash.exists():
            stash.write_bytes(files["0"].read_bytes())  # repeat 0's valid checkpoint, for later
        if stats.epoch == 1 and "1" in files:
            files["1"].write_bytes(stash.read_bytes())  # swapped in while the worker runs repeat 1
            raise KeyboardInterrupt  # stopped as a SIGTERM would: the cell is handed back

    with pytest.raises(KeyboardInterrupt):
        run_worker(url, "c", device="cpu", options=OPTIONS, on_epoch=swap)
    (target,) = ckpt.glob("*-r1.pt")
    with caplog.at_level(logging.WARNING, logger="layerlab"):
        run_worker(url, "c", device="cpu", options=OPTIONS)
    warnings = [r.getMessage() for r in caplog.records if "belongs to another cell or study" in r.getMessage()]
    assert len(warnings) == 1 and str(target) in warnings[0] and "not loaded" in warnings[0], warnings
    assert (ckpt / f"{target.name}.foreign").exists()
    study = _complete_once(url, "c", 2)
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        expected = reference[trial.user_attrs["repeat"]]
        assert trial.value == expected.value
        assert [h["train_loss"] for h in trial.user_attrs["history"]] == [
            h["train_loss"] for h in expected.user_attrs["history"]]


# -- full disk -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _full_directory(path: Path):
    """A directory with no space left: a tiny tmpfs filled up where this test may mount one (root,
    Linux), else None (the caller simulates ENOSPC)."""
    path.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)], capture_output=True).returncode == 0
    if not mounted:
        yield None
        return
    try:
        filler = path / "filler"
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(bytes(4096))
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_disk_is_named_the_cell_is_handed_back_and_the_same_launch_completes(tmp_path, monkeypatch):
    preset, url = write_preset(tmp_path, ONE_CELL, "one"), f"sqlite:///{tmp_path / 's.db'}"
    ckpt_dir = tmp_path / "small"
    argv = ["study", "launch", "--preset", str(preset), "--storage", url, "--study-name", "d", "--device", "cpu",
            "--no-progress", "--checkpoint-dir", str(ckpt_dir), *BEAT_ARGS]
    with _full_directory(ckpt_dir) as filler:
        if filler is None:  # no tmpfs here: the checkpoint write fails as it would on a full disk
            import errno

            from objectives.train import _checkpoint

            real = _checkpoint.os.fsync

            def no_space(fd):
                raise OSError(errno.ENOSPC, "No space left on device", str(ckpt_dir))

            monkeypatch.setattr(_checkpoint.os, "fsync", no_space)
        code, err = _main(argv)
        assert code == EXIT_FAULT, err
        lines = _error_lines(err)
        assert len(lines) == 1 and "ENOSPC" in lines[0] and str(ckpt_dir) in lines[0], err
        assert "Traceback" not in err
        assert not [p for p in ckpt_dir.iterdir() if p.name != "filler"], "no half-written file remains"
        study = _study(url, "d")
        assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]  # handed back
        assert study.trials[0].user_attrs["fail_reason"].startswith("infrastructure: no space left")
        if filler is None:
            monkeypatch.setattr(_checkpoint.os, "fsync", real)
        else:
            filler.unlink()  # space is freed
        code, err = _main(argv)
        assert code == 0, err
    _complete_once(url, "d", 1)


# -- storage locked, lost ------------------------------------------------------------------------


def _hold_lock(path: Path, seconds: float) -> threading.Thread:
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(10)
    return thread


@pytest.mark.parametrize("wait", ["long-enough", "too-short"])
def test_a_storage_locked_past_its_timeout_is_waited_for_with_a_clear_line(tmp_path, monkeypatch, wait):
    preset, url = write_preset(tmp_path, ONE_CELL, "one"), f"sqlite:///{tmp_path / 's.db'}"
    create_or_resume(load_preset(str(preset)), url, "l", options=OPTIONS)
    monkeypatch.setenv("LAYERLAB_SQLITE_BUSY_TIMEOUT", "0.2")
    monkeypatch.setenv("LAYERLAB_STORAGE_WAIT", "60" if wait == "long-enough" else "1")
    holder = _hold_lock(tmp_path / "s.db", 3.0)
    code, err = _main(["study", "launch", "--preset", str(preset), "--storage", url, "--study-name", "l",
                       "--device", "cpu", "--no-progress", *BEAT_ARGS])
    holder.join()
    assert "Traceback" not in err
    if wait == "long-enough":
        assert code == 0, err
        assert "is locked, unreachable or read-only" in err and "retrying in" in err
        _complete_once(url, "l", 1)
    else:
        assert code == EXIT_FAULT, err
        lines = _error_lines(err)
        assert len(lines) == 1 and "stayed locked or unreachable" in lines[0] and str(tmp_path / "s.db") in lines[0]
        code, err = _main(["study", "launch", "--preset", str(preset), "--storage", url, "--study-name", "l",
                           "--device", "cpu", "--no-progress", *BEAT_ARGS])
        assert code == 0, err
        _complete_once(url, "l", 1)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_storage_deleted_mid_run_is_named_in_one_line(tmp_path, kind):
    preset = write_preset(tmp_path, ONE_CELL, "one")
    path = tmp_path / ("s.db" if kind == "sqlite" else "s.log")
    url = f"sqlite:///{path}" if kind == "sqlite" else f"journal:///{path}"
    create_or_resume(load_preset(str(preset)), url, "g", options=OPTIONS)

    def delete(stats) -> None:
        if stats.epoch == 1:
            path.unlink()

    with pytest.raises(StorageLostError) as caught:
        run_worker(url, "g", device="cpu", options=OPTIONS, on_epoch=delete)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "deleted" in message, message


def test_a_launch_that_leaves_failed_cells_exits_3_with_one_line(tmp_path):
    """Cells whose loss turns NaN end FAIL with a reason; the launch says so and exits 3."""
    diverging = ONE_CELL.replace("channels: 4", "channels: 4\n  optimizer: sgd\n  lr: 1.0e6").replace(
        "layers: Conv-PL-FCL-AL", "layers: FCL")
    preset, url = write_preset(tmp_path, diverging, "one"), f"sqlite:///{tmp_path / 's.db'}"
    code, err = _main(["study", "launch", "--preset", str(preset), "--storage", url, "--study-name", "f",
                       "--device", "cpu", "--no-progress"])
    assert code == 3, err
    lines = _error_lines(err)
    assert len(lines) == 1 and "1 of 1 cells ended FAIL" in lines[0] and "non-finite training loss" in lines[0], err
    assert "Traceback" not in err


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_first_launches_on_a_fresh_postgres_database(postgres_url, tmp_path):
    """Three launches on a database with no tables yet: none fails creating the schema, and
    every cell is queued once."""
    spec = load_preset(str(write_preset(tmp_path, FAULT_PRESET, "faults"))).replace(repeats=3)
    assert launch_in_threads(spec, postgres_url, "pg", barrier=True, options=OPTIONS) == []
    study = _study(postgres_url, "pg")
    assert len(study.trials) == 6 and study_status(study)["cells_waiting"] == 6


def test_an_unreachable_postgres_server_says_cannot_reach():
    code, err = _main(["study", "status", "--storage", "postgresql://u:secret@127.0.0.1:9/none", "--study-name", "x"])
    assert code == 2 and _error_lines(err) == [err.strip()] and "cannot reach" in err and "secret" not in err


def test_a_disk_full_error_names_its_path():
    import errno

    from studies.engine._faults import as_fault

    fault = as_fault(OSError(errno.ENOSPC, "No space left on device", "/x/y.pt"))
    assert isinstance(fault, DiskFullError) and "ENOSPC" in str(fault) and "/x/y.pt" in str(fault)
