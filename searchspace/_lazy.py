"""Names a package imports on first use (PEP 562), so importing it stays cheap: ``study status``
must not import torch, and ``searchspace.errors`` names error classes defined in the packages
above it. One implementation for ``searchspace``, ``searchspace.errors`` and ``studies``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_attributes(module_name: str, table: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module ``module_name``: each name in ``table`` (name ->
    the module defining it) is imported on first use and kept in the module's namespace."""

    def __getattr__(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        module = sys.modules[module_name]
        return sorted(set(vars(module)) | set(table))

    return __getattr__, __dir__
