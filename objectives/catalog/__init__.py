"""The dataset catalogue: one torch-free entry per dataset (see :mod:`objectives.catalog._entry`).

Torch-free, so that the name check before torch (``objectives._known``), the shape check of a
queue-only launch (``objectives.data._shapes``) and the cost estimate (``studies._estimate``, through
``objectives.interface.find_dataset``) read it without importing torch, which ``objectives.data``
does on import. Adding a dataset is one entry module plus its line in ``_registry.BUILTIN_MODULES``.
"""

from objectives.catalog._entry import DatasetInfo
from objectives.catalog._registry import add_dataset, dataset_names, find_dataset
