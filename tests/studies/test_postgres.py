"""The distributed path against a real PostgreSQL server.

``.ci/run`` starts one on 127.0.0.1 and exports ``LAYERLAB_TEST_POSTGRES_URL`` (a database the
user may create databases from) and ``LAYERLAB_REQUIRE_POSTGRES=1``, which turns a missing or
unreachable server into a failure. Without that variable (e.g. on a laptop) these tests skip with
the reason. Each test runs in a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid

import optuna
import pytest

from searchspace.errors import StudyError
from studies import create_or_resume, load_preset, study_status
from studies._storage import redact
from tests.studies._util import (
    OPTIONS,
    claims_under_contention,
    concurrent_launches_queue_once,
    load,
    sigkill_mid_trial,
    three_workers_on_twelve_cells,
)

pytestmark = pytest.mark.postgres


def _unavailable(reason: str) -> None:
    if os.environ.get("LAYERLAB_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (LAYERLAB_REQUIRE_POSTGRES=1: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def postgres_url():
    """A fresh database on the test server; dropped (with any leftover connections) afterwards."""
    base = os.environ.get("LAYERLAB_TEST_POSTGRES_URL")
    if not base:
        _unavailable("LAYERLAB_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server and sets it)")
    psycopg = pytest.importorskip("psycopg")
    from sqlalchemy.engine import make_url

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


def test_three_workers_finish_twelve_cells_exactly_once(postgres_url, tmp_path):
    three_workers_on_twelve_cells(postgres_url, "pg-par", tmp_path)


def test_sigkill_mid_trial_still_completes_every_cell_once(postgres_url, tmp_path):
    sigkill_mid_trial(postgres_url, "pg-kill", tmp_path)


def test_claims_under_contention_are_exactly_once(postgres_url):
    claims_under_contention(postgres_url, "pg-race", n_trials=60, n_procs=3)


def test_concurrent_launches_queue_every_cell_once(postgres_url, tmp_path):
    concurrent_launches_queue_once(postgres_url, "pg-launch", tmp_path)


def test_a_different_spec_is_refused_and_nothing_is_written(postgres_url, tiny_preset):
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, postgres_url, "pg-spec", options=OPTIONS)
    before = len(load(postgres_url, "pg-spec").trials)
    with pytest.raises(StudyError, match="different spec"):
        create_or_resume(spec.replace(repeats=3), postgres_url, "pg-spec", options=OPTIONS)
    study = load(postgres_url, "pg-spec")
    assert len(study.trials) == before == 6 and study_status(study)["cells_total"] == 6
    assert optuna.get_all_study_names(study._storage) == ["pg-spec"]


def test_race_workers_finishing_a_round_together_queue_it_once(postgres_url, tmp_path):
    from tests.studies._race_util import concurrent_round_queued_once

    concurrent_round_queued_once(postgres_url, "pg-race-round", tmp_path)


def test_three_worker_processes_run_a_race_exactly_once(postgres_url, tmp_path):
    from tests.studies._race_util import workers_race

    workers_race(postgres_url, "pg-race-workers", tmp_path)


def test_a_stopped_race_resumes_where_it_stopped(postgres_url, tmp_path):
    from tests.studies._race_util import stopped_and_resumed

    stopped_and_resumed(postgres_url, "pg-race-resume", tmp_path)


def test_attributes_in_one_transaction_on_postgres(postgres_url):
    from tests.studies import test_engine

    test_engine.test_attributes_are_written_in_one_transaction_and_read_back_by_optuna(postgres_url)


def test_a_batched_trial_on_postgres(postgres_url):
    from tests.studies import test_engine

    test_engine.test_a_batched_trial_sees_its_attributes_at_once_and_writes_them_on_flush(postgres_url)


def test_indexed_claims_exactly_once_on_postgres(postgres_url):
    from tests.studies import test_engine

    test_engine.test_claims_take_waiting_trials_in_order_exactly_once(postgres_url)
