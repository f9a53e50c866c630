"""The dataset catalogue: one torch-free entry per dataset (see :mod:`objectives.catalog._entry`).

Public so that ``studies`` (the cost estimate) can read it without importing torch, which
``objectives.data`` does on import.

``objectives.data`` is the public face (``DatasetInfo``, ``register_dataset``, ``list_datasets``);
this package is what it, the name check before torch (``objectives._known``), the shape check of a
queue-only launch (``objectives.data._shapes``) and the cost estimate (``studies._estimate``) read.
"""

from objectives.catalog._entry import DatasetInfo, NamedFunction, dataset_entry
from objectives.catalog._registry import BUILTIN_MODULES, add_dataset, dataset_names, find_dataset

__all__ = [
    "BUILTIN_MODULES",
    "DatasetInfo",
    "NamedFunction",
    "add_dataset",
    "dataset_entry",
    "dataset_names",
    "find_dataset",
]
