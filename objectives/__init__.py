"""Objectives: datasets, preprocessing, the trainer and the Optuna objectives.

Data flows one way: ``studies`` -> ``objectives`` -> ``searchspace``. An objective turns a trial into
a config with :func:`trial_config` (:func:`searchspace.sample`, then :meth:`RunConfig.from_flat`),
trains, and returns validation accuracy.
"""

# Importing the objectives imports torch (~2 s of CPU), which commands that only read a study
# (``study status``) never need: they take plain names from ``objectives._names``. So every name
# below is imported on first use (PEP 562), and the first use imports them all, which also
# registers the built-in config parts and objectives (``objectives.skip``, ``objectives._synthetic``)
# exactly as an eager import did.
import sys

from objectives._known import check_names, serve_config_keys  # torch-free: the names a CLI checks first

_LAZY = {
    **dict.fromkeys(
        ("DataConfig", "RunConfig", "TrainConfig", "list_config_parts", "register_config_part", "valid_keys"),
        "objectives._config",
    ),
    "check_run": "objectives._check",
    "trial_config": "objectives._trial",
    **dict.fromkeys(
        (
            "ClassifyObjective", "list_objectives", "make_objective", "objective_config_parts",
            "objective_report_attrs", "objective_report_description", "objective_report_pairs", "provenance",
            "register_objective",
        ),
        "objectives._objective",
    ),
    **dict.fromkeys(("PreparedData", "list_datasets", "load_dataset", "prepare_data"), "objectives.data"),
    **dict.fromkeys(("Diverged", "EpochStats", "FitResult", "fit", "resolve_device"), "objectives.train"),
}


def _import_all() -> None:
    import importlib

    for module in dict.fromkeys(_LAZY.values()):
        importlib.import_module(module)
    importlib.import_module("objectives.skip")  # registers the skip_* config part and skip_layers
    importlib.import_module("objectives._synthetic")  # registers the synthetic objective
    for name, module in _LAZY.items():
        globals()[name] = getattr(importlib.import_module(module), name)


# The submodules an eager import bound as attributes (``objectives.data`` after ``import objectives``).
_SUBMODULES = ("_check", "_config", "_objective", "_synthetic", "_trial", "data", "skip", "train")


def __getattr__(name: str):
    if name not in _LAZY and name not in _SUBMODULES:
        raise AttributeError(f"module 'objectives' has no attribute {name!r}")
    _import_all()
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _live_config_keys() -> list[str] | None:
    """Every config key from the live registry once it is imported (a user's registered parts too;
    reading it through this package registers the built-in ones); None before, when the built-in
    names are all there is."""
    if "objectives._config" not in sys.modules:
        return None
    return sys.modules[__name__].valid_keys()


serve_config_keys(_live_config_keys)


__all__ = [
    "ClassifyObjective",
    "DataConfig",
    "Diverged",
    "EpochStats",
    "FitResult",
    "PreparedData",
    "RunConfig",
    "TrainConfig",
    "check_names",
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
