"""benchmarks/bench_gpu.py runs every part on the CPU (--device cpu --quick) and ends with its ratios."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_gpu  # noqa: E402


def test_synthetic_data_has_the_shape_asked_for_and_is_on_the_device():
    data = bench_gpu.synthetic(torch.device("cpu"), 8, 4)
    assert data.x_train.shape == (8, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.num_classes == 10 and data.inputs("val").shape == (4, 3, 32, 32)
    assert bench_gpu.synthetic(torch.device("cpu"), 8, 4, bench_gpu.MNIST).inputs("train").shape == (8, 1, 28, 28)


def test_a_failing_part_prints_its_error_and_the_others_still_run(monkeypatch, capsys):
    def broken(b, k):
        raise RuntimeError("NYI: something on this device")

    monkeypatch.setattr(bench_gpu, "part_batched", broken)
    monkeypatch.setattr(bench_gpu, "part_residency", lambda b: {"resident/host x": 1.5})
    ratios = bench_gpu.main(["--device", "cpu", "--quick", "--only", "batched,residency"])
    out = capsys.readouterr().out.splitlines()
    assert ratios == {"resident/host x": 1.5}
    assert any(line.startswith("part batched failed") and "NYI: something on this device" in line for line in out)
    assert out[-1] == "ratio resident/host x 1.50"


@pytest.mark.slow  # the whole quick run: trainings, trial processes and two CLI studies (~2 min on 2 loaded cores)
def test_quick_cpu_run_prints_at_least_seven_ratios_last(capsys):
    ratios = bench_gpu.main(["--device", "cpu", "--quick", "--repeats", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert not [line for line in lines if " failed after " in line]
    names = {
        "fit/hand_loop resnet20 b32", "precision auto/best resnet20 b32", "precision auto/best baseseq16 b16",
        "batched/sequential baseseq16 b16 k2", "trials_per_gpu2/1 baseseq16 b16", "resident/host resnet20 b32",
        "study/hand_loop resnet20 b32", "demo_wall cpu2/device",
    }
    assert names <= set(ratios) and len(ratios) >= 7
    tail = lines[-len(ratios):]
    assert [line.rsplit(" ", 1)[0] for line in tail] == [f"ratio {name}" for name in ratios]
    for line, value in zip(tail, ratios.values()):
        assert math.isfinite(value) and value > 0
        assert float(line.rsplit(" ", 1)[1]) == pytest.approx(value, abs=0.006)
    assert sum(line.startswith("load average") for line in lines) == 1
    assert "load average at end" in lines[-len(ratios) - 1]
