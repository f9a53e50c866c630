"""Datasets: a registry of loaders, splits, image operations and device-resident prepared tensors.

Private to ``objectives``: a researcher loads and describes datasets with ``objectives.load_dataset``
and ``describe_dataset``, and ``studies`` reaches them through ``objectives.interface``. Importing
the package registers the built-in loaders; the names below are what the rest of ``objectives``
uses.
"""

from objectives.data._prepare import DataShape, PreparedData, check_data, prepare_data

# The built-in loaders, imported here as before (their entries, in objectives.catalog, name them by
# "module:function" and would otherwise import them on the first load).
from objectives.data import _embedded  # noqa: F401  (digits, mnist5k)
from objectives.data import _medmnist  # noqa: F401  (the 12 MedMNIST 2D flags)
from objectives.data import _subsets  # noqa: F401  (resolves <dataset>:hard2|easy2:<n>)
from objectives.data import _torchvision  # noqa: F401  (mnist, fashion_mnist, cifar10/100)
