"""The one ``key=value`` grammar of layerlab: ``--set``, ``--baseline``, ``--where``.

``"lr=0.01"``, ``"layers=full,lr=0.01"`` (several assignments in one string) and list values
``"widths=512,256,128"`` all parse the same way everywhere: the text is split only at commas that
start a new ``key=``, so a value may itself hold commas (``--baseline widths=1,2`` means
``widths = [1, 2]``, as ``--set widths=1,2`` always did). Values are YAML scalars (``0.01``,
``1e-4``, ``true``, ``null``), ``[a, b]`` lists, or comma-separated lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_NEXT_KEY = re.compile(r",(?=\s*[A-Za-z_][\w.\-]*\s*=)")  # a comma that begins another key=value


def parse_value(text: str) -> Any:
    """A value: YAML scalars (``0.01``, ``1e-4``, ``true``, ``null``), ``[a, b]`` lists, and
    comma-separated lists (``512,256,128,64``)."""
    import yaml

    from studies._yaml import safe_load

    text = text.strip()
    if "," in text and not text.startswith(("[", "{")):
        return [parse_value(part) for part in text.split(",")]
    try:
        return safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def split_assignments(text: str) -> list[str]:
    """``"a=1,b=x,y"`` -> ``["a=1", "b=x,y"]``: split only where a new ``key=`` begins."""
    return [part for part in _NEXT_KEY.split(str(text)) if part.strip()]


def parse_assignments(
    items: str | Iterable[str] | Mapping[str, Any] | None,
    *,
    what: str = "--set",
    error: Callable[[str], Exception] = ValueError,
) -> dict[str, Any]:
    """``key=value`` assignments (one string, several strings, or a mapping returned as is) ->
    ``{key: parsed value}``; ``error`` is the exception type raised with a one-line message."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    texts = [items] if isinstance(items, str) else list(items)
    out: dict[str, Any] = {}
    for text in texts:
        for item in split_assignments(text):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise error(f"malformed {what} {text!r}: expected key=value[,key=value], e.g. {what} lr=0.01")
            out[key.strip()] = parse_value(value)
    return out
