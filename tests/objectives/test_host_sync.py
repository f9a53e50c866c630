"""No host sync per training step: on a GPU a value read back to the host (``.item()``, ``float(t)``,
``.tolist()``, ``.cpu()``...) waits for every queued kernel, so the trainers read their running loss
and accuracy once per epoch. Counted on the CPU: the reads of a fit must not grow with its steps."""

from __future__ import annotations

import collections

import pytest
import torch

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.train._batched import fit_batched

READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")


def _reads(monkeypatch, train) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for name in READS:
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    train()
    monkeypatch.undo()
    return counts


@pytest.mark.parametrize("batched", [False, True], ids=["fit", "fit_batched"])
def test_host_reads_do_not_grow_with_the_number_of_steps(monkeypatch, batched):
    base = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 4, "fc_units": 8,
            "epochs": 1, "early_stopping": False}
    data = prepare_data(RunConfig.from_flat(base).data)
    counts = []
    for batch_size in (512, 64):  # 3 and 17 steps an epoch
        run = RunConfig.from_flat({**base, "batch_size": batch_size})
        fit(run, data, seed=0) if not batched else fit_batched(run, data, seeds=[0, 1])  # warm caches first
        counts.append(_reads(monkeypatch, (lambda: fit(run, data, seed=0)) if not batched else
                             (lambda: fit_batched(run, data, seeds=[0, 1]))))
    assert counts[0] == counts[1] and sum(counts[0].values()) > 0
