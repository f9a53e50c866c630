"""The rules of studies.storage._outage, one at a time, on a clock of the test's own: staleness counts
only answered time, calls retry until the outage limit and then every call of the process stops,
heartbeats try once, Optuna's answers are never retried. (The outages themselves, mid-study with
worker processes, are in test_outages.py.)"""

from __future__ import annotations

import sqlite3
import time

import optuna
import pytest
from optuna.trial import TrialState

from studies import StorageOptions
from studies.engine._faults import StorageLockedError, StorageLostError, as_fault, handing_back, is_transient
from studies.storage import _outage, backend_of, open_storage
from studies.storage._outage import CLOCK, SLOW_CALL, StorageUnanswered, call_with_retry, single_attempt

pytestmark = pytest.mark.faults

GRACE = 4
OPTIONS = StorageOptions(heartbeat_interval=1, grace_period=GRACE)


@pytest.fixture
def now(monkeypatch):
    """The clock of every decision in studies.storage._outage, moved by the test (past anything real)."""
    clock = [time.monotonic() + 1e6]
    monkeypatch.setattr(_outage, "monotonic", lambda: clock[0])
    CLOCK.start_over()
    yield clock
    CLOCK.start_over()


@pytest.fixture
def running(tmp_path):
    """A study with one RUNNING trial whose heartbeat is a minute old by the database's clock (so
    Optuna's own rule would fail it at once)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    storage = open_storage(url, create=True, options=OPTIONS)
    study = optuna.create_study(study_name="s", storage=storage)
    study.enqueue_trial({"x": 1}, user_attrs={"repeat": 0})
    (trial,) = study.get_trials(states=(TrialState.WAITING,))
    storage.record_heartbeat(trial._trial_id)
    assert storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING)
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-60 seconds')")
    assert storage._get_stale_trial_ids(study._study_id) == [trial._trial_id]  # Optuna: stale already
    return study, trial


def fail_stale_trials(study):
    backend_of(study).fail_stale_trials(study)


def _state(study, trial):
    return study._storage.get_trial(trial._trial_id).state


def _outage_of(seconds: float, now: list[float]) -> None:
    """A call of this process that failed after ``seconds`` (the storage did not answer)."""
    token = CLOCK.begin()
    now[0] += seconds
    CLOCK.end(token, answered=False)


def test_a_heartbeat_is_stale_after_the_grace_period_of_watching_it_not_before(running, now):
    study, trial = running
    fail_stale_trials(study)  # the watch starts
    now[0] += GRACE - 0.5
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.RUNNING
    now[0] += 1
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.FAIL
    reason = study._storage.get_trial(trial._trial_id).user_attrs["fail_reason"]
    assert reason == f"worker lost (no heartbeat for {GRACE} s)"


def test_staleness_counts_only_time_in_which_the_storage_answered(running, now):
    """An outage seen by this process (a failed call) restarts the watch: the heartbeat that
    stood still through it is stale only after the grace period of answered time after it."""
    study, trial = running
    fail_stale_trials(study)
    now[0] += 1
    _outage_of(30, now)  # the storage did not answer this process for 30 s
    now[0] += 1
    fail_stale_trials(study)  # 32 s since the watch began, but only 2 of them answered
    assert _state(study, trial) == TrialState.RUNNING
    now[0] += GRACE - 0.5
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.RUNNING
    now[0] += 1
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.FAIL


def test_a_call_pending_too_long_means_the_storage_is_not_answering(running, now):
    study, trial = running
    fail_stale_trials(study)
    token = CLOCK.begin()  # e.g. a heartbeat waiting on SQLite's lock
    now[0] += GRACE + SLOW_CALL + 1
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.RUNNING
    CLOCK.end(token, answered=True)  # it went through, late: a slow call counts as not answering
    now[0] += GRACE - 0.5
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.RUNNING


def test_a_heartbeat_that_moves_is_never_stale(running, now, tmp_path):
    study, trial = running
    for beat in range(5):
        fail_stale_trials(study)
        now[0] += GRACE - 1
        with sqlite3.connect(tmp_path / "s.db") as conn:  # a beat (SQLite's clock counts whole seconds)
            conn.execute(f"UPDATE trial_heartbeats SET heartbeat = datetime('now', '+{beat + 1} seconds')")
    fail_stale_trials(study)
    assert _state(study, trial) == TrialState.RUNNING


def _locked():
    raise sqlite3.OperationalError("database is locked")


def _url(tmp_path) -> str:
    (tmp_path / "s.db").touch()  # a storage file that is there (a missing one is a lost storage)
    return f"sqlite:///{tmp_path / 's.db'}"


def test_past_the_limit_one_line_and_every_later_call_of_the_process_stops(tmp_path, capsys):
    CLOCK.start_over()
    url = _url(tmp_path)
    try:
        with pytest.raises(StorageLockedError) as caught:
            call_with_retry(_locked, url=url, what="a write", max_wait=1)
        message = str(caught.value)
        assert "\n" not in message and "stopped at the outage limit of 1 s" in message and str(tmp_path) in message
        assert "run the same command: the study resumes" in message
        assert "(database is locked)" in capsys.readouterr().err  # the reason, not Optuna's wrapper's text
        with pytest.raises(StorageLockedError):
            call_with_retry(lambda: 1, url=url, what="a read")  # the storage answers, but this process gave up
        with handing_back():
            assert call_with_retry(lambda: 2, url=url, what="a hand-back") == 2  # a hand-back still may
    finally:
        CLOCK.start_over()
    assert call_with_retry(lambda: 3, url=url, what="a new run") == 3


def test_a_heartbeat_tries_once_and_never_waits(tmp_path):
    CLOCK.start_over()
    start = time.monotonic()
    with single_attempt(), pytest.raises(StorageUnanswered):
        call_with_retry(_locked, url=_url(tmp_path), what="record_heartbeat", max_wait=60)
    assert time.monotonic() - start < 1
    CLOCK.start_over()


def test_optunas_answers_are_never_retried_even_when_raised_while_handling_a_connection_error(tmp_path):
    calls = []

    def tell():
        calls.append(1)
        try:
            raise sqlite3.OperationalError("database is locked")
        except sqlite3.OperationalError:
            raise ValueError("Cannot tell a FAIL trial.")  # noqa: B904 (its __context__ is the lock error)

    with pytest.raises(ValueError, match="Cannot tell"):
        call_with_retry(tell, url=_url(tmp_path), what="tell")
    assert calls == [1]


def test_a_read_only_file_is_waited_for_and_a_deleted_one_is_lost(tmp_path):
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    open_storage(url, create=True, options=OPTIONS)
    error = sqlite3.OperationalError("attempt to write a readonly database")
    assert is_transient(error, url) and as_fault(error, url) is None
    path.unlink()
    assert isinstance(as_fault(error, url), StorageLostError)
