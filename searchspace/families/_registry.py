"""The family registry: name -> pure builder from plain config values to an ``nn.Module``.

A builder is a function with keyword-only arguments. Three are common to every family and are
filled in from the dataset: ``in_channels``, ``num_classes`` and ``input_size`` (an int or an
``(H, W)`` pair). Everything else is the family's own config, each with a default. ``init`` is
handled here for every family (see :mod:`searchspace.families._init`). Families never import Optuna.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from searchspace._errors import FamilyError, RegistryError, valid_list
from searchspace.families._init import INIT_SCHEMES, apply_init

COMMON_KWARGS = ("in_channels", "num_classes", "input_size")


@dataclass(frozen=True)
class Family:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    paper: str

    def params(self) -> dict[str, Any]:
        """The family's own config keys and their defaults (common keys excluded)."""
        sig = inspect.signature(self.builder)
        return {
            n: (None if p.default is inspect.Parameter.empty else p.default)
            for n, p in sig.parameters.items()
            if n not in COMMON_KWARGS
        }


_FAMILIES: dict[str, Family] = {}


def register_family(
    name: str, *, description: str = "", paper: str = ""
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator recording ``builder`` under ``name``; a second registration of a name raises."""

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _FAMILIES:
            raise RegistryError(f"family {name!r} is already registered")
        sig = inspect.signature(builder)
        missing = [k for k in COMMON_KWARGS if k not in sig.parameters]
        if missing:
            raise RegistryError(f"family {name!r} builder lacks keyword(s) {valid_list(missing)}")
        doc = description or (inspect.getdoc(builder) or "").split("\n")[0]
        _FAMILIES[name] = Family(name, builder, doc, paper)
        return builder

    return decorator


def list_families() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str) -> Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise FamilyError(
            f"unknown family {name!r}; valid families: {valid_list(list_families())}"
        ) from None


def family_params(name: str) -> dict[str, Any]:
    """Config keys of family ``name`` (besides ``in_channels``/``num_classes``/``input_size``
    and ``init``) with their defaults."""
    return get_family(name).params()


def build_model(
    family: str,
    *,
    in_channels: int,
    num_classes: int,
    input_size: int | tuple[int, int],
    init: str = "default",
    **kwargs: Any,
) -> nn.Module:
    """Build family ``family`` from plain config values; unknown keys raise with the valid ones."""
    fam = get_family(family)
    valid = fam.params()
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise FamilyError(
            f"family {family!r} has no config key(s) {valid_list(unknown)}; valid: "
            f"{valid_list(sorted([*valid, 'init']))}"
        )
    if init not in INIT_SCHEMES:
        raise FamilyError(f"unknown init {init!r}; valid: {valid_list(INIT_SCHEMES)}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise FamilyError(f"in_channels must be a positive int, got {in_channels!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise FamilyError(f"num_classes must be a positive int, got {num_classes!r}")
    size = normalize_size(input_size)
    model = fam.builder(in_channels=in_channels, num_classes=num_classes, input_size=size, **kwargs)
    apply_init(model, init)
    return model


def normalize_size(input_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        size = (input_size, input_size)
    elif isinstance(input_size, (tuple, list)) and len(input_size) == 2:
        size = (int(input_size[0]), int(input_size[1]))
    else:
        raise FamilyError(f"input_size must be an int or (H, W), got {input_size!r}")
    if min(size) < 1:
        raise FamilyError(f"input_size must be positive, got {input_size!r}")
    return size
