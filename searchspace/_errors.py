"""Exception types for mistakes a user can make.

Every user-facing mistake raises a subclass of :class:`LayerlabError` whose message is one line that
names the bad value and what is valid. The CLI prints that line and exits with code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


class LayerlabError(Exception):
    """Base class of every mistake layerlab reports to the user as one line."""


class SpaceError(LayerlabError, ValueError):
    """A search space is malformed (empty choices, duplicate tokens, bad bounds, ...)."""


class ConfigError(LayerlabError, ValueError):
    """A configuration key or value is unknown or impossible."""


class FamilyError(LayerlabError, ValueError):
    """An architecture family name is unknown, or cannot be built with the given arguments."""


class RegistryError(LayerlabError, KeyError):
    """A registry lookup missed, or a name was registered twice."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


# The error types of the packages above (objectives, studies) live here too, at the bottom layer:
# every package raises and catches them without importing up a layer, and searchspace.errors
# lists every type a user can meet in one place.


class DatasetError(LayerlabError, RuntimeError):
    """A dataset's files are missing, truncated or corrupt, or a download failed."""


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, value: float) -> None:
        super().__init__(f"non-finite training loss ({value}) at epoch {epoch}")
        self.epoch = epoch


class StudyError(LayerlabError):
    """A study cannot be launched, joined or read as asked."""


class PresetError(LayerlabError):
    """A preset is unknown or malformed."""


class StorageError(LayerlabError):
    """A storage URL is malformed, uses an unknown scheme, or cannot be reached."""


class RaceError(StudyError):
    """A race cannot be run as asked (bad settings, a sampled study, no baseline...)."""


class OptionError(ConfigError):
    """An option's value is out of its valid range (or not a number of the right kind)."""


class DashboardError(LayerlabError):
    """The dashboard cannot start as asked (e.g. the port is taken)."""


class FaultError(LayerlabError):
    """The machine, not the study, stopped the work: a full disk, a lost or locked storage."""

    exit_code = 4  # the CLI's exit status for a fault (studies.engine._faults.EXIT_FAULT)


class DiskFullError(FaultError):
    """No space left on a device the study writes to."""


class StorageLostError(FaultError):
    """The storage was deleted or replaced while the study ran."""


class StorageLockedError(FaultError):
    """The storage stayed locked, unreachable or read-only past the outage limit."""


class AnalysisError(LayerlabError):
    """A study cannot be analysed as asked (no completed trials, unknown baseline, ...)."""


def close_matches(name: object, choices: Iterable[object], aliases: Mapping[str, str] | None = None) -> list[str]:
    """The choices a mistyped ``name`` most likely meant, best first (at most 3): an alias, also
    misspelt (``learning_rate``, ``lerning_rate`` -> ``lr``), then difflib's close matches (a
    typo: ``dropuot`` -> ``dropout``), then choices that contain the name or that it contains
    (``decay`` -> ``weight_decay``)."""
    items = [str(c) for c in choices]
    text = str(name).strip().lower().replace("-", "_")
    aliases = dict(aliases or {})
    out = [aliases[a] for a in difflib.get_close_matches(text, list(aliases), n=1, cutoff=0.8) if aliases[a] in items]
    out += difflib.get_close_matches(text, items, n=3, cutoff=0.7)
    if len(text) >= 3:
        out += [c for c in items if text in c.lower() or (len(c) >= 3 and c.lower() in text)]
    return list(dict.fromkeys(out))[:3]


def did_you_mean(name: object, choices: Iterable[object], aliases: Mapping[str, str] | None = None) -> str:
    """`` (did you mean 'lr'?)`` for an error message, or ``""`` when nothing is close."""
    matches = close_matches(name, choices, aliases)
    if not matches:
        return ""
    return f" (did you mean {' or '.join(repr(m) for m in matches)}?)"


def valid_list(choices: Iterable[object], limit: int = 40, *, near: object = None,
               aliases: Mapping[str, str] | None = None) -> str:
    """Render valid choices for an error message: ``a, b, c`` (truncated past ``limit``). With
    ``near`` (the bad value) the choices closest to it come first, so a cut list never hides them."""
    items = [str(c) for c in choices]
    if near is not None:
        first = close_matches(near, items, aliases)
        items = first + [c for c in items if c not in first]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"
    return ", ".join(items)
