"""Storage outages injected mid-study, while two workers train (docs/robustness.md, studies.storage._outage).

Each case runs ``study launch --workers 2`` (the launch and one worker process) on six cells,
waits until both workers are training, then makes the storage lock, stop, turn read-only or fill
up for a few seconds: longer than the grace period (4 s), so a worker that counted the outage
against the others' heartbeats would declare live trials lost. Outages within the limit must end
with exit 0, no traceback, every cell COMPLETE exactly once and no trial failed; past the limit
(``--outage-limit``) with one line per process and exit 4, and the same command then completes
every cell exactly once. Also here: a worker stopped (SIGSTOP) past the grace period, and bad
names and values given to a second command while the study runs.
"""

from __future__ import annotations

import contextlib
import io
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
from studies import StorageOptions
from studies.storage import open_storage
from tests._postgres import PostgresServer
from tests.studies._util import ROOT, assert_exactly_once, wait_for, write_preset

pytestmark = [pytest.mark.faults, pytest.mark.slow]

HEARTBEAT, GRACE = 1, 4
OUTAGE = GRACE + 4  # seconds: longer than the grace period
OPTIONS = StorageOptions(heartbeat_interval=HEARTBEAT, grace_period=GRACE)
PRESET = """\
name: outage
description: six cells long enough to take a storage outage in the middle
sampler: grid
repeats: 3
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
    choices: [20, 24]
"""
CELLS = 6


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "LAYERLAB_CHECKPOINT_INTERVAL": "0",
            "LAYERLAB_SQLITE_BUSY_TIMEOUT": "0.5", **extra}


def _cmd(tmp_path: Path, url: str, *extra: str) -> list[str]:
    preset = write_preset(tmp_path, PRESET, "outage")
    return [sys.executable, str(ROOT / "cli.py"), "study", "launch", "--preset", str(preset), "--storage", url,
            "--study-name", "o", "--device", "cpu", "--no-progress", "--workers", "2", "--artifact-dir",
            str(tmp_path / "artifacts"), "--heartbeat-interval", str(HEARTBEAT), "--grace-period", str(GRACE), *extra]


