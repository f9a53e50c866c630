"""Declarative search spaces, the architecture families they build, and every error a user catches.

A space is plain data (:class:`Space` of dimensions: :class:`Categorical`, :class:`Int`,
:class:`Float`, :class:`Ordering` of layers, :class:`Presence` of layers, :class:`Variants` of
whole layer lists); :func:`grid_points` enumerates its exact grid; :func:`build_space` adds fixed
defaults to a space and :func:`apply_overrides` pins config keys in one (both Space -> Space).
Families are pure builders from config values to an ``nn.Module`` and never see a trial.

The names in ``__all__`` are the public API. ``searchspace.interface`` is what the layers above
use beyond it and ``searchspace.errors`` holds every error class (the ones a user catches are
here too); every other module is private.
"""

from searchspace._dims import Categorical, Float, Int, Ordering, Presence, Variants
from searchspace._errors import (
    AnalysisError,
    ConfigError,
    DatasetError,
    FaultError,
    LayerlabError,
    SpaceError,
    StorageError,
    StudyError,
)
from searchspace._lazy import lazy_attributes as _lazy_attributes
from searchspace._pin import apply_overrides, build_space
from searchspace._space import Space, grid_points

# The families build torch modules: importing them imports torch (~2 s of CPU), which commands
# that only read a study (``study status``, the error classes the CLI catches) never need. These
# names are imported on first use (PEP 562); ``import searchspace.families`` registers them all.
__getattr__, __dir__ = _lazy_attributes(__name__, dict.fromkeys(
    ("build_model", "describe_model", "register_family"), "searchspace.families"))


__all__ = [
    # spaces
    "Space",
    "Categorical",
    "Int",
    "Float",
    "Ordering",
    "Presence",
    "Variants",
    "build_space",
    "apply_overrides",
    "grid_points",
    # families
    "build_model",
    "describe_model",
    "register_family",
    # errors: LayerlabError is the base of every one-line mistake (more kinds in searchspace.errors)
    "LayerlabError",
    "ConfigError",
    "SpaceError",
    "DatasetError",
    "StudyError",
    "StorageError",
    "FaultError",
    "AnalysisError",
]
