"""Fixtures for the studies tests."""

from __future__ import annotations

import pytest


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
