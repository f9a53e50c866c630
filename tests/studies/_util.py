"""Scenarios shared by the storage tests: worker processes on a grid, exactly once, with a SIGKILL.

Each scenario runs real ``python cli.py study worker`` processes against a storage URL, so the
same code checks SQLite, the journal file and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from studies import Overrides, StorageOptions, load_preset, study_status
from studies.engine._launch import create_or_resume
from studies.storage._backend import open_storage
from tests.conftest import TINY_PRESET

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = 1  # seconds; short so a dead worker is noticed quickly
GRACE = 8  # generous: a live worker starved on a loaded machine must not be declared dead
OPTIONS = StorageOptions(heartbeat_interval=HEARTBEAT, grace_period=GRACE)

# Two configs: a fast one (1 epoch) and a slow one (no early stopping, many epochs) that gives the
# test time to kill the worker running it.
SLOW_PRESET = """\
name: slow
description: one fast and one slow config for the SIGKILL tests
sampler: grid
repeats: 2
defaults:
  family: seq
  dataset: digits
  layers: Conv-BN-PL-FCL-AL
  channels: 4
  fc_units: 16
  batch_size: 64
  early_stopping: false
space:
  epochs:
    type: categorical
    choices: [1, 10]
"""


# -- the storages every exactly-once scenario runs on (Optuna's STORAGE_MODES habit) ------------------


def _unavailable(reason: str) -> None:
    """Skip with the reason, or fail when LAYERLAB_REQUIRE_POSTGRES=1 (``.ci/run`` sets it)."""
    if os.environ.get("LAYERLAB_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (LAYERLAB_REQUIRE_POSTGRES=1: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def postgres_database(tmp_path: Path | None = None) -> Iterator[str]:
    """A fresh database on the test server (``LAYERLAB_TEST_POSTGRES_URL``, a user that may create
    databases); dropped, with any leftover connections, afterwards."""
    base = os.environ.get("LAYERLAB_TEST_POSTGRES_URL")
    if not base:
        _unavailable("LAYERLAB_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server and sets it)")
    psycopg = pytest.importorskip("psycopg")
    from sqlalchemy.engine import make_url

    from studies.storage import redact

    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL at {redact(base)} is unreachable: {str(exc).strip().splitlines()[0]}")
    name = f"layerlab_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# kind -> (tmp_path -> context manager yielding a fresh storage URL). The `storage_url` fixture in
# tests/studies/conftest.py parametrises over it; a new backend is one entry here.
STORAGES: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": lambda tmp_path: nullcontext(f"sqlite:///{tmp_path / 'storage.db'}"),
    "journal": lambda tmp_path: nullcontext(f"journal:///{tmp_path / 'storage.log'}"),
    "postgres": postgres_database,
}


def write_preset(directory: Path, text: str, name: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def worker_env() -> dict[str, str]:
    # one thread per worker: several workers share two cores, and oversubscribed torch crawls
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def start_workers(url: str, name: str, n: int, *extra: str) -> list[subprocess.Popen]:
    cmd = [sys.executable, str(ROOT / "cli.py"), "study", "worker", "--storage", url, "--study-name", name,
           "--device", "cpu", "--heartbeat-interval", str(HEARTBEAT), "--grace-period", str(GRACE), *extra]
    return [subprocess.Popen([*cmd, "--worker-index", str(i)], cwd=ROOT, env=worker_env()) for i in range(n)]


def wait_all(procs: list[subprocess.Popen], timeout: float = 600) -> list[int]:
    try:
        return [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def wait_for(predicate: Callable[[], object], timeout: float = 300, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def complete_cells(study: optuna.Study) -> Counter:
    return Counter(
        (t.user_attrs["config_id"], t.user_attrs["repeat"]) for t in study.get_trials(states=(TrialState.COMPLETE,))
    )


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url, options=OPTIONS))


def assert_exactly_once(study: optuna.Study, n_cells: int) -> None:
    cells = complete_cells(study)
    assert len(cells) == n_cells, f"{len(cells)} of {n_cells} cells complete: {sorted(cells)}"
    assert set(cells.values()) == {1}, f"cells completed more than once: {[c for c, k in cells.items() if k > 1]}"
    status = study_status(study)
    assert status["cells_done"] == status["cells_total"] == n_cells and status["finished"], status
    assert status["cells_duplicated"] == 0 and status["states"]["WAITING"] == status["states"]["RUNNING"] == 0


def three_workers_on_twelve_cells(url: str, name: str, tmp_path: Path) -> optuna.Study:
    """3 worker processes on a 3-config x 4-repeat grid: 12 COMPLETE, none duplicated, none lost."""
    spec = Overrides(repeats=4).apply(load_preset(str(write_preset(tmp_path, TINY_PRESET, "tiny"))))
    create_or_resume(spec, url, name, options=OPTIONS, artifact_dir=tmp_path / "artifacts")
    assert len(load(url, name).get_trials(states=(TrialState.WAITING,))) == 12
    assert wait_all(start_workers(url, name, 3)) == [0, 0, 0]
    study = load(url, name)
    assert_exactly_once(study, 12)
    assert len(study.trials) == 12  # no worker created a trial of its own
    return study


def sigkill_mid_trial(url: str, name: str, tmp_path: Path) -> optuna.Study:
    """Kill the worker running a slow cell; the grid still completes, every cell exactly once."""
    spec = load_preset(str(write_preset(tmp_path, SLOW_PRESET, "slow")))  # 2 configs x 2 repeats
    create_or_resume(spec, url, name, options=OPTIONS)
    procs = start_workers(url, name, 2, "--checkpoint-dir", str(tmp_path / "ckpt"))
    by_pid = {str(p.pid): p for p in procs}

    watch = load(url, name)

    def slow_trial_in_training():
        for t in watch.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.params.get("epochs") == 10 and t.intermediate_values and "worker" in t.user_attrs:
                return t
        return None

    try:
        victim_trial = wait_for(slow_trial_in_training, timeout=300)
        pid = victim_trial.user_attrs["worker"].split(":")[1]
        victim = by_pid[pid]
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL
        survivors = [p for p in procs if p is not victim]
        assert wait_all(survivors) == [0] * len(survivors)
    finally:
        wait_all(procs, timeout=1)
    study = load(url, name)
    assert_exactly_once(study, 4)
    dead = study.trials[victim_trial.number]
    assert dead.state == TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim_trial.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == dead.params and retries[0].user_attrs["repeat"] == dead.user_attrs["repeat"]
    assert retries[0].user_attrs["worker"] != dead.user_attrs["worker"]
    assert study_status(study)["retries"] == 1
    return study


def _claim_all(url: str, name: str, start, queue) -> None:
    from studies.engine._worker import claim_waiting

    study = optuna.load_study(study_name=name, storage=open_storage(url, options=OPTIONS))
    start.wait()  # all claimers begin together
    claimed = []
    while (trial_id := claim_waiting(study)) is not None:
        claimed.append(trial_id)
        time.sleep(0.01)  # a worker goes off to train; the others get the lock meanwhile
    queue.put(claimed)


def run_together(target: Callable, url: str, name: str, n_procs: int) -> list:
    """``target(url, name, start, queue)`` in ``n_procs`` forked processes that pass one barrier
    together; what each put on the queue. The children only use optuna and the database."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue, start = ctx.Queue(), ctx.Barrier(n_procs)
    procs = [ctx.Process(target=target, args=(url, name, start, queue)) for _ in range(n_procs)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def claims_under_contention(url: str, name: str, n_trials: int = 60, n_procs: int = 3) -> None:
    """Processes racing to claim the same WAITING trials: each is claimed exactly once."""
    study = optuna.create_study(study_name=name, storage=open_storage(url, create=True, options=OPTIONS))
    for i in range(n_trials):
        study.enqueue_trial({"x": i}, user_attrs={"repeat": 0})
    claimed = run_together(_claim_all, url, name, n_procs)
    counts = Counter(i for batch in claimed for i in batch)
    assert len(counts) == n_trials and set(counts.values()) == {1}, counts.most_common(3)
    assert len(study.get_trials(states=(TrialState.RUNNING,))) == n_trials


def concurrent_launches_queue_once(url: str, name: str, tmp_path: Path) -> None:
    """Three `study launch` racing on a new study: every cell is queued exactly once."""
    spec = Overrides(repeats=4).apply(load_preset(str(write_preset(tmp_path, TINY_PRESET, "tiny"))))
    open_storage(url, create=True, options=OPTIONS)  # the schema exists; the race is over the study
    assert launch_in_threads(spec, url, name) == []
    study = load(url, name)
    assert len(study.trials) == 12 and study_status(study)["cells_waiting"] == 12


def launch_in_threads(spec, url: str, name: str, n: int = 3, *, barrier: bool = False,
                      options: StorageOptions = OPTIONS) -> list[BaseException]:
    """``create_or_resume`` of one spec from ``n`` threads at once (behind a barrier if asked):
    the errors they raised, for the caller to assert on."""
    import threading

    errors: list[BaseException] = []
    start = threading.Barrier(n) if barrier else None

    def launch_one() -> None:
        try:
            if start is not None:
                start.wait()
            create_or_resume(spec, url, name, options=options)
        except BaseException as exc:  # surfaced by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=launch_one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def assert_preset_refused(path: Path, fragments) -> None:
    """Loading the preset file at ``path`` is refused in one line that starts with the file's path
    and names every fragment (the key, the bad value, what is valid)."""
    from searchspace.errors import PresetError

    with pytest.raises(PresetError) as info:
        load_preset(str(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, (fragment, message)
