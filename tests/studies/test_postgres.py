"""The distributed path against a real PostgreSQL server.

``.ci/run`` starts one on 127.0.0.1 and exports ``LAYERLAB_TEST_POSTGRES_URL`` (a database the
user may create databases from) and ``LAYERLAB_REQUIRE_POSTGRES=1``, which turns a missing or
unreachable server into a failure. Without that variable (e.g. on a laptop) these tests skip with
the reason. Each test runs in a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import optuna
import pytest

from searchspace.errors import StudyError
from studies.engine._launch import create_or_resume
from studies import load_preset, study_status
from tests.studies._util import OPTIONS, load

pytestmark = pytest.mark.postgres


# The ``postgres_url`` fixture (a fresh database, skipped or failed by the rules above) lives in
# tests/studies/conftest.py. The exactly-once scenarios (three workers, SIGKILL, claims, launches,
# races) and the engine's attribute / claim tests run on PostgreSQL through the ``storage_url``
# fixture, in test_exactly_once.py and test_engine.py.


def test_a_different_spec_is_refused_and_nothing_is_written(postgres_url, tiny_preset):
    spec = load_preset(str(tiny_preset))
    create_or_resume(spec, postgres_url, "pg-spec", options=OPTIONS)
    before = len(load(postgres_url, "pg-spec").trials)
    with pytest.raises(StudyError, match="different spec"):
        create_or_resume(spec.replace(repeats=3), postgres_url, "pg-spec", options=OPTIONS)
    study = load(postgres_url, "pg-spec")
    assert len(study.trials) == before == 6 and study_status(study)["cells_total"] == 6
    assert optuna.get_all_study_names(study._storage) == ["pg-spec"]
