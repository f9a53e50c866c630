"""Race scenarios shared by the SQLite, journal and PostgreSQL tests (``synthetic`` objective:
no training, known means)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState

from studies.engine._launch import create_or_resume
from studies import load_preset, run_worker, study_status
from studies.engine._cells import cell_key, repeat_of, trial_params
from studies.engine._race import RaceSettings
from studies.engine._race_storage import advance_race, race_spec, race_state
from tests.studies._util import OPTIONS, load, run_together, start_workers, wait_all, write_preset

RACE_PRESET = """\
name: race-synth
description: a synthetic ablation race with known truth
sampler: grid
repeats: 3
objective: synthetic
baseline: {arm: base}
defaults:
  family: seq
  dataset: digits
  synth_noise: 0.01
  synth_seed_sd: 0.01
space:
  arm:
    type: variants
    options:
      base: {synth_mean: 0.90}
      much-worse: {synth_mean: 0.50}
      worse: {synth_mean: 0.85}
      same: {synth_mean: 0.90, synth_noise: 0.0101}
"""
SETTINGS = RaceSettings(min_repeats=3, max_repeats=6, futility=0)  # "same" stays open to the end


def race_study(url: str, name: str, tmp_path: Path, settings: RaceSettings = SETTINGS) -> optuna.Study:
    spec = race_spec(load_preset(str(write_preset(tmp_path, RACE_PRESET, "race"))), settings)
    return create_or_resume(spec, url, name, options=OPTIONS, race=settings, check_data=False)


def cells_once(study: optuna.Study) -> Counter:
    """Trials per (config, repeat): every cell must have exactly one."""
    return Counter(cell_key(trial_params(t), repeat_of(t)) for t in study.get_trials(deepcopy=False))


def assert_race_done_once(study: optuna.Study) -> None:
    counts = cells_once(study)
    assert set(counts.values()) == {1}, counts.most_common(3)
    assert all(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    state = race_state(study)
    assert state.finished
    assert len(study.trials) == state.trials  # exactly the seeds the race asked for, no more
    assert state.decisions  # every config has its verdict
    status = study_status(study)
    assert status["finished"] and status["race"]["trials_spent"] == state.trials


def workers_race(url: str, name: str, tmp_path: Path, n: int = 3) -> optuna.Study:
    """N worker processes run a race to its end: every round queued once, every cell run once."""
    race_study(url, name, tmp_path)
    assert len(load(url, name).trials) == 4 * SETTINGS.min_repeats  # only the first round is queued
    assert wait_all(start_workers(url, name, n)) == [0] * n
    study = load(url, name)
    assert_race_done_once(study)
    verdicts = {d.verdict for d in race_state(study).decisions.values()}
    assert "worse" in verdicts  # much-worse is decided at the first look
    return study


def _advance_together(url: str, name: str, start, queue) -> None:
    from studies.storage import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(url, options=OPTIONS))
    start.wait()  # every process finished "its" last cell of the round at this moment
    queue.put(advance_race(study, url))


def concurrent_round_queued_once(url: str, name: str, tmp_path: Path, n_procs: int = 3) -> None:
    """The round's last cells finish in N processes at once; each calls advance_race at the same
    moment: the next round's cells are queued exactly once."""
    race_study(url, name, tmp_path)
    study = load(url, name)
    run_worker(url, name, device="cpu", options=OPTIONS, wait=False, max_trials=4 * SETTINGS.min_repeats)
    assert not study.get_trials(states=(TrialState.WAITING,))  # round 0 done, round 1 not queued yet
    expected = race_state(study).to_queue
    assert expected
    results = run_together(_advance_together, url, name, n_procs)
    assert results == [True] * n_procs  # every process sees work to claim
    study = load(url, name)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == len(expected)
    assert set(cells_once(study).values()) == {1}


def stopped_and_resumed(url: str, name: str, tmp_path: Path) -> optuna.Study:
    """A worker stops mid-race (as if killed after 7 trials); a relaunch without the race flags
    and a fresh worker finish the race exactly as an uninterrupted one does."""
    race_study(url, name, tmp_path)
    run_worker(url, name, device="cpu", options=OPTIONS, wait=False, max_trials=7)
    assert not race_state(load(url, name)).finished
    spec = race_spec(load_preset(str(write_preset(tmp_path, RACE_PRESET, "race"))), SETTINGS)
    create_or_resume(spec, url, name, options=OPTIONS, check_data=False)  # no race=: resumes the stored race
    run_worker(url, name, device="cpu", options=OPTIONS, wait=False)
    study = load(url, name)
    assert_race_done_once(study)
    return study
