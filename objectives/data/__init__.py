"""Datasets: a registry of loaders, splits, and device-resident prepared tensors."""

from objectives.data._registry import (
    DatasetInfo,
    RawDataset,
    default_data_dir,
    get_dataset,
    list_datasets,
    load_dataset,
    register_dataset,
    register_resolver,
)
from objectives.data import _embedded  # noqa: F401  (registers digits, mnist5k)
from objectives.data._prepare import PreparedData, prepare_data
from objectives.data._splits import SplitIndices, split_indices

__all__ = [
    "DatasetInfo",
    "PreparedData",
    "RawDataset",
    "SplitIndices",
    "default_data_dir",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "prepare_data",
    "register_dataset",
    "register_resolver",
    "split_indices",
]
