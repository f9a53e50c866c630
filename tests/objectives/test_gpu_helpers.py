"""GPU process helpers (objectives/train/_gpu.py) on the CPU: the footprint measurement's steps with
torch's CUDA memory counters faked, and what counts as running out of GPU memory."""

from __future__ import annotations

import pytest
import torch

from objectives import RunConfig
from objectives.data._prepare import _CACHE
from objectives.train import _gpu


def test_trial_footprint_runs_a_trial_and_releases_its_data(monkeypatch):
    calls = []
    for name in ("synchronize", "reset_peak_memory_stats", "empty_cache"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, _n=name, **k: calls.append(_n))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: 10 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: 110 * 2**20)
    run = RunConfig.from_flat({"family": "seq", "dataset": "digits", "channels": 4, "fc_units": 8, "batch_size": 64})
    before = set(_CACHE)
    footprint = _gpu.trial_footprint(run, torch.device("cpu"))
    assert footprint == int(100 * 2**20 * _gpu.ALLOCATOR_SLACK) + _gpu.CONTEXT_BYTES  # the peak over the base
    assert "reset_peak_memory_stats" in calls and set(_CACHE) == before  # measured data not kept


@pytest.mark.parametrize(
    "exc, oom",
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate(handle)"), True),
        (RuntimeError("shape mismatch"), False),
        (ValueError("out of range"), False),
    ],
)
def test_what_counts_as_out_of_gpu_memory(exc, oom):
    assert _gpu.is_out_of_memory(exc) is oom
    try:
        raise RuntimeError("trial failed") from exc
    except RuntimeError as wrapped:  # a cause further down the chain counts too
        assert _gpu.is_out_of_memory(wrapped) is oom
