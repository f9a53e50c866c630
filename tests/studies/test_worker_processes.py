"""Worker processes started by ``launch``: exactly once (the per-storage scenarios are in test_exactly_once.py)."""

from __future__ import annotations

import pytest

from studies import launch, load_preset
from tests.studies._util import OPTIONS, assert_exactly_once

pytestmark = pytest.mark.slow


# SIGKILL mid-trial and three workers on twelve cells run on every storage in test_exactly_once.py.


def test_launch_with_two_worker_processes(tiny_preset, sqlite_url, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = load_preset(str(tiny_preset))
    study = launch(spec, storage=sqlite_url, study_name="two", workers=2, device="cpu", progress=False, options=OPTIONS)
    assert_exactly_once(study, 6)
    assert len(study.trials) == 6
    assert all(t.user_attrs["device"] == "cpu" for t in study.trials)
