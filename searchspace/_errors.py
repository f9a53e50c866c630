"""Exception types for mistakes a user can make.

Every user-facing mistake raises a subclass of :class:`LayerlabError` whose message is one line that
names the bad value and what is valid. The CLI prints that line and exits with code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


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


def valid_list(choices: Iterable[object], limit: int = 40) -> str:
    """Render valid choices for an error message: ``a, b, c`` (truncated past ``limit``)."""
    items = [str(c) for c in choices]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"
    return ", ".join(items)
