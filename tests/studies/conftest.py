"""Fixtures for the studies tests."""

from __future__ import annotations

import pytest

from tests.studies._util import STORAGES, postgres_database


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch):
    """Train with one thread: tests share two cores with other processes, and an oversubscribed
    torch runs many times slower. Worker subprocesses inherit OMP_NUM_THREADS."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=[pytest.param(kind, marks=[pytest.mark.postgres] if kind == "postgres" else [])
                        for kind in STORAGES])
def storage_url(request, tmp_path):
    """A fresh storage of each kind in ``STORAGES``: SQLite, the journal file, PostgreSQL (skipped
    without ``LAYERLAB_TEST_POSTGRES_URL``, failed instead under ``LAYERLAB_REQUIRE_POSTGRES=1``)."""
    with STORAGES[request.param](tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url(tmp_path):
    """A fresh database on the PostgreSQL test server (see ``storage_url``)."""
    with postgres_database(tmp_path) as url:
        yield url
