"""Workers in this process: idle waiting, dead and interrupted trials, resuming a crashed run, the journal lease."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from studies.engine._launch import create_or_resume
from studies import launch, load_preset, run_worker, study_status
from studies.storage import open_storage
from tests.studies._util import OPTIONS, assert_exactly_once, load


@pytest.mark.slow  # measured >= 8 s under load ~5 on 2 cores
def test_a_crashed_run_resumes_on_relaunch(tiny_preset, sqlite_url, monkeypatch):
    """A previous run died with two trials RUNNING: relaunching waits out their grace period,
    re-queues them once and finishes every cell exactly once."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = load_preset(str(tiny_preset))  # 3 configs x 2 repeats
    study = create_or_resume(spec, sqlite_url, "crash", options=OPTIONS)
    storage = study._storage
    for _ in range(2):  # what a killed worker leaves behind: claimed, beating, then silent
        waiting = study.get_trials(states=(TrialState.WAITING,))[0]
        storage.record_heartbeat(waiting._trial_id)
        assert storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    assert study_status(study)["cells_running"] == 2
    study = launch(spec, storage=sqlite_url, study_name="crash", progress=False, options=OPTIONS, device="cpu")
    assert_exactly_once(study, 6)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 2 and study_status(study)["retries"] == 2
    assert len(study.trials) == 8


def test_a_grid_worker_never_samples_trials_and_exits_when_done(tiny_preset, sqlite_url):
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "idle", options=OPTIONS)
    study = load(sqlite_url, "idle")
    for t in study.get_trials(states=(TrialState.WAITING,)):  # someone else finished everything
        assert study._storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
        study.tell(t.number, 0.5)
    report = run_worker(sqlite_url, "idle", device="cpu", options=OPTIONS)
    assert report.trials == [] and len(load(sqlite_url, "idle").trials) == 6


@pytest.mark.slow  # measured >= 8 s under load ~5 on 2 cores
def test_an_idle_worker_waits_for_running_trials_and_takes_over_a_dead_one(tiny_preset, sqlite_url):
    """Nothing waiting, one trial RUNNING whose worker is gone: the idle worker must not exit; it
    waits until the trial goes stale, then runs the re-queued cell."""
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "wait", options=OPTIONS)
    study = load(sqlite_url, "wait")
    waiting = study.get_trials(states=(TrialState.WAITING,))
    for t in waiting[1:]:
        study._storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
        study.tell(t.number, 0.5)
    orphan = waiting[0]
    study._storage.record_heartbeat(orphan._trial_id)
    study._storage.set_trial_state_values(orphan._trial_id, TrialState.RUNNING)
    report = run_worker(sqlite_url, "wait", device="cpu", options=OPTIONS)
    assert report.completed == 1 and report.failed == 0
    study = load(sqlite_url, "wait")
    assert study.trials[orphan.number].state == TrialState.FAIL
    retry = study.trials[-1]
    assert retry.system_attrs["failed_trial"] == orphan.number and retry.state == TrialState.COMPLETE
    assert retry.params == orphan.system_attrs["fixed_params"]


def test_no_wait_worker_exits_while_others_run(tiny_preset, sqlite_url):
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "nowait", options=OPTIONS)
    study = load(sqlite_url, "nowait")
    for t in study.get_trials(states=(TrialState.WAITING,)):
        study._storage.record_heartbeat(t._trial_id)
        study._storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
    report = run_worker(sqlite_url, "nowait", device="cpu", options=OPTIONS, wait=False)
    assert report.trials == []


def test_interrupted_trial_hands_its_cell_back(tiny_preset, sqlite_url):
    """Ctrl-C / SIGTERM during a trial: FAIL with reason 'interrupted' and the same cell re-queued."""
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "intr", options=OPTIONS)

    def interrupt(stats):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_worker(sqlite_url, "intr", device="cpu", options=OPTIONS, on_epoch=interrupt)
    study = load(sqlite_url, "intr")
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["fail_reason"] == "interrupted"
    again = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert len(again) == 1 and again[0].state == TrialState.WAITING
    assert again[0].system_attrs["fixed_params"] == first.params and again[0].user_attrs["repeat"] == 0
    status = study_status(study)
    assert status["cells_waiting"] == 6 and status["cells_failed"] == 0


@pytest.mark.parametrize("where", ["BatchedTrial", "Heartbeat"])
def test_an_interrupt_right_after_a_claim_hands_the_cell_back(tiny_preset, sqlite_url, monkeypatch, where):
    """Ctrl-C between the claim and the trial's own handler (setting the trial up, starting its
    heartbeat) still hands the cell back, instead of leaving it RUNNING until its grace period."""
    import studies.engine._worker

    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, sqlite_url, "claimed", options=OPTIONS)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(studies.engine._worker, where, interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_worker(sqlite_url, "claimed", device="cpu", options=OPTIONS)
    study = load(sqlite_url, "claimed")
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["fail_reason"] == "interrupted"
    again = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert len(again) == 1 and again[0].state == TrialState.WAITING
    assert study_status(study)["cells_waiting"] == 6


def test_journal_lease_fails_a_silent_trial_once(tmp_path, monkeypatch):
    """The journal's heartbeat lease: a RUNNING trial whose beat two workers watched stand still
    for the grace period is failed, and its cell re-queued exactly once."""
    from studies.storage import _outage

    now = [time.monotonic() + 1e6]  # a clock of our own, past anything this process saw
    monkeypatch.setattr(_outage, "monotonic", lambda: now[0])
    url = f"journal:///{tmp_path / 'lease.log'}"
    storage = open_storage(url, create=True, options=OPTIONS)
    study = optuna.create_study(study_name="lease", storage=storage)
    study.enqueue_trial({"x": 1}, user_attrs={"repeat": 0})
    (trial,) = study.get_trials(states=(TrialState.WAITING,))
    storage.record_heartbeat(trial._trial_id)
    assert storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING)
    assert storage._get_stale_trial_ids(study._study_id) == []  # fresh beat: alive
    storage.set_trial_system_attr(trial._trial_id, "layerlab:heartbeat", time.time() - OPTIONS.grace_period - 1)
    other = open_storage(url, options=OPTIONS)  # a second worker's view of the same file
    from studies.storage import backend_of

    watchers = [study, optuna.load_study(study_name="lease", storage=other)]
    for watcher in watchers:  # each starts watching the beat
        backend_of(watcher).fail_stale_trials(watcher)
    assert [t.state for t in optuna.load_study(study_name="lease", storage=other).trials] == [TrialState.RUNNING]
    now[0] += OPTIONS.grace_period + 1  # the beat stood still for the grace period, the storage answering
    for watcher in watchers:
        backend_of(watcher).fail_stale_trials(watcher)
    trials = optuna.load_study(study_name="lease", storage=other).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].system_attrs["fixed_params"] == {"x": 1}


def test_a_stop_signal_during_a_hand_back_does_not_cut_it_short():
    """The handler raises KeyboardInterrupt, except while a hand-back runs: a second signal (the
    launch's SIGTERM after a Ctrl-C reached every process) must not interrupt it mid-transaction."""
    import signal

    from studies.engine._faults import handing_back, interrupt

    with pytest.raises(KeyboardInterrupt):
        interrupt(signal.SIGTERM, None)
    with handing_back():
        interrupt(signal.SIGTERM, None)  # swallowed
        with handing_back():
            interrupt(signal.SIGINT, None)
        interrupt(signal.SIGHUP, None)  # the inner block ended, the outer one still runs
    with pytest.raises(KeyboardInterrupt):
        interrupt(signal.SIGINT, None)
