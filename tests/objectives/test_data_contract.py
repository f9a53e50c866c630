"""Contract test over the dataset registry: every name ``list_datasets()`` returns loads and
describes itself.

Embedded datasets load for real. On-disk datasets load from tiny files written in their real
format by the writers in ``test_data_formats.py`` (IDX, CIFAR's pickled batches, MedMNIST's .npz),
with the loaders' expected checksums / counts pointed at the tiny files for the test. A refused
dataset must refuse with its reason. A registered dataset this file has no writer for fails the
test (it is not skipped): add a writer when you register a new on-disk dataset.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from objectives.data._describe import describe_dataset
from objectives.data._registry import list_datasets, load_dataset
from objectives.data._describe import dataset_table
from objectives.catalog._medmnist import MEDMNIST_FLAGS
from objectives.data._registry import dataset_info
from searchspace import ConfigError
from tests.objectives.test_data_formats import (
    expect_counts,
    trust_tiny_cifar,
    write_cifar,
    write_idx_dataset,
    write_medmnist,
)


@pytest.fixture(autouse=True)
def _no_download_env(monkeypatch):
    monkeypatch.delenv("LAYERLAB_DOWNLOAD", raising=False)


def _idx(folder: str, gz: bool) -> Callable[[Path, pytest.MonkeyPatch], None]:
    # 8 training images per class: enough for describe's stratified validation split
    return lambda root, monkeypatch: write_idx_dataset(root, folder, n={"train": 80, "test": 20}, gz=gz)


def _cifar(which: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def write(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # CIFAR-100 has one training file: 500 images = each class 5 times,
        # enough for describe's stratified validation split over 100 classes
        write_cifar(root, which, per_file=500 if which == "cifar100" else 10)
        trust_tiny_cifar(monkeypatch, root, which)

    return write


def _medmnist(flag: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def write(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        write_medmnist(root, flag)
        expect_counts(monkeypatch, flag)

    return write


# name -> writer of tiny files in that dataset's own on-disk format.
WRITERS: dict[str, Callable[[Path, pytest.MonkeyPatch], None]] = {
    "mnist": _idx("MNIST", gz=False),
    "fashion_mnist": _idx("FashionMNIST", gz=True),
    "cifar10": _cifar("cifar10"),
    "cifar100": _cifar("cifar100"),
    **{flag: _medmnist(flag) for flag in MEDMNIST_FLAGS},
}


def check_raw(name: str, raw) -> None:
    """What every loader returns: uint8 NCHW images, int64 labels inside the class range."""
    assert raw.x.dtype == torch.uint8 and raw.x.ndim == 4 and len(raw.x) > 0, name
    assert raw.num_classes >= 2 and len(set(raw.classes)) == raw.num_classes, name
    assert all(isinstance(c, str) and c for c in raw.classes), name
    for part, (x, y) in raw.parts().items():
        assert x.dtype == torch.uint8 and tuple(x.shape[1:]) == tuple(raw.x.shape[1:]), (name, part)
        assert y.dtype == torch.int64 and y.shape == (len(x),), (name, part)
        assert 0 <= int(y.min()) and int(y.max()) < raw.num_classes, (name, part)


def check_description(name: str, raw, described: dict, root: Path) -> None:
    assert json.loads(json.dumps(described)) == described  # plain JSON data
    assert described["name"] == name and described["description"] and described["source"], name
    assert described["embedded"] == dataset_info(name).embedded
    assert described["num_classes"] == raw.num_classes and described["classes"] == list(raw.classes)
    assert described["channels"] == raw.in_channels and described["image_size"] == list(raw.input_size)
    assert described["official"] == {part: len(y) for part, (_, y) in raw.parts().items()}
    assert sum(described["split_sizes"].values()) == sum(described["official"].values())
    for part, balance in described["class_balance"].items():
        assert list(balance) == list(raw.classes)
        assert sum(balance.values()) == described["split_sizes"][part], (name, part)
    row = next(r for r in dataset_table(root) if r["name"] == name)
    assert row["present"] and row["refused"] == "" and row["description"] == described["description"]


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if name == "mnist5k" else name  # decoding: >= 8 s under load
    for name in list_datasets()
])
def test_every_registered_dataset_loads_and_describes_itself(tmp_path, monkeypatch, name):
    info = dataset_info(name)
    assert info.description, f"dataset {name!r} has no description"
    if info.refused:  # listed so a user learns why it cannot be used; loading says the same
        assert next(r for r in dataset_table(tmp_path) if r["name"] == name)["refused"] == info.refused
        with pytest.raises(ConfigError, match=f"{name}.*refused") as err:
            load_dataset(name, tmp_path, download=False)
        assert info.refused in str(err.value)
        return
    if not info.embedded:
        assert name in WRITERS, f"no tiny-file writer for on-disk dataset {name!r}: add one to WRITERS"
        assert info.present is not None and not info.present(tmp_path), f"{name} present in an empty dir"
        WRITERS[name](tmp_path, monkeypatch)
        assert info.present(tmp_path), f"{name}: its present() does not see the files its format puts there"
    raw = load_dataset(name, tmp_path, download=False)
    assert raw.name == name
    check_raw(name, raw)
    check_description(name, raw, describe_dataset(name, tmp_path, download=False), tmp_path)


def test_the_contract_covers_every_on_disk_dataset():
    # A writer left behind for a dataset that is no longer registered is a stale test.
    on_disk = {n for n in list_datasets() if not dataset_info(n).embedded and not dataset_info(n).refused}
    assert set(WRITERS) - {n for n in MEDMNIST_FLAGS if dataset_info(n).refused} == on_disk
