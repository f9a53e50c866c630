"""Objectives: datasets, preprocessing, the trainer and the Optuna objectives.

Data flows one way: ``studies`` -> ``objectives`` -> ``searchspace``. An objective turns a trial into
a config (:class:`RunConfig`), trains, and returns validation accuracy. The names in ``__all__``
are the public API; ``objectives.interface`` is what the layer above (``studies``) uses, and every
other module is private.
"""

# Importing the objectives imports torch (~2 s of CPU), which commands that only read a study
# (``study status``) never need, so every name below is imported on first use (PEP 562). A first
# use also registers the built-in config parts and objectives (``objectives.skip``,
# ``objectives._synthetic``), as an eager import did; the name check needs no torch at all.
import importlib as _importlib
import sys as _sys

from objectives._known import check_names
from objectives._known import serve_config_keys as _serve_config_keys
from searchspace.interface import lazy_attributes as _lazy_attributes

_LAZY = {
    "RunConfig": "objectives._config",
    **dict.fromkeys(("make_objective", "register_objective"), "objectives._objective"),
    "load_dataset": "objectives.data._registry",
    **dict.fromkeys(("dataset_table", "describe_dataset", "format_dataset_table"), "objectives.data._describe"),
}

# What an eager ``import objectives`` imported: the registries and what registers into them.
_BUILTINS = ("objectives._config", "objectives._objective", "objectives._check", "objectives._trial",
             "objectives.data", "objectives.train", "objectives.skip", "objectives._synthetic")


_SUBPACKAGES = ("catalog", "data", "interface", "skip", "train")
_TORCH_FREE = ("catalog", "interface")


def _load_builtins() -> None:
    """Import the modules that register the built-in config parts, objectives and datasets (once;
    later calls find them in ``_sys.modules``)."""
    for module in _BUILTINS:
        if module not in _sys.modules:
            _importlib.import_module(module)


_serve_name, _ = _lazy_attributes(__name__, _LAZY, prepare=lambda module: _load_builtins())


def __getattr__(name: str):
    if name not in _SUBPACKAGES:
        return _serve_name(name)
    # ``objectives.data`` after ``import objectives``, as an eager import bound it
    if name not in _TORCH_FREE:
        _load_builtins()
    return _importlib.import_module(f"objectives.{name}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBPACKAGES})


def _live_config_keys() -> list[str] | None:
    """Every config key the registries know once the objectives are imported (a config part you
    registered counts: reading it through this package registers the built-in ones); None before,
    when the built-in names are all there is."""
    if "objectives._config" not in _sys.modules:
        return None
    _load_builtins()
    return _sys.modules["objectives._config"].valid_keys()


_serve_config_keys(_live_config_keys)


__all__ = [
    # a run's config and the objectives that train it
    "RunConfig",
    "make_objective",
    "register_objective",
    "check_names",
    # datasets
    "load_dataset",
    "describe_dataset",
    "dataset_table",
    "format_dataset_table",
]