def _start(cmd: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _study(url: str) -> optuna.Study:
    return optuna.load_study(study_name="o", storage=open_storage(url, options=OPTIONS))


def _both_training(proc: subprocess.Popen, url: str) -> list[optuna.trial.FrozenTrial]:
    """Wait until two trials are RUNNING and past their first epoch (both workers train)."""
    opened: list[optuna.Study] = []

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before the fault: {proc.stderr.read()[-3000:]}")
        try:
            opened or opened.append(_study(url))
            running = opened[0].get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except Exception:  # not created yet
            return None
        training = [t for t in running if t.intermediate_values]
        return training if len(training) == 2 else None

    return wait_for(ready, timeout=300, every=0.2)


def _finish(proc: subprocess.Popen, timeout: float = 400) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def _waited_out(code: int, err: str, url: str) -> optuna.Study:
    """Exit 0, no traceback, every cell COMPLETE once, nothing failed: no live trial was lost."""
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    study = _study(url)
    assert_exactly_once(study, CELLS)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert not failed, [t.user_attrs.get("fail_reason") for t in failed]
    assert len(study.trials) == CELLS
    return study


@contextlib.contextmanager
def _immutable(*paths: Path):
    """The files made read-only even for root (chattr +i), then writable again."""
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make files read-only here (chattr +i: {done.stderr.decode().strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True)


def _hold_sqlite_lock(path: Path, seconds: float) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


# -- waited out ----------------------------------------------------------------------------------


@pytest.mark.parametrize("busy", ["0.5", "60"], ids=["calls-fail", "calls-block"])
def test_a_sqlite_lock_mid_study_is_waited_out_and_no_live_trial_is_lost(tmp_path, busy):
    """A backup holds SQLite's write lock for 8 s (grace 4 s). With a short busy timeout every
    call fails and retries; with a long one every call blocks: either way nothing is lost."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = _start(_cmd(tmp_path, url), LAYERLAB_SQLITE_BUSY_TIMEOUT=busy)
    _both_training(proc, url)
    _hold_sqlite_lock(tmp_path / "s.db", OUTAGE)
    code, err = _finish(proc)
    _waited_out(code, err, url)
    if busy == "0.5":
        assert "is locked, unreachable or read-only (database is locked)" in err and "answers again after" in err


def test_a_sqlite_file_made_read_only_mid_study_is_waited_out(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = _start(_cmd(tmp_path, url))
    _both_training(proc, url)
    with _immutable(tmp_path / "s.db", tmp_path / "s.db-wal"):  # SQLite's files of data (not its shared memory)
        time.sleep(OUTAGE)
    code, err = _finish(proc)
    _waited_out(code, err, url)
    assert "answers again after" in err


@pytest.mark.parametrize("fault", ["locked", "read-only"])
def test_a_journal_locked_or_read_only_mid_study_is_waited_out(tmp_path, fault):
    path = tmp_path / "s.log"
    url = f"journal:///{path}"
    proc = _start(_cmd(tmp_path, url))
    _both_training(proc, url)
    if fault == "locked":  # Optuna's own lock of the journal, held as another process would
        lock = Path(f"{path}.lock")
        wait_for(lambda: _try_symlink(path, lock), timeout=30, every=0.001)
        time.sleep(OUTAGE)
        lock.unlink()
    else:
        with _immutable(path):
            time.sleep(OUTAGE)
    code, err = _finish(proc)
    _waited_out(code, err, url)


def _try_symlink(target: Path, link: Path) -> bool:
    try:
        os.symlink(target, link)
        return True
    except FileExistsError:
        return False


@pytest.mark.postgres
def test_a_postgres_server_stopped_mid_study_is_waited_out(tmp_path):
    """Its own throwaway server (.ci/postgres.sh), stopped for 8 s and started again."""
    with _private_postgres() as server:
        url = server.url
        proc = _start(_cmd(tmp_path, url))
        _both_training(proc, url)
        server.stop()
        time.sleep(OUTAGE)
        server.start()
        code, err = _finish(proc)
        _waited_out(code, err, url)
        assert "answers again after" in err


# -- past the limit ------------------------------------------------------------------------------


def test_an_outage_past_the_limit_stops_every_worker_with_one_line_and_the_rerun_completes(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    cmd = _cmd(tmp_path, url, "--outage-limit", "3")
    proc = _start(cmd)
    _both_training(proc, url)
    holder = threading.Thread(target=_hold_sqlite_lock, args=(tmp_path / "s.db", 3 + OUTAGE))
    holder.start()
    code, err = _finish(proc)
    holder.join()
    assert code == 4, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors and all("stopped at the outage limit of 3 s" in e or "infrastructure fault" in e for e in errors), err
    assert any("run the same command: the study resumes" in e for e in errors), errors
    again = _start(cmd)
    code, err = _finish(again)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    study = _study(url)
    assert_exactly_once(study, CELLS)
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_a_full_disk_under_the_database_then_retry_failed_completes_without_a_traceback(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(small)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs a small tmpfs (root on Linux) to fill")
    try:
        url = f"sqlite:///{small / 's.db'}"
        cmd = _cmd(tmp_path, url)
        proc = _start(cmd)
        _both_training(proc, url)
        filler = small / "filler"
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(bytes(65536))
        code, err = _finish(proc)
        assert code == 4 and "Traceback" not in err, err[-3000:]
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert errors and all("no space left on device" in e or "infrastructure fault" in e for e in errors), err
        filler.unlink()
        again = _start([*cmd, "--retry-failed"])
        code, err = _finish(again)
        assert code == 0 and "Traceback" not in err, err[-3000:]
        study = _study(url)
        assert_exactly_once(study, CELLS)
        assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


# -- a stopped worker, bad input while the study runs -------------------------------------------


def test_a_worker_stopped_past_the_grace_period_then_continued_prints_no_traceback(tmp_path):
    """SIGSTOP of the worker process while it trains, for longer than the grace period: the
    launch takes its cell over; after SIGCONT the stopped worker finds its trial re-queued,
    says so in one warning line, and carries on."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = _start(_cmd(tmp_path, url))
    training = _both_training(proc, url)
    (victim,) = [t for t in training if int(t.user_attrs["worker"].split(":")[1]) != proc.pid]
    pid = int(victim.user_attrs["worker"].split(":")[1])
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: _study(url).trials[victim.number].state == TrialState.FAIL, timeout=120)
        time.sleep(1)
    finally:
        os.kill(pid, signal.SIGCONT)
    code, err = _finish(proc)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    study = _study(url)
    assert_exactly_once(study, CELLS)
    assert study.trials[victim.number].user_attrs["fail_reason"] == f"worker lost (no heartbeat for {GRACE} s)"


BAD_WHILE_RUNNING = [
    (["study", "launch", "--study-name", "../../../X"], "is not valid: it holds a path separator"),
    (["study", "launch", "--study-name", "/tmp/absolute-X"], "is not valid: it holds a path separator"),
    (["study", "launch", "--study-name", "x" * 129], "is not valid: it has 129 characters"),
    (["study", "launch", "--study-name", "o", "--seed", "-1"], "--seed -1 is out of range"),
    (["study", "launch", "--study-name", "o", "--workers", "99999999999999999999"], "--workers 99999999999999999999"),
    (["study", "launch", "--study-name", "race", "--race", "--margin", "inf"], "--margin inf is not valid"),
    (["study", "worker", "--study-name", "o", "--heartbeat-interval", "99999999999"], "--heartbeat-interval"),
    (["study", "report", "--study-name", "o", "--alpha", "nan"], "--alpha nan is not valid"),
]


def test_hostile_names_and_out_of_range_values_while_a_study_runs_are_one_line_and_write_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = _start(_cmd(tmp_path, url))
    _both_training(proc, url)
    preset = str(tmp_path / "outage.yaml")
    for args, fragment in BAD_WHILE_RUNNING:
        argv = [*args[:2], "--storage", url, *args[2:]]
        if args[1] == "launch":
            argv += ["--preset", preset, "--device", "cpu", "--no-progress"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and fragment in lines[0], (args, err.getvalue())
    code, err = _finish(proc)
    _waited_out(code, err, url)
    assert optuna.get_all_study_names(open_storage(url)) == ["o"]
    assert not (tmp_path.parent.parent / "X").exists() and not Path("/tmp/absolute-X").exists()
    assert not list(tmp_path.glob("*-report.html")) and not list(ROOT.glob("*-report.html"))


# -- a PostgreSQL server of the test's own -------------------------------------------------------


@contextlib.contextmanager
def _private_postgres():
    """A throwaway PostgreSQL server of this test's own (the shared one serves other tests)."""
    if not os.environ.get("LAYERLAB_TEST_POSTGRES_URL"):
        from tests.studies._util import _unavailable

        _unavailable("LAYERLAB_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server and sets it)")
    try:
        server = PostgresServer()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.remove()
