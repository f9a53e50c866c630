"""Every error class layerlab raises, in one place.

Each user-facing mistake raises a subclass of :class:`LayerlabError` whose message is one line that
names the bad value and what is valid; the CLI prints that line and exits with code 2. The kinds a
user catches (``LayerlabError``, ``ConfigError``, ``StudyError``, ``FaultError``, ...) are in
``searchspace.__all__``; this module also holds the finer kinds (``RaceError``, ``DiskFullError``,
...) that the packages above raise::

    from searchspace import LayerlabError, StudyError

Every class is defined in ``searchspace._errors``: searchspace is the bottom layer, so
``objectives`` and ``studies`` raise and catch them without importing up a layer, and importing
this module never imports a package above it (no cycle, no torch, Optuna or pandas).

``valid_list`` renders the valid choices for such a message (closest first when given the bad
value) and ``did_you_mean`` the likeliest intended one; extensions (a new family, dataset or
objective) use it to word their own errors the same way.

Not listed, on purpose: ``CheckpointDamaged`` (caught inside the trainer, which then starts fresh)
and the YAML loader's ``DuplicateKeyError`` / ``DocumentTooLargeError`` (turned into
:class:`PresetError` before they reach a user).
"""

from __future__ import annotations

from searchspace._errors import (
    AnalysisError,
    ConfigError,
    DashboardError,
    DatasetError,
    DiskFullError,
    Diverged,
    FamilyError,
    FaultError,
    LayerlabError,
    OptionError,
    PresetError,
    RaceError,
    RegistryError,
    SpaceError,
    StorageError,
    StorageLockedError,
    StorageLostError,
    StudyError,
    did_you_mean,
    valid_list,
)

