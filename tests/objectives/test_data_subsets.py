"""Seed 000's two-class subsets, sampled from the embedded mnist5k (offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives.data._config import DataConfig
from objectives import load_dataset
from objectives.data._prepare import prepare_data
from objectives.data._registry import get_dataset
from searchspace import ConfigError


def _rows(x: torch.Tensor) -> set[bytes]:
    return {bytes(img.numpy().tobytes()) for img in x}


@pytest.mark.parametrize("pair, classes", [("hard2", (4, 9)), ("easy2", (1, 5))])
def test_subset_has_exact_counts_binary_labels_and_the_papers_classes(pair, classes):
    base = load_dataset("mnist5k")
    sub = load_dataset(f"mnist5k:{pair}:128")
    assert sub.classes == tuple(str(c) for c in classes) and sub.num_classes == 2
    assert sub.y.dtype == torch.int64 and np.bincount(sub.y.numpy()).tolist() == [128, 128]
    # Test images come from outside the n: round(128 / 3) = 43 per class (§4.4's 0.25 share).
    assert np.bincount(sub.y_test.numpy()).tolist() == [43, 43]
    assert not _rows(sub.x_test) & _rows(sub.x)
    for label, digit in enumerate(classes):  # every image is a real image of that class
        assert _rows(sub.x[sub.y == label]) <= _rows(base.x[base.y == digit])
        assert _rows(sub.x_test[sub.y_test == label]) <= _rows(base.x[base.y == digit])
    assert sub.meta["subset"] == {
        "of": "mnist5k", "pair": pair, "per_class": 128, "seed": 42, "pool": "train", "test_per_class": 43,
    }  # fmt: skip


def test_subset_sampling_is_seeded_and_reproducible():
    a = load_dataset("mnist5k:hard2:128")
    from objectives.data._subsets import sample_subset

    again = sample_subset(load_dataset("mnist5k"), "again", "hard2", 128, 42)  # uncached, same seed
    assert torch.equal(again.x, a.x) and torch.equal(again.y, a.y)
    other = load_dataset("mnist5k:hard2:128:7")
    assert not torch.equal(other.x, a.x) and np.bincount(other.y.numpy()).tolist() == [128, 128]
    assert torch.equal(other.x_test, a.x_test)  # one fixed test draw whatever the sampling seed
    assert torch.equal(load_dataset("mnist5k:hard2:128:42").x, a.x)  # explicit default seed


def test_all_takes_every_image_of_both_classes():
    base = load_dataset("mnist5k")
    sub = load_dataset("mnist5k:easy2:all")
    counts = np.bincount(base.y.numpy())
    assert np.bincount(sub.y.numpy()).tolist() == [counts[1], counts[5]]
    assert sub.x_test is None  # nothing is left outside `all`: both splits carve test 0.25 from it
    data = prepare_data(DataConfig(dataset="mnist5k:easy2:all", split="paper", normalize="unit"))
    total = counts[1] + counts[5]
    assert sum(data.sizes().values()) == total
    assert data.sizes()["test"] == int(np.ceil(0.25 * total))


def test_subset_larger_than_a_class_is_one_line():
    smallest = int(np.bincount(load_dataset("mnist5k").y.numpy())[[4, 9]].min())
    with pytest.raises(ConfigError, match=rf"asks for 600 images per class \(\+200 test .* only {smallest}") as err:
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


@pytest.mark.parametrize("split", ["paper", "official"])
def test_subset_trains_and_validates_on_n_per_class(split):
    # Table 1: sampleSize is train + validation, so mnist5k:hard2:128 trains and validates on 256.
    data = prepare_data(DataConfig(dataset="mnist5k:hard2:128", split=split, normalize="unit"))
    sizes = data.sizes()
    assert data.num_classes == 2 and sizes["train"] + sizes["val"] == 256
    assert sizes == {"train": 192, "val": 64, "test": 86}
    train_val = _rows(data.x_train) | _rows(data.x_val)
    assert not train_val & _rows(data.x_test)  # the test images are outside the n
    for split in ("train", "val", "test"):
        counts = np.bincount(data.labels(split).numpy()).tolist()
        assert counts[0] == counts[1]  # stratified, balanced pool


def test_per_repeat_sampling_draws_a_new_sample_per_repeat_and_keeps_the_test_set():
    from objectives.data._subsets import resolve_subset_sampling

    fixed = DataConfig(dataset="mnist5k:hard2:128", split="paper", normalize="unit")
    per_repeat = DataConfig(dataset="mnist5k:hard2:128", split="paper", normalize="unit",
                            subset_sampling="per_repeat")
    assert resolve_subset_sampling(fixed, 2) == fixed
    assert resolve_subset_sampling(per_repeat, 2).dataset == "mnist5k:hard2:128:44"
    assert resolve_subset_sampling(DataConfig(dataset="mnist5k:hard2:all", subset_sampling="per_repeat"), 1).dataset \
        == "mnist5k:hard2:all"  # all: nothing left to resample
    r0, r1 = (prepare_data(per_repeat, repeat=r) for r in (0, 1))
    assert torch.equal(r0.x_train, prepare_data(fixed).x_train)  # repeat 0 is the default sample
    assert _rows(r0.x_train) != _rows(r1.x_train)
    assert torch.equal(r0.x_test, r1.x_test)
    with pytest.raises(ConfigError, match="unknown subset_sampling 'sometimes'"):
        DataConfig(subset_sampling="sometimes").validate()
