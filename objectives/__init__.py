"""Objectives: datasets, preprocessing, the trainer and the Optuna objectives.

Data flows one way: ``studies`` -> ``objectives`` -> ``searchspace``. An objective turns a trial into
a config with :func:`searchspace.sample`, trains, and returns validation accuracy.
"""

from objectives._config import DataConfig, RunConfig, TrainConfig, valid_keys
from objectives._objective import (
    ClassifyObjective,
    list_objectives,
    make_objective,
    provenance,
    register_objective,
)
from objectives.data import PreparedData, list_datasets, load_dataset, prepare_data
from objectives.train import Diverged, EpochStats, FitResult, fit, resolve_device

__all__ = [
    "ClassifyObjective",
    "DataConfig",
    "Diverged",
    "EpochStats",
    "FitResult",
    "PreparedData",
    "RunConfig",
    "TrainConfig",
    "fit",
    "list_datasets",
    "list_objectives",
    "load_dataset",
    "make_objective",
    "prepare_data",
    "provenance",
    "register_objective",
    "resolve_device",
    "valid_keys",
]
