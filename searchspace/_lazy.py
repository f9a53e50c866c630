"""Names a package imports on first use (PEP 562), so importing it stays cheap: ``study status``
must not import torch. One implementation for ``searchspace``, ``searchspace.interface``,
``objectives``, ``objectives.interface`` and ``studies``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_attributes(
    module_name: str, table: dict[str, str], *, prepare: Callable[[str], None] | None = None
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module ``module_name``: each name in ``table`` (name ->
    the module defining it) is imported on first use and kept in the module's namespace.
    ``prepare(module)`` runs first, before that module is imported (the objectives register their
    built-in parts there)."""

    def __getattr__(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        if prepare is not None:
            prepare(table[name])
        value = getattr(importlib.import_module(table[name]), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        module = sys.modules[module_name]
        return sorted(set(vars(module)) | set(table))

    return __getattr__, __dir__
