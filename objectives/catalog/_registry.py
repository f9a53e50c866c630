"""The dataset registry: the entries of :data:`BUILTIN_MODULES`, registered on the first look-up,
and those a user adds. Torch-free, like the entries (see ``objectives.catalog._entry``)."""

from __future__ import annotations

import importlib
import threading

from objectives.catalog._entry import DatasetInfo
from searchspace.errors import RegistryError

# The modules whose ``DATASETS`` are the built-in entries. The order is the registration order;
# every listing sorts by name. A new built-in dataset family is one more line here.
BUILTIN_MODULES = (
    "objectives.catalog._embedded",  # digits, mnist5k
    "objectives.catalog._torchvision",  # mnist, fashion_mnist, cifar10, cifar100
    "objectives.catalog._medmnist",  # the 12 MedMNIST 2D flags
)

_DATASETS: dict[str, DatasetInfo] = {}
_LOCK = threading.RLock()
_BUILTIN_DONE = False


def _register_builtins() -> None:
    global _BUILTIN_DONE
    with _LOCK:
        if _BUILTIN_DONE:
            return
        for module in BUILTIN_MODULES:
            for info in importlib.import_module(module).DATASETS:
                _add(info)
        _BUILTIN_DONE = True


def _add(info: DatasetInfo) -> None:
    if info.name in _DATASETS:
        raise RegistryError(f"dataset {info.name!r} is already registered")
    _DATASETS[info.name] = info


def add_dataset(info: DatasetInfo) -> DatasetInfo:
    """Register ``info``; a name already registered (a built-in one too) is a RegistryError."""
    with _LOCK:
        _register_builtins()
        _add(info)
    return info


def dataset_names() -> list[str]:
    """Every registered dataset name, sorted (parametrised names such as subsets are not listed)."""
    _register_builtins()
    return sorted(_DATASETS)


def find_dataset(name: str) -> DatasetInfo | None:
    """The entry registered as ``name``, or None."""
    _register_builtins()
    return _DATASETS.get(name)
