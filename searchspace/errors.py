"""Every error a layerlab user can catch, from one public place.

Each user-facing mistake raises a subclass of :class:`LayerlabError` whose message is one line that
names the bad value and what is valid; the CLI prints that line and exits with code 2. Catch them
by name::

    from searchspace.errors import ConfigError, LayerlabError, StudyError

The base classes live in ``searchspace._errors`` (searchspace is the bottom layer, so every package
can import them without a cycle). The error classes that ``objectives`` and ``studies`` define stay
beside the code that raises them; this module re-exports them lazily (PEP 562), so importing it
never makes ``searchspace`` import a package above it (no cycle, no Optuna or pandas at import).

``valid_list`` renders the valid choices for such a message (closest first when given the bad
value) and ``did_you_mean`` the likeliest intended one; extensions (a new family, dataset or
objective) use it to word their own errors the same way.

Not listed, on purpose: ``CheckpointDamaged`` (caught inside the trainer, which then starts fresh)
and the YAML loader's ``DuplicateKeyError`` / ``DocumentTooLargeError`` (turned into
:class:`PresetError` before they reach a user).
"""

from __future__ import annotations

from searchspace._errors import (
    ConfigError,
    FamilyError,
    LayerlabError,
    RegistryError,
    SpaceError,
    did_you_mean,
    valid_list,
)
from searchspace._lazy import lazy_attributes

# Error classes defined in the packages above searchspace: name -> defining module.
_LAZY = {
    "DatasetError": "objectives.data._registry",
    "Diverged": "objectives.train._trainer",
    "StudyError": "studies._spec",
    "PresetError": "studies._presets",
    "StorageError": "studies._storage",
    "RaceError": "studies._race",
    "OptionError": "studies._options",
    "DashboardError": "studies._dashboard",
    "FaultError": "studies._faults",
    "DiskFullError": "studies._faults",
    "StorageLostError": "studies._faults",
    "StorageLockedError": "studies._faults",
    "AnalysisError": "studies.analysis._collect",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "AnalysisError",
    "ConfigError",
    "DashboardError",
    "DatasetError",
    "DiskFullError",
    "Diverged",
    "FamilyError",
    "FaultError",
    "LayerlabError",
    "OptionError",
    "PresetError",
    "RaceError",
    "RegistryError",
    "SpaceError",
    "StorageError",
    "StorageLockedError",
    "StorageLostError",
    "StudyError",
    "did_you_mean",
    "valid_list",
]
