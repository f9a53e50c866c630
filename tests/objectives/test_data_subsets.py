"""Seed 000's two-class subsets, sampled from the embedded mnist5k (offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives import DataConfig, load_dataset, prepare_data
from objectives.data import get_dataset
from searchspace import ConfigError


def _rows(x: torch.Tensor) -> set[bytes]:
    return {bytes(img.numpy().tobytes()) for img in x}


@pytest.mark.parametrize("pair, classes", [("hard2", (4, 9)), ("easy2", (1, 5))])
def test_subset_has_exact_counts_binary_labels_and_the_papers_classes(pair, classes):
    base = load_dataset("mnist5k")
    sub = load_dataset(f"mnist5k:{pair}:128")
    assert sub.classes == tuple(str(c) for c in classes) and sub.num_classes == 2
    assert sub.y.dtype == torch.int64 and np.bincount(sub.y.numpy()).tolist() == [128, 128]
    assert sub.x_test is None  # one pool: both splits carve test 0.25 from it
    for label, digit in enumerate(classes):  # every image is a real image of that class
        assert _rows(sub.x[sub.y == label]) <= _rows(base.x[base.y == digit])
    assert sub.meta["subset"] == {"of": "mnist5k", "pair": pair, "per_class": 128, "seed": 42, "pool": "train"}


def test_subset_sampling_is_seeded_and_reproducible():
    a = load_dataset("mnist5k:hard2:128")
    from objectives.data._subsets import sample_subset

    again = sample_subset(load_dataset("mnist5k"), "again", "hard2", 128, 42)  # uncached, same seed
    assert torch.equal(again.x, a.x) and torch.equal(again.y, a.y)
    other = load_dataset("mnist5k:hard2:128:7")
    assert not torch.equal(other.x, a.x) and np.bincount(other.y.numpy()).tolist() == [128, 128]
    assert torch.equal(load_dataset("mnist5k:hard2:128:42").x, a.x)  # explicit default seed


def test_all_takes_every_image_of_both_classes():
    base = load_dataset("mnist5k")
    sub = load_dataset("mnist5k:easy2:all")
    counts = np.bincount(base.y.numpy())
    assert np.bincount(sub.y.numpy()).tolist() == [counts[1], counts[5]]


def test_subset_larger_than_a_class_is_one_line():
    smallest = int(np.bincount(load_dataset("mnist5k").y.numpy())[[4, 9]].min())
    with pytest.raises(ConfigError, match=rf"asks for 600 images per class .* only {smallest}") as err:
        load_dataset("mnist5k:hard2:600")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("mnist5k:hard3:128", "unknown class pair 'hard3'"),
        ("mnist5k:hard2:0", "must be a positive count or all"),
        ("mnist5k:hard2:lots", "must be a positive count or all"),
        ("cifar100:hard2:128", "has no subsets; valid: mnist, mnist5k, fashion_mnist, cifar10"),
        ("mnist5k:hard2:128:x", "seed 'x'"),
    ],
)
def test_malformed_subset_names_are_config_errors(name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        get_dataset(name)


def test_subset_trains_through_prepare_data_with_the_paper_split():
    data = prepare_data(DataConfig(dataset="mnist5k:hard2:128", split="paper", normalize="unit"))
    assert data.num_classes == 2 and data.sizes() == {"train": 144, "val": 48, "test": 64}
    for split in ("train", "val", "test"):
        counts = np.bincount(data.labels(split).numpy()).tolist()
        assert counts[0] == counts[1]  # stratified, balanced pool
