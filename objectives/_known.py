"""Names checked before torch is imported: a preset's, dataset's, family's or ``--set`` key's typo
is refused in about a second, with a "did you mean", instead of after the seconds of importing
torch that the registries need.

Datasets are read from their torch-free catalogue (``objectives.catalog``), which is the registry
itself. Families and config keys: each check reads the live registry when its module is already
imported (a Python user may have registered a family or config part; registering one imports the
registry), and otherwise the built-in names in ``objectives._names``: nothing can be registered
without importing the registry, so then the built-in names are all there is. Dataset names with a
``:`` (subsets such as ``mnist:hard2:128``) are checked on their base name here and in full by the
registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from objectives.catalog import dataset_names
from objectives._names import (
    BUILTIN_CONFIG_KEYS,
    BUILTIN_FAMILIES,
    FLAG_KEYS,
    KEY_ALIASES,
)
from searchspace.errors import ConfigError, FamilyError, did_you_mean, valid_list
from searchspace.interface import loaded_families


# The live config keys, served by the objectives package (whose first use registers the built-in
# parts such as skip_*): a provider set from above, so that this module imports nothing above it.
_LIVE_KEYS: list[Callable[[], list[str] | None]] = []


def serve_config_keys(provider: Callable[[], list[str] | None]) -> None:
    """Let ``provider`` answer :func:`known_config_keys` (None: the live registry is not loaded)."""
    _LIVE_KEYS[:] = [provider]


def known_config_keys() -> list[str]:
    """Every config key a ``--set`` or a preset may name."""
    live = _LIVE_KEYS[0]() if _LIVE_KEYS else None
    return list(BUILTIN_CONFIG_KEYS) if live is None else live


def known_datasets() -> list[str]:
    return dataset_names()


def known_families() -> list[str]:
    live = loaded_families()
    return list(BUILTIN_FAMILIES) if live is None else live


def unknown_key_message(key: str, valid: list[str], *, where: str = "") -> str:
    """``unknown config key 'learning_rate' (did you mean 'lr'?); valid keys: lr, ...``: the
    closest keys first, so a list cut for length never hides them."""
    flag = FLAG_KEYS.get(str(key).lower().replace("-", "_"))
    if flag is not None:
        return f"{key!r} is not a config key{where}: it is a study setting, given as {flag}"
    hint = did_you_mean(key, valid, KEY_ALIASES)
    return (f"unknown config key {key!r}{where}{hint}; valid keys: "
            f"{valid_list(sorted(valid), 20, near=key, aliases=KEY_ALIASES)}")


def check_dataset_name(name: Any) -> None:
    """A ConfigError naming the closest datasets when ``name`` is no dataset (its base name, before
    a ``:``, for a subset)."""
    base = str(name).partition(":")[0]
    valid = known_datasets()
    if base not in valid:
        raise ConfigError(f"unknown dataset {name!r}{did_you_mean(base, valid)}; valid: {valid_list(valid, near=base)}"
                          + (", or <dataset>:hard2|easy2:<n> (a 2-class subset)" if ":" not in str(name) else ""))


def check_family_name(name: Any) -> None:
    valid = known_families()
    if str(name) not in valid:
        raise FamilyError(f"unknown family {name!r}{did_you_mean(name, valid)}; valid families: "
                          f"{valid_list(valid, near=name)}")


def check_names(values: Mapping[str, Any] | None = None, *, dataset: Any = None, what: str = "--set") -> None:
    """Refuse, without importing torch, a config key no part knows (``values``: e.g. ``--set``
    pairs) and a dataset or family that does not exist (``dataset``, or ``values['dataset']`` /
    ``values['family']``). ``what`` names where the keys came from in the message."""
    values = dict(values or {})
    keys = known_config_keys()
    for key in values:
        if key not in keys:
            raise ConfigError(f"{what}: " + unknown_key_message(key, keys))
    for key, name in (("dataset", dataset), ("dataset", values.get("dataset")), ("family", values.get("family"))):
        if name is None:
            continue
        if not isinstance(name, str):  # e.g. --set family=seq,vgg: a pin is one value, not a choice
            raise ConfigError(f"{what} {key}={name!r}: {key} takes one name, not {type(name).__name__}")
        check_family_name(name) if key == "family" else check_dataset_name(name)
