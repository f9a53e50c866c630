"""The file and folder names layerlab writes out (to skip torchvision's import) are torchvision's."""

from __future__ import annotations

import pytest

from objectives.data._torchvision import CIFAR_NAMES, _cifar_files, _cifar_present


@pytest.mark.parametrize("name", sorted(CIFAR_NAMES))
def test_cifar_names_match_torchvision(name):
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    folder, archive, files = CIFAR_NAMES[name]
    assert (folder, archive) == (cls.base_folder, cls.filename)
    assert files == tuple(f for f, _ in _cifar_files(cls))


def test_cifar_present_needs_every_file_or_the_archive(tmp_path):
    folder, archive, files = CIFAR_NAMES["cifar10"]
    assert not _cifar_present("cifar10", tmp_path)
    (tmp_path / folder).mkdir()
    for f in files[:-1]:
        (tmp_path / folder / f).write_bytes(b"")
    assert not _cifar_present("cifar10", tmp_path)  # batches.meta missing
    (tmp_path / folder / files[-1]).write_bytes(b"")
    assert _cifar_present("cifar10", tmp_path)
    assert _cifar_present("cifar100", tmp_path) is False
    (tmp_path / CIFAR_NAMES["cifar100"][1]).write_bytes(b"")
    assert _cifar_present("cifar100", tmp_path)


def test_idx_folders_are_torchvision_class_names():
    from torchvision import datasets

    from objectives.data._torchvision import IDX_FOLDERS

    assert IDX_FOLDERS == {"mnist": datasets.MNIST.__name__, "fashion_mnist": datasets.FashionMNIST.__name__}
