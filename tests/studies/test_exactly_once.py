"""Every exactly-once scenario on every storage: SQLite, the journal file and PostgreSQL.

The storages come from ``STORAGES`` in ``tests/studies/_util.py`` through the ``storage_url``
fixture (tests/studies/conftest.py), Optuna's ``STORAGE_MODES`` habit: a scenario is written once
and runs on each backend. PostgreSQL runs when ``LAYERLAB_TEST_POSTGRES_URL`` is set (``.ci/run``
starts a server; ``LAYERLAB_REQUIRE_POSTGRES=1`` turns its absence into a failure).
"""

from __future__ import annotations

import json

import pytest

from studies.engine._race_storage import race_state
from tests.studies._race_util import concurrent_round_queued_once, stopped_and_resumed, workers_race
from tests.studies._util import (
    claims_under_contention,
    concurrent_launches_queue_once,
    sigkill_mid_trial,
    three_workers_on_twelve_cells,
)


@pytest.mark.slow
def test_three_workers_finish_twelve_cells_exactly_once(storage_url, tmp_path):
    three_workers_on_twelve_cells(storage_url, "par", tmp_path)


@pytest.mark.slow
def test_sigkill_mid_trial_still_completes_every_cell_once(storage_url, tmp_path):
    sigkill_mid_trial(storage_url, "kill", tmp_path)


def test_claims_under_contention_are_exactly_once(storage_url):
    claims_under_contention(storage_url, "claims", n_trials=40, n_procs=3)


def test_concurrent_launches_queue_every_cell_once(storage_url, tmp_path):
    concurrent_launches_queue_once(storage_url, "launch", tmp_path)


@pytest.mark.slow
def test_three_worker_processes_run_a_race_exactly_once(storage_url, tmp_path):
    workers_race(storage_url, "race", tmp_path)


@pytest.mark.slow
def test_race_workers_finishing_a_round_together_queue_it_once(storage_url, tmp_path):
    concurrent_round_queued_once(storage_url, "race", tmp_path)


@pytest.mark.slow
def test_a_stopped_race_resumes_where_it_stopped(storage_url, tmp_path):
    study = stopped_and_resumed(storage_url, "race", tmp_path)
    state = race_state(study)
    assert state.decisions[json.dumps({"arm": "much-worse"})].verdict == "worse"
