"""benchmarks/bench_gpu.py runs every path on the CPU (--device cpu --quick) and ends with its ratios."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_gpu  # noqa: E402


def test_synthetic_data_is_cifar_shaped_and_on_the_device():
    data = bench_gpu.synthetic(torch.device("cpu"), 8, 4)
    assert data.x_train.shape == (8, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.num_classes == 10 and data.inputs("val").shape == (4, 3, 32, 32)
    assert len(data.stats["mean"]) == 3


@pytest.mark.slow
def test_quick_cpu_run_prints_its_ratios_last(capsys):
    ratios = bench_gpu.main(["--device", "cpu", "--quick", "--repeats", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert set(ratios) == {
        "fit/hand_loop resnet20", "fit/seed001_reported resnet20", "batched/sequential baseseq b16 k2",
        "processes2/one baseseq b16", "bf16/fp32 resnet20", "resident/host resnet20",
    }
    tail = lines[-len(ratios):]
    assert [line.rsplit(" ", 1)[0] for line in tail] == [f"ratio {name}" for name in ratios]
    for line, value in zip(tail, ratios.values()):
        assert math.isfinite(value) and value > 0
        assert float(line.rsplit(" ", 1)[1]) == pytest.approx(value, abs=0.006)
    assert any(line.startswith("load average") for line in lines)
