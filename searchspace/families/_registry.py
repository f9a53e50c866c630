"""The family registry: name -> pure builder from plain config values to an ``nn.Module``.

A builder is a function with keyword-only arguments. Three are common to every family and are
filled in from the dataset: ``in_channels``, ``num_classes`` and ``input_size`` (an int or an
``(H, W)`` pair). Everything else is the family's own config, each with a default. ``init`` is
handled here for every family (see :mod:`searchspace.families._init`), and so are ``bn_momentum``
and ``bn_eps`` for every family with batch norm (:data:`NORM_PARAMS`). Families never import Optuna.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from searchspace._errors import FamilyError, RegistryError, did_you_mean, valid_list
from searchspace.families._init import INIT_SCHEMES, apply_init

COMMON_KWARGS = ("in_channels", "num_classes", "input_size")
# Batch-norm keys of every family registered with ``batch_norm=True``, in torch's convention: the
# running statistics move by ``momentum`` toward each batch's (Keras' momentum 0.99 is torch's
# 0.01), ``eps`` is added to the variance (Keras 1e-3). Set on every BatchNorm module after the
# build, as ``init`` is applied, so the family builders need not thread them through; the defaults
# are torch's, which every config had before these keys existed.
NORM_PARAMS = {"bn_momentum": 0.1, "bn_eps": 1e-5}


@dataclass(frozen=True)
class Family:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    paper: str
    batch_norm: bool = False  # the family can build BatchNorm layers: it takes NORM_PARAMS

    def params(self) -> dict[str, Any]:
        """The family's own config keys and their defaults (common keys excluded)."""
        sig = inspect.signature(self.builder)
        own = {
            n: (None if p.default is inspect.Parameter.empty else p.default)
            for n, p in sig.parameters.items()
            if n not in COMMON_KWARGS
        }
        return {**own, **NORM_PARAMS} if self.batch_norm else own


_FAMILIES: dict[str, Family] = {}


def register_family(
    name: str, *, description: str = "", paper: str = "", batch_norm: bool = False
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator recording ``builder`` under ``name``; a second registration of a name raises.
    ``batch_norm=True``: the family can build batch norm, so it takes the ``bn_*`` keys."""

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _FAMILIES:
            raise RegistryError(f"family {name!r} is already registered")
        sig = inspect.signature(builder)
        missing = [k for k in COMMON_KWARGS if k not in sig.parameters]
        if missing:
            raise RegistryError(f"family {name!r} builder lacks keyword(s) {valid_list(missing)}")
        clash = [k for k in NORM_PARAMS if k in sig.parameters]
        if clash:
            raise RegistryError(f"family {name!r} builder takes {valid_list(clash)}, which build_model applies itself")
        doc = description or (inspect.getdoc(builder) or "").split("\n")[0]
        _FAMILIES[name] = Family(name, builder, doc, paper, batch_norm)
        return builder

    return decorator


def list_families() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str) -> Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise FamilyError(
            f"unknown family {name!r}{did_you_mean(name, list_families())}; "
            f"valid families: {valid_list(list_families())}"
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
    norm = {k: kwargs.pop(k) for k in NORM_PARAMS if k in kwargs}
    _check_norm(family, **norm)
    model = fam.builder(in_channels=in_channels, num_classes=num_classes, input_size=size, **kwargs)
    apply_init(model, init)
    if any(norm.get(k, default) != default for k, default in NORM_PARAMS.items()):  # the defaults: as built
        apply_norm(model, momentum=norm.get("bn_momentum", NORM_PARAMS["bn_momentum"]),
                   eps=norm.get("bn_eps", NORM_PARAMS["bn_eps"]))
    return model


def _check_norm(family: str, bn_momentum: Any = 0.1, bn_eps: Any = 1e-5) -> None:
    number = (int, float)
    if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, number) or not 0.0 <= bn_momentum <= 1.0:
        raise FamilyError(f"{family} bn_momentum must be a number in [0, 1] (torch's convention: Keras' 0.99 is "
                          f"0.01), got {bn_momentum!r}")
    if isinstance(bn_eps, bool) or not isinstance(bn_eps, number) or not 0.0 < bn_eps < 1.0:
        raise FamilyError(f"{family} bn_eps must be a number in (0, 1) (torch 1e-5, Keras 1e-3), got {bn_eps!r}")


def apply_norm(model: nn.Module, *, momentum: float, eps: float) -> nn.Module:
    """Set ``momentum`` and ``eps`` on every batch-norm layer of ``model`` (1d, 2d, 3d and their
    subclasses, e.g. timm's BatchNormAct2d): what passing them to each constructor would do."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum, module.eps = float(momentum), float(eps)
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
