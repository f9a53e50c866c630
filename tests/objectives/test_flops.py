"""count_flops: the forward-hook count equals FlopCounterMode's for every registered family, it is
cached per architecture, and it does not import torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from objectives.train._metrics import count_flops
from objectives.train._metrics import _FLOP_CACHE, _hooked_flops
from searchspace.families import build_model, list_families
from tests.searchspace.test_families import SMALL_INPUT, TINY


def _reference(model: nn.Module, shape: tuple[int, ...]) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, *shape))
    return int(counter.get_total_flops())


@pytest.mark.parametrize("family", list_families())
@pytest.mark.parametrize("size", [(8, 8), (32, 32)])
def test_hooks_count_what_flop_counter_mode_counts(family, size):
    kwargs = {**TINY.get(family, {}), **(SMALL_INPUT.get(family, {}) if size == (8, 8) else {})}
    model = build_model(family, in_channels=3, num_classes=5, input_size=size, **kwargs).eval()
    hooked = _hooked_flops(model, (3, *size), "cpu")
    assert hooked is not None, f"{family} fell back to FlopCounterMode"
    assert hooked == _reference(model, (3, *size))
    assert count_flops(model, (3, *size)) == hooked


def test_an_unknown_layer_with_parameters_falls_back_to_flop_counter_mode():
    class Bilinear(nn.Module):  # a matmul outside nn.Linear: hooks could not see it
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(6, 4))

        def forward(self, x):
            return x.flatten(1) @ self.weight.T

    model = nn.Sequential(nn.Linear(4, 4), Bilinear())
    assert _hooked_flops(model, (4,), "cpu") is None
    assert count_flops(model, (4,)) == 2 * 4 * 4 + 2 * 4 * 6


def test_the_count_is_cached_per_architecture_and_shape():
    _FLOP_CACHE.clear()
    a, b = nn.Linear(64, 10), nn.Linear(64, 10)
    assert count_flops(a, (64,)) == count_flops(b, (64,)) == 1280
    assert len(_FLOP_CACHE) == 1
    assert count_flops(nn.Linear(64, 11), (64,)) == 1408 and len(_FLOP_CACHE) == 2
    assert count_flops(nn.Linear(64, 10), (2, 64)) == 2560 and len(_FLOP_CACHE) == 3


@pytest.mark.slow  # a fresh interpreter; measured >= 8 s under load 8 on 2 cores
def test_counting_a_model_does_not_import_dynamo():
    code = (
        "import sys\n"
        "from objectives.train._metrics import count_flops\n"
        "from searchspace.families import build_model\n"
        "m = build_model('seq', in_channels=1, num_classes=10, input_size=(8, 8))\n"
        "assert count_flops(m, (1, 8, 8)) > 0\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
