"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 through ``torchvision.datasets`` (their entries:
``objectives.catalog._torchvision``, which names ``load_idx``, ``load_cifar`` and the ``*_present``
checks below).

Files live where torchvision keeps them under the data directory:

- ``mnist``: ``<data>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or the same
  names with ``.gz``, which are decompressed on first use);
- ``fashion_mnist``: the same names under ``<data>/FashionMNIST/raw/``;
- ``cifar10``: ``<data>/cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``,
  ``batches.meta``), or the ``cifar-10-python.tar.gz`` archive in ``<data>``;
- ``cifar100``: ``<data>/cifar-100-python/`` (``train``, ``test``, ``meta``), or its archive.

torchvision's dataset objects decode everything into one array at construction; we take those
arrays as uint8 tensors once per process and never call ``__getitem__`` (which makes a PIL image
per sample). Integrity is checked before torchvision reads anything (see each loader).
"""

from __future__ import annotations

from pathlib import Path

import torch

from objectives.data._files import check_md5, fetch, gunzip, missing_error, read_idx_header
from objectives.data._raw import LoadRequest, RawDataset
from searchspace.errors import DatasetError

# -- MNIST and Fashion-MNIST (IDX files) ---------------------------------------------------------

IDX_FILES = {  # part -> (images, labels), the names torchvision expects under <Class>/raw/
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DIGIT_CLASSES = tuple(str(i) for i in range(10))


def _mnist_class(name: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[name]


# The folder torchvision names after its dataset class (``<data>/MNIST/raw``), written out so that
# asking whether the files are here does not import torchvision (see CIFAR_NAMES below).
IDX_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _idx_dir(name: str, root: Path) -> Path:
    return root / IDX_FOLDERS[name] / "raw"


def _idx_present(name: str, root: Path) -> bool:
    raw = _idx_dir(name, root)
    files = [f for pair in IDX_FILES.values() for f in pair]
    return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in files)


def _ensure_idx(name: str, request: LoadRequest) -> Path:
    """Make the four raw IDX files exist (decompressing .gz, or downloading when allowed)."""
    raw = _idx_dir(name, request.root)
    files = [f for pair in IDX_FILES.values() for f in pair]
    for f in files:
        if not (raw / f).is_file() and (raw / f"{f}.gz").is_file():
            gunzip(raw / f"{f}.gz", raw / f)
    missing = [f for f in files if not (raw / f).is_file()]
    if missing and request.download:
        cls = _mnist_class(name)
        fetch(name, raw, lambda: cls(str(request.root), train=True, download=True))
        missing = [f for f in files if not (raw / f).is_file()]
    if missing:
        raise missing_error(name, raw, missing, request.root)
    return raw


def _load_idx(name: str, request: LoadRequest, classes: tuple[str, ...]) -> RawDataset:
    raw = _ensure_idx(name, request)
    for images, labels in IDX_FILES.values():
        n_images, height, width = read_idx_header(raw / images, 3)
        (n_labels,) = read_idx_header(raw / labels, 1)
        if n_images != n_labels:
            raise DatasetError(f"{raw / images} holds {n_images} images but {raw / labels} holds {n_labels} labels")
        if (height, width) != (28, 28):
            raise DatasetError(f"{raw / images} holds {height}x{width} images; {name} images are 28x28")
    cls = _mnist_class(name)
    parts = {}
    for part, (_, labels) in IDX_FILES.items():
        ds = cls(str(request.root), train=part == "train", download=False)
        y = ds.targets.to(torch.int64)
        if len(y) and int(y.max()) >= len(classes):
            raise DatasetError(
                f"{raw / labels} holds labels outside 0..{len(classes) - 1} (corrupt); delete it and download again"
            )
        parts[part] = (ds.data.unsqueeze(1).contiguous(), y)
    return _from_parts(name, parts, classes, cls, raw)


def _from_parts(name: str, parts: dict, classes: tuple, cls: type, files: Path) -> RawDataset:
    """The decoded official train/test parts of a torchvision dataset as one RawDataset."""
    return RawDataset(
        name=name,
        x=parts["train"][0],
        y=parts["train"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        classes=classes,
        meta={"source": f"torchvision.datasets.{cls.__name__}", "files": str(files)},
    )


def load_idx(name: str, request: LoadRequest) -> RawDataset:
    """``mnist`` or ``fashion_mnist`` (the entry's loader)."""
    if name == "mnist":
        return _load_idx(name, request, DIGIT_CLASSES)
    from torchvision.datasets import FashionMNIST

    return _load_idx(name, request, tuple(FashionMNIST.classes))


# -- CIFAR-10 and CIFAR-100 (python batches) -----------------------------------------------------


def _cifar_class(name: str):
    from torchvision import datasets

    return {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]


def _cifar_files(cls) -> list[tuple[str, str]]:
    """(file name, md5) of every batch and the meta file, from torchvision's published lists."""
    return [(f, md5) for f, md5 in cls.train_list + cls.test_list] + [(cls.meta["filename"], cls.meta["md5"])]


# name -> (folder, archive, files): torchvision's published names (``base_folder``, ``filename``,
# ``train_list + test_list`` and ``meta``), written out so that asking whether the files are here
# (``study launch --queue-only``) does not import torchvision, whose import loads ``torch._dynamo``
# (~1.5 s of CPU). tests/objectives/test_data_torchvision_names.py checks them against torchvision's.
CIFAR_NAMES = {
    "cifar10": ("cifar-10-batches-py", "cifar-10-python.tar.gz",
                ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta")),
    "cifar100": ("cifar-100-python", "cifar-100-python.tar.gz", ("train", "test", "meta")),
}


def _cifar_present(name: str, root: Path) -> bool:
    folder, archive, files = CIFAR_NAMES[name]
    return all((root / folder / f).is_file() for f in files) or (root / archive).is_file()


def load_cifar(name: str, request: LoadRequest) -> RawDataset:
    """``cifar10`` or ``cifar100`` (the entry's loader)."""
    cls = _cifar_class(name)
    root = request.root
    folder = root / cls.base_folder
    files = _cifar_files(cls)
    missing = [f for f, _ in files if not (folder / f).is_file()]
    archive = root / cls.filename
    if missing:
        from torchvision.datasets.utils import check_integrity, download_and_extract_archive, extract_archive

        if check_integrity(str(archive), cls.tgz_md5):  # downloaded earlier but not unpacked
            extract_archive(str(archive), str(root))
        elif request.download:  # torchvision re-fetches an archive whose MD5 is wrong
            fetch(name, root,
                  lambda: download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5))
        elif archive.is_file():
            check_md5(archive, cls.tgz_md5, name)  # raises, naming the damaged archive
    missing = [f for f, _ in files if not (folder / f).is_file()]
    if missing:
        raise missing_error(name, folder, missing, root)
    # torchvision unpickles these batches: pickle is CIFAR's own distribution format, read from the
    # user's local data directory (not a shared storage). Every file's MD5 is compared with
    # torchvision's published checksum *before* anything is unpickled, so only the exact official
    # files are ever loaded, and a truncated or altered file is named here instead of failing
    # inside pickle (torchvision's own check only says "not found or corrupted").
    for f, md5 in files:
        check_md5(folder / f, md5, name)
    parts = {}
    for part in ("train", "test"):
        try:
            ds = cls(str(root), train=part == "train", download=False)
        except (KeyError, ValueError, EOFError, RuntimeError) as exc:  # defensive: bad keys or shapes
            raise DatasetError(
                f"{folder} holds malformed {name} batches ({exc}); delete it and download again"
            ) from None
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW, uint8
        y = torch.as_tensor(ds.targets, dtype=torch.int64)
        if x.dtype != torch.uint8 or len(y) != len(x):
            raise DatasetError(f"{folder}: the {part} batches hold {len(x)} images but {len(y)} labels")
        parts[part] = (x, y)
        classes = tuple(ds.classes)
    return _from_parts(name, parts, classes, cls, folder)
