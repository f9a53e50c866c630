"""GPU hours for every preset, from the measured GPU figures (studies/_estimate.py)."""

from __future__ import annotations

import pytest

from studies import list_presets, load_preset
from studies._estimate import (
    GPU_BATCH_SATURATION,
    GPU_TRIAL_OVERHEAD_SECONDS,
    IMAGES_PER_SECOND,
    estimate_cost,
    gpu_images_per_second,
)


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_has_gpu_hours(name):
    estimate = estimate_cost(load_preset(name))
    assert estimate.gpu_hours is not None and estimate.gpu_hours > 0
    lines = estimate.lines()
    assert "one GPU: about" in lines[2] and any("GPU hours from one NVIDIA H200" in line for line in lines)
    cells = estimate.cells or 0  # at least the per-trial overhead of every trial
    assert estimate.gpu_hours * 3600 >= cells * GPU_TRIAL_OVERHEAD_SECONDS * 0.99


def test_space_grid_prints_gpu_hours(capsys):
    import cli

    assert cli.main(["space", "grid", "--preset", "resnet-depth", "--limit", "1"]) == 0
    assert "one GPU: about 1.4 h" in capsys.readouterr().out


def test_the_gpu_model_is_launch_bound_for_small_steps():
    measured = IMAGES_PER_SECOND["cifar_resnet"]["gpu"]
    assert gpu_images_per_second("cifar_resnet", 64, 1024) == measured
    assert gpu_images_per_second("cifar_resnet", 128, 1024) == 2 * measured  # same step time, twice the images
    assert gpu_images_per_second("cifar_resnet", 64 * 64, 1024) == GPU_BATCH_SATURATION * measured
    assert gpu_images_per_second("cifar_resnet", 64, 64) == measured  # 8x8 digits: no faster than 32x32
    assert gpu_images_per_second("cifar_resnet", 64, 4096) == measured / 4  # 64x64: four times the work
    assert gpu_images_per_second("no_such_family", 64, 1024) is None
