"""Objectives: datasets, preprocessing, the trainer and the Optuna objectives.

Data flows one way: ``studies`` -> ``objectives`` -> ``searchspace``. An objective turns a trial into
a config with :func:`trial_config` (:func:`searchspace.sample`, then :meth:`RunConfig.from_flat`),
trains, and returns validation accuracy.
"""

from objectives._config import (
    DataConfig,
    RunConfig,
    TrainConfig,
    list_config_parts,
    register_config_part,
    valid_keys,
)
from objectives._check import check_run
from objectives._trial import trial_config
from objectives._objective import (
    ClassifyObjective,
    list_objectives,
    make_objective,
    objective_config_parts,
    objective_report_attrs,
    objective_report_description,
    objective_report_pairs,
    provenance,
    register_objective,
)
from objectives.data import PreparedData, list_datasets, load_dataset, prepare_data
from objectives.train import Diverged, EpochStats, FitResult, fit, resolve_device
from objectives import skip  # noqa: F401, E402  (registers the skip_* config part and skip_layers)
from objectives import _synthetic  # noqa: F401, E402  (registers the synthetic objective)

__all__ = [
    "ClassifyObjective",
    "DataConfig",
    "Diverged",
    "EpochStats",
    "FitResult",
    "PreparedData",
    "RunConfig",
    "TrainConfig",
    "check_run",
    "fit",
    "list_config_parts",
    "list_datasets",
    "list_objectives",
    "load_dataset",
    "make_objective",
    "objective_config_parts",
    "objective_report_attrs",
    "objective_report_description",
    "objective_report_pairs",
    "prepare_data",
    "provenance",
    "register_config_part",
    "register_objective",
    "resolve_device",
    "trial_config",
    "valid_keys",
]
