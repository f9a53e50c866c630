"""On-disk datasets: tiny files in each dataset's real format, loaded through the real loaders.

Nothing here downloads. MNIST/Fashion-MNIST are IDX files (raw or .gz) where torchvision looks
for them; CIFAR-10/100 are pickled python batches; MedMNIST is a v3 .npz. The CIFAR loader checks
every file's MD5 against torchvision's published list before anything is unpickled, and the
MedMNIST loader checks each split's count against ``medmnist.INFO``; tiny files cannot match
those, so the tests that load tiny files patch the *expected* checksums/counts to the tiny files'
own (monkeypatch, undone after each test). Separate tests show the unpatched checks reject them.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from objectives.data._config import DataConfig
from objectives.data._prepare import prepare_data
from searchspace._errors import DatasetError
from objectives.data._registry import load_dataset
from searchspace import ConfigError

IDX = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@pytest.fixture(autouse=True)
def _no_download_env(monkeypatch):
    monkeypatch.delenv("LAYERLAB_DOWNLOAD", raising=False)


def tiny_images(n: int, channels: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)


def tiny_labels(n: int, classes: int) -> np.ndarray:
    return (np.arange(n) % classes).astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's IDX format: 0x00 0x00 0x08 (uint8) ndim, big-endian uint32 sizes, then the bytes."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_dataset(root: Path, folder: str = "MNIST", n: dict | None = None, gz: bool = False) -> dict:
    """Tiny train/test IDX files under ``root/<folder>/raw``; returns the arrays written."""
    n = n or {"train": 30, "test": 20}
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, (part, (images_name, labels_name)) in enumerate(IDX.items()):
        x = tiny_images(n[part], 1, 28, seed=i)[:, 0]
        y = tiny_labels(n[part], 10)
        for name, array in ((images_name, x), (labels_name, y)):
            data = idx_bytes(array)
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
        arrays[part] = (x, y)
    return arrays


# -- MNIST and Fashion-MNIST ------------------------------------------------------------------------


@pytest.mark.parametrize("name, folder, gz", [("mnist", "MNIST", False), ("fashion_mnist", "FashionMNIST", True)])
def test_idx_files_load_through_torchvision(tmp_path, name, folder, gz):
    arrays = write_idx_dataset(tmp_path, folder, gz=gz)
    raw = load_dataset(name, tmp_path, download=False)
    assert raw.x.dtype == torch.uint8 and tuple(raw.x.shape) == (30, 1, 28, 28)
    assert tuple(raw.x_test.shape) == (20, 1, 28, 28) and raw.y.dtype == torch.int64
    assert np.array_equal(raw.x[:, 0].numpy(), arrays["train"][0])
    assert np.array_equal(raw.y_test.numpy(), arrays["test"][1].astype(np.int64))
    assert raw.num_classes == 10 and load_dataset(name, tmp_path) is raw  # decoded once
    if name == "fashion_mnist":
        assert raw.classes[0] == "T-shirt/top" and raw.classes[6] == "Shirt"
        assert (tmp_path / folder / "raw" / "train-images-idx3-ubyte").is_file()  # .gz unpacked


def test_missing_files_offline_is_one_line_naming_dataset_path_and_remedy(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path, download=False)
    message = str(err.value)
    assert "\n" not in message and "'mnist'" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "data download mnist" in message
    assert "LAYERLAB_DOWNLOAD" in message


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens: refused at once
    with pytest.raises(DatasetError, match="could not download dataset 'mnist'") as err:
        load_dataset("mnist", tmp_path, download=True)
    assert "\n" not in str(err.value)


def test_a_long_download_error_is_shortened_at_a_word_boundary(tmp_path):
    from objectives.data._files import fetch

    def fail():
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Tried http://127.0.0.1:9/, " + "gone " * 60)

    with pytest.raises(DatasetError) as err:
        fetch("mnist", tmp_path, fail)
    reason = str(err.value).split("(offline?): ")[1]
    assert reason.startswith("Error downloading") and reason.endswith(" gone ...; retry online or copy the files there yourself"), reason


@pytest.mark.parametrize("cut", [5, 4000])
def test_truncated_idx_file_names_the_file(tmp_path, cut):
    write_idx_dataset(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte") as err:
        load_dataset("mnist", tmp_path)
    assert "\n" not in str(err.value)


def test_truncated_gz_names_the_archive_and_leaves_nothing(tmp_path):
    write_idx_dataset(tmp_path, gz=True)
    path = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:12])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz is corrupt or truncated"):
        load_dataset("mnist", tmp_path)
    assert not (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists()


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx_dataset(tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(tiny_labels(19, 10)))
    with pytest.raises(DatasetError, match="20 images but .*19 labels"):
        load_dataset("mnist", tmp_path)


def test_subsets_pool_the_official_train_and_test_sets(tmp_path):
    write_idx_dataset(tmp_path, n={"train": 40, "test": 20})  # labels cycle 0..9: 4 + 2 images of each
    sub = load_dataset("mnist:hard2:all", tmp_path)
    assert sub.classes == ("4", "9") and sub.x_test is None
    assert np.bincount(sub.y.numpy()).tolist() == [6, 6]
    easy = load_dataset("mnist:easy2:4", tmp_path)  # 4 per class + round(4 / 3) = 1 test outside them
    assert easy.classes == ("1", "5") and np.bincount(easy.y_test.numpy()).tolist() == [1, 1]
    with pytest.raises(ConfigError, match="only 6 .train\\+test pooled.; use n <= 4 or all"):
        load_dataset("mnist:hard2:5", tmp_path)


# -- CIFAR-10 and CIFAR-100 ------------------------------------------------------------------------


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar(root: Path, which: str, per_file: int = 10) -> None:
    """Tiny batches in CIFAR's python format: dicts with ``data`` (N, 3072) uint8 in CHW order."""
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[which]
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    classes = 10 if which == "cifar10" else 100
    for i, (name, _) in enumerate(cls.train_list + cls.test_list):
        data = tiny_images(per_file, 3, 32, seed=10 + i).reshape(per_file, -1)
        labels = [(i + k) % classes for k in range(per_file)]
        if which == "cifar10":
            batch = {"batch_label": name, "data": data, "labels": labels, "filenames": [f"{k}.png" for k in labels]}
        else:
            batch = {"data": data, "fine_labels": labels, "coarse_labels": [k // 5 for k in labels]}
        _pickle(folder / name, batch)
    key = cls.meta["key"]
    _pickle(folder / cls.meta["filename"], {key: [f"class{k}" for k in range(classes)]})


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def trust_tiny_cifar(monkeypatch, root: Path, which: str) -> None:
    """Point torchvision's expected MD5s (class attributes) at the tiny files, for this test only."""
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[which]
    folder = root / cls.base_folder
    monkeypatch.setattr(cls, "train_list", [[f, _md5(folder / f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, _md5(folder / f)] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


@pytest.mark.parametrize("which, n_train, classes", [("cifar10", 50, 10), ("cifar100", 10, 100)])
def test_cifar_batches_load_through_torchvision(tmp_path, monkeypatch, which, n_train, classes):
    write_cifar(tmp_path, which)
    trust_tiny_cifar(monkeypatch, tmp_path, which)
    raw = load_dataset(which, tmp_path)
    assert raw.x.dtype == torch.uint8 and tuple(raw.x.shape) == (n_train, 3, 32, 32)
    assert tuple(raw.x_test.shape) == (10, 3, 32, 32) and raw.num_classes == classes
    assert raw.classes[:2] == ("class0", "class1")
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[which]
    first = pickle.loads((tmp_path / cls.base_folder / cls.train_list[0][0]).read_bytes())
    expected = first["data"][0].reshape(3, 32, 32)  # CHW in the file, CHW in our tensor
    assert np.array_equal(raw.x[0].numpy(), expected)


def test_cifar_files_must_match_torchvisions_published_md5(tmp_path):
    write_cifar(tmp_path, "cifar10")  # well-formed, but not the official bytes
    with pytest.raises(DatasetError, match=r"data_batch_1 is corrupt or truncated: its MD5"):
        load_dataset("cifar10", tmp_path)


def test_truncated_cifar_batch_names_the_file(tmp_path, monkeypatch):
    write_cifar(tmp_path, "cifar10")
    trust_tiny_cifar(monkeypatch, tmp_path, "cifar10")
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match="data_batch_3 is corrupt or truncated"):
        load_dataset("cifar10", tmp_path)


def test_cifar_archive_is_unpacked_offline_and_a_damaged_one_is_named(tmp_path, monkeypatch):
    import shutil
    import tarfile

    from torchvision.datasets import CIFAR10

    write_cifar(tmp_path, "cifar10")
    trust_tiny_cifar(monkeypatch, tmp_path, "cifar10")
    archive = tmp_path / CIFAR10.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    shutil.rmtree(tmp_path / CIFAR10.base_folder)
    good = archive.read_bytes()
    archive.write_bytes(good[: len(good) // 2])  # an interrupted download
    with pytest.raises(DatasetError, match=r"cifar-10-python\.tar\.gz is corrupt or truncated"):
        load_dataset("cifar10", tmp_path)
    archive.write_bytes(good)
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    assert tuple(load_dataset("cifar10", tmp_path).x.shape) == (50, 3, 32, 32)
    assert (tmp_path / CIFAR10.base_folder / "data_batch_5").is_file()


def test_cifar_missing_offline(tmp_path):
    with pytest.raises(DatasetError, match=r"'cifar100' is not in .*cifar-100-python \(missing train, test, meta\)"):
        load_dataset("cifar100", tmp_path)


def test_cifar_subsets_use_the_papers_classes(tmp_path, monkeypatch):
    write_cifar(tmp_path, "cifar10")
    trust_tiny_cifar(monkeypatch, tmp_path, "cifar10")
    hard = load_dataset("cifar10:hard2:all", tmp_path)
    assert hard.classes == ("class5", "class3")  # dog (5) vs cat (3) in CIFAR-10's own order
    assert np.bincount(hard.y.numpy()).tolist() == [6, 6]  # 60 images, labels cycle over 10


# -- MedMNIST ----------------------------------------------------------------------------------------


def write_medmnist(root: Path, flag: str, size: int = 28, n: dict | None = None) -> dict:
    from medmnist import INFO

    n = n or {"train": 12, "val": 6, "test": 8}
    channels = INFO[flag]["n_channels"]
    classes = len(INFO[flag]["label"])
    arrays = {}
    for i, part in enumerate(("train", "val", "test")):
        x = tiny_images(n[part], channels, size, seed=20 + i).transpose(0, 2, 3, 1)  # NHWC
        arrays[f"{part}_images"] = x[..., 0] if channels == 1 else x
        arrays[f"{part}_labels"] = (np.arange(n[part]) % classes).reshape(-1, 1).astype(np.uint8)
    path = root / "medmnist" / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def expect_counts(monkeypatch, flag: str, n: dict | None = None) -> None:
    """Set medmnist.INFO's expected split sizes to the tiny file's, for this test only."""
    from medmnist import INFO

    monkeypatch.setitem(INFO[flag], "n_samples", n or {"train": 12, "val": 6, "test": 8})


@pytest.mark.parametrize("flag, channels, size", [("pathmnist", 3, 28), ("breastmnist", 1, 28), ("dermamnist", 3, 64)])
def test_medmnist_npz_loads_with_official_splits(tmp_path, monkeypatch, flag, channels, size):
    arrays = write_medmnist(tmp_path, flag, size)
    expect_counts(monkeypatch, flag)
    raw = load_dataset(flag, tmp_path, size=size)
    assert tuple(raw.x.shape) == (12, channels, size, size) and raw.x.dtype == torch.uint8
    assert tuple(raw.x_val.shape) == (6, channels, size, size) and tuple(raw.x_test.shape) == (8, channels, size, size)
    assert raw.y.dtype == torch.int64 and raw.y.shape == (12,)
    assert np.array_equal(raw.y_val.numpy(), arrays["val_labels"][:, 0])
    first = arrays["train_images"][0]
    assert np.array_equal(raw.x[0].numpy(), first[None] if channels == 1 else first.transpose(2, 0, 1))
    from medmnist import INFO

    assert raw.classes == tuple(INFO[flag]["label"][str(i)] for i in range(len(INFO[flag]["label"])))


def test_medmnist_official_split_uses_its_val_set_and_paper_pools(tmp_path, monkeypatch):
    write_medmnist(tmp_path, "bloodmnist", n={"train": 64, "val": 16, "test": 16})
    expect_counts(monkeypatch, "bloodmnist", {"train": 64, "val": 16, "test": 16})
    official = prepare_data(DataConfig(dataset="bloodmnist", normalize="unit"), data_dir=tmp_path)
    assert official.sizes() == {"train": 64, "val": 16, "test": 16}
    paper = prepare_data(DataConfig(dataset="bloodmnist", split="paper", normalize="unit"), data_dir=tmp_path)
    assert paper.sizes() == {"train": 54, "val": 18, "test": 24}  # 96 pooled: 0.25 test, 0.25 of the rest


def test_medmnist_size_selects_the_file_and_is_medmnist_only(tmp_path, monkeypatch):
    write_medmnist(tmp_path, "pathmnist", size=64)
    expect_counts(monkeypatch, "pathmnist")
    with pytest.raises(DatasetError, match=r"missing pathmnist\.npz"):
        load_dataset("pathmnist", tmp_path)  # size 28 by default
    assert load_dataset("pathmnist", tmp_path, size=64).input_size == (64, 64)
    with pytest.raises(ConfigError, match="no size 100"):
        load_dataset("pathmnist", tmp_path, size=100)
    with pytest.raises(ConfigError, match="medmnist_size 64 applies to MedMNIST datasets only"):
        prepare_data(DataConfig(dataset="digits", medmnist_size=64))


def test_truncated_medmnist_file_names_the_file(tmp_path, monkeypatch):
    write_medmnist(tmp_path, "octmnist")
    expect_counts(monkeypatch, "octmnist")
    path = tmp_path / "medmnist" / "octmnist.npz"
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DatasetError, match=r"octmnist\.npz is corrupt or truncated") as err:
        load_dataset("octmnist", tmp_path)
    assert "\n" not in str(err.value)


def test_medmnist_counts_must_match_the_package(tmp_path):
    write_medmnist(tmp_path, "pneumoniamnist")  # 12/6/8 images, the package expects thousands
    with pytest.raises(DatasetError, match=r"train holds 12 images .* pneumoniamnist has 4708"):
        load_dataset("pneumoniamnist", tmp_path)


def test_medmnist_pickled_arrays_are_refused(tmp_path, monkeypatch):
    expect_counts(monkeypatch, "retinamnist", {"train": 1, "val": 1, "test": 1})
    path = tmp_path / "medmnist" / "retinamnist.npz"
    path.parent.mkdir(parents=True)
    objects = {f"{p}_{k}": np.array([{"a": 1}], dtype=object) for p in ("train", "val", "test") for k in ("images", "labels")}
    np.savez(path, **objects)
    with pytest.raises(DatasetError, match="retinamnist.npz is corrupt"):
        load_dataset("retinamnist", tmp_path)


def test_chestmnist_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="chestmnist.*multi-label"):
        prepare_data(DataConfig(dataset="chestmnist"))


def test_corrupt_idx_labels_name_the_file(tmp_path):
    write_idx_dataset(tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[-1] = 200  # a label no MNIST image has
    labels.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte holds labels outside 0..9"):
        load_dataset("mnist", tmp_path)


def test_medmnist_listing_agrees_with_the_package():
    from medmnist import INFO

    from objectives.catalog import find_dataset
    from objectives.catalog._medmnist import MEDMNIST_FLAGS
    from objectives.data._medmnist import PARTS

    flags_2d = {flag for flag, info in INFO.items() if not flag.endswith("3d") and "url_224" in info}
    assert set(MEDMNIST_FLAGS) == flags_2d
    for flag, blurb in MEDMNIST_FLAGS.items():  # the hand-written listing matches medmnist.INFO
        info = INFO[flag]
        assert f"{len(info['label'])} " in blurb and ("RGB" if info["n_channels"] == 3 else "gray") in blurb
        entry = find_dataset(flag)  # and so do the catalogue's facts
        assert (entry.channels, entry.num_classes) == (info["n_channels"], len(info["label"]))
        assert (entry.train_size, entry.val_size, entry.test_size) == tuple(info["n_samples"][p] for p in PARTS)
