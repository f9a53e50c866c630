"""Datasets: a registry of loaders, splits, image operations and device-resident prepared tensors."""

from objectives.data._registry import (
    DatasetError,
    DatasetInfo,
    LoadRequest,
    RawDataset,
    dataset_info,
    default_data_dir,
    download_allowed,
    get_dataset,
    list_datasets,
    load_dataset,
    register_dataset,
    register_resolver,
    resolve_data_dir,
)
# The built-in loaders, imported here as before (their entries, in objectives.catalog, name them by
# "module:function" and would otherwise import them on the first load).
from objectives.data import _embedded  # noqa: F401  (digits, mnist5k)
from objectives.data import _medmnist  # noqa: F401  (the 12 MedMNIST 2D flags)
from objectives.data import _subsets  # noqa: F401  (resolves <dataset>:hard2|easy2:<n>)
from objectives.data import _torchvision  # noqa: F401  (mnist, fashion_mnist, cifar10/100)
from objectives.data._config import DataConfig
from objectives.data._describe import dataset_table, describe_dataset
from objectives.data._prepare import DataShape, PreparedData, check_data, prepare_data
from objectives.data._splits import SplitIndices, split_indices

__all__ = [
    "DataConfig",
    "DataShape",
    "DatasetError",
    "DatasetInfo",
    "LoadRequest",
    "PreparedData",
    "check_data",
    "RawDataset",
    "SplitIndices",
    "dataset_info",
    "dataset_table",
    "default_data_dir",
    "describe_dataset",
    "download_allowed",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "prepare_data",
    "register_dataset",
    "register_resolver",
    "resolve_data_dir",
    "split_indices",
]
