"""The dataset registry: name -> loader returning decoded uint8 tensors.

A loader returns a :class:`RawDataset`: every image decoded once into a ``uint8`` tensor of shape
``(N, C, H, W)`` with ``int64`` labels, plus the official test set when the dataset has one. Loading
is cached per process, so the trials a worker runs reuse one decoded copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from searchspace._errors import ConfigError, RegistryError, valid_list


@dataclass(frozen=True, eq=False)
class RawDataset:
    """Decoded images and labels. ``x_test`` is None when the dataset has no official test set."""

    name: str
    x: torch.Tensor  # uint8 (N, C, H, W): the official training set, or everything
    y: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # source, citation, license, notes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x.shape[1])

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.x.shape[2]), int(self.x.shape[3])


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[[Path], RawDataset]
    description: str
    embedded: bool  # True when it ships with an installed package (works offline)


_DATASETS: dict[str, DatasetInfo] = {}
# Parametrised names such as ``mnist:hard2:128`` are resolved by these (prefix -> resolver).
_RESOLVERS: list[Callable[[str], DatasetInfo | None]] = []


def register_dataset(
    name: str, *, description: str = "", embedded: bool = False
) -> Callable[[Callable[[Path], RawDataset]], Callable[[Path], RawDataset]]:
    def decorator(loader: Callable[[Path], RawDataset]) -> Callable[[Path], RawDataset]:
        if name in _DATASETS:
            raise RegistryError(f"dataset {name!r} is already registered")
        _DATASETS[name] = DatasetInfo(name, loader, description, embedded)
        return loader

    return decorator


def register_resolver(resolver: Callable[[str], DatasetInfo | None]) -> None:
    """Add a resolver for parametrised names (it returns None for names it does not handle)."""
    _RESOLVERS.append(resolver)


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def get_dataset(name: str) -> DatasetInfo:
    if name in _DATASETS:
        return _DATASETS[name]
    for resolver in _RESOLVERS:
        info = resolver(name)
        if info is not None:
            return info
    raise ConfigError(f"unknown dataset {name!r}; valid: {valid_list(list_datasets())}")


def default_data_dir() -> Path:
    """``$LAYERLAB_DATA``, else the user cache (``$XDG_CACHE_HOME`` or ``~/.cache``)/layerlab."""
    env = os.environ.get("LAYERLAB_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "layerlab"


def load_dataset(name: str, data_dir: str | Path | None = None) -> RawDataset:
    """Decode dataset ``name`` (cached per process and data directory)."""
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return _load_cached(name, str(root))


@lru_cache(maxsize=8)
def _load_cached(name: str, root: str) -> RawDataset:
    info = get_dataset(name)
    raw = info.loader(Path(root))
    _check(raw)
    return raw


def _check(raw: RawDataset) -> None:
    for x, y in ((raw.x, raw.y), (raw.x_test, raw.y_test)):
        if x is None:
            continue
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"dataset {raw.name!r} loader must return uint8 (N,C,H,W), got {x.dtype} {tuple(x.shape)}")
        if y is None or y.shape != (x.shape[0],):
            raise ValueError(f"dataset {raw.name!r} labels do not match its images")
