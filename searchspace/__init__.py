"""Declarative search spaces and the architecture families they build.

A space is plain data (:class:`Space` of dimensions); :func:`sample` turns an Optuna trial into a
config and :func:`grid` enumerates the exact grid; :func:`build_space` adds fixed defaults to a
space and :func:`apply_overrides` pins config keys in one (both Space -> Space). Families are pure
builders from config values to an ``nn.Module`` and never see a trial.
"""

from searchspace._dims import (
    Bool,
    Categorical,
    Dimension,
    Fixed,
    Float,
    Int,
    Ordering,
    Presence,
    Variants,
    When,
)
from searchspace._errors import (
    ConfigError,
    FamilyError,
    LayerlabError,
    RegistryError,
    SpaceError,
)
from searchspace._lazy import lazy_attributes
from searchspace._pin import apply_overrides, build_space
from searchspace._space import (
    GridPoint,
    Space,
    config_id,
    grid,
    grid_points,
    grid_size,
    params_to_config,
    random_configs,
    sample,
)
from searchspace._tokens import LAYER_TOKENS, format_layers, parse_layers

# The families build torch modules: importing them imports torch (~2 s of CPU), which commands
# that only read a study (``study status``, the error classes the CLI catches) never need. These
# names are imported on first use (PEP 562); ``import searchspace.families`` registers them all.
_LAZY = dict.fromkeys(
    ("INIT_SCHEMES", "build_model", "describe_model", "family_params", "get_family", "list_families",
     "register_family"),
    "searchspace.families",
)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "Bool",
    "Categorical",
    "ConfigError",
    "Dimension",
    "FamilyError",
    "Fixed",
    "Float",
    "GridPoint",
    "INIT_SCHEMES",
    "Int",
    "LAYER_TOKENS",
    "LayerlabError",
    "Ordering",
    "Presence",
    "RegistryError",
    "Space",
    "SpaceError",
    "Variants",
    "When",
    "apply_overrides",
    "build_model",
    "config_id",
    "build_space",
    "describe_model",
    "family_params",
    "format_layers",
    "get_family",
    "grid",
    "grid_points",
    "grid_size",
    "list_families",
    "params_to_config",
    "parse_layers",
    "random_configs",
    "register_family",
    "sample",
]
