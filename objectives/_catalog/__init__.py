"""The dataset catalogue: one torch-free entry per dataset (see :mod:`objectives._catalog._entry`).

``objectives.data`` is the public face (``DatasetInfo``, ``register_dataset``, ``list_datasets``);
this package is what it, the name check before torch (``objectives._known``), the shape check of a
queue-only launch (``objectives.data._shapes``) and the cost estimate (``studies._estimate``) read.
"""

from objectives._catalog._entry import (
    BUILTIN_MODULES,
    DatasetInfo,
    add_dataset,
    dataset_entry,
    dataset_names,
    find_dataset,
)

__all__ = ["BUILTIN_MODULES", "DatasetInfo", "add_dataset", "dataset_entry", "dataset_names", "find_dataset"]
