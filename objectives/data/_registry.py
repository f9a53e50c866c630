"""The dataset registry: name -> loader returning decoded uint8 tensors.

Every dataset's entry (:class:`DatasetInfo`: loader, description, shape, sizes) lives in the
torch-free catalogue ``objectives.catalog``; this module adds loading, caching and the resolvers of
parametrised names (subsets) on top of it.

A loader takes a :class:`LoadRequest` (data directory, image size, whether it may download) and
returns a :class:`RawDataset`: every image decoded once into a ``uint8`` tensor of shape
``(N, C, H, W)`` with ``int64`` labels, plus the official validation and test sets when the dataset
has them. Loading is cached per process, so the trials a worker runs reuse one decoded copy.

Where the files live: ``--data-dir``, else ``$LAYERLAB_DATA``, else the user cache
(``$XDG_CACHE_HOME`` or ``~/.cache``)``/layerlab``. Downloads happen only when allowed
(``LAYERLAB_DOWNLOAD=1``, ``python cli.py data download NAME``, or ``download=True``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# DatasetInfo is the catalogue's entry (torch-free, read before torch by the name check and the
# cost estimate); re-exported here as the registry's public entry type.
from objectives.catalog import DatasetInfo, add_dataset, dataset_names, find_dataset
from objectives.data._raw import LoadRequest, RawDataset  # defined apart so loaders need not import the registry
from searchspace.errors import ConfigError, DatasetError, LayerlabError, did_you_mean, valid_list


# Parametrised names such as ``mnist:hard2:128`` are resolved by these.
_RESOLVERS: list[Callable[[str], DatasetInfo | None]] = []
_RESOLVER_HELP: list[str] = []  # how each resolver's names are spelled, for error messages


def register_dataset(
    name: str,
    *,
    description: str = "",
    embedded: bool = False,
    sizes: tuple[int, ...] = (),
    present: Callable[[Path], bool] | None = None,
    refused: str = "",
    **facts: Any,
) -> Callable[[Callable[[LoadRequest], RawDataset]], Callable[[LoadRequest], RawDataset]]:
    """Register the decorated loader as dataset ``name``. ``facts`` are the published facts of
    :class:`DatasetInfo` (``channels``, ``image_size``, ``num_classes``, ``train_size``, ...): with
    them a queue-only launch checks its shape without the files and the cost estimate prices it.
    The built-in datasets are entries in ``objectives.catalog`` instead (read before torch)."""

    def decorator(loader: Callable[[LoadRequest], RawDataset]) -> Callable[[LoadRequest], RawDataset]:
        add_dataset(DatasetInfo(name, loader, description, embedded, tuple(sizes), present, refused, **facts))
        return loader

    return decorator


def register_resolver(resolver: Callable[[str], DatasetInfo | None], *, spelling: str = "") -> None:
    """Add a resolver for parametrised names (it returns None for names it does not handle).

    ``spelling`` (e.g. ``<dataset>:hard2|easy2:<n>``) is shown when a dataset name is unknown.
    """
    _RESOLVERS.append(resolver)
    if spelling:
        _RESOLVER_HELP.append(spelling)


def list_datasets() -> list[str]:
    return dataset_names()


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name`` (a refused dataset too; see :func:`get_dataset`)."""
    info = find_dataset(name)
    if info is not None:
        return info
    for resolver in _RESOLVERS:
        info = resolver(name)
        if info is not None:
            return info
    also = "".join(f", or {spelling}" for spelling in _RESOLVER_HELP)
    base = name.partition(":")[0]
    hint = did_you_mean(base, list_datasets()) if find_dataset(base) is None else ""
    raise ConfigError(f"unknown dataset {name!r}{hint}; valid: {valid_list(list_datasets())}{also}")


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry of a usable dataset: an unknown or refused name is a ConfigError."""
    info = dataset_info(name)
    if info.refused:
        raise ConfigError(f"dataset {name!r} is refused: {info.refused}")
    return info


def default_data_dir() -> Path:
    """``$LAYERLAB_DATA``, else the user cache (``$XDG_CACHE_HOME`` or ``~/.cache``)/layerlab."""
    env = os.environ.get("LAYERLAB_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "layerlab"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def download_allowed() -> bool:
    """``LAYERLAB_DOWNLOAD`` set to 1/true/yes allows loaders to fetch missing files."""
    return os.environ.get("LAYERLAB_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on")


_CACHE: OrderedDict[tuple[str, str, int | None], RawDataset] = OrderedDict()
_CACHE_SIZE = 8  # decoded datasets kept per process (most recently used)
_LOCK = threading.Lock()


def load_dataset(
    name: str, data_dir: str | Path | None = None, *, size: int | None = None, download: bool | None = None
) -> RawDataset:
    """Decode dataset ``name`` (cached per process, data directory and size).

    Args:
        size: image size for datasets published at several sizes (MedMNIST: 28, 64, 128, 224).
        download: fetch missing files; None reads ``$LAYERLAB_DOWNLOAD`` (default: never).
    """
    info = get_dataset(name)
    if size is not None and size not in info.sizes:
        valid = valid_list(info.sizes) if info.sizes else "none (it is published at one size)"
        raise ConfigError(f"dataset {name!r} has no size {size}; valid sizes: {valid}")
    if size is None and info.sizes:
        size = info.sizes[0]  # the first listed size is the default
    root = resolve_data_dir(data_dir)
    key = (name, str(root), size)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    request = LoadRequest(root=root, size=size, download=download_allowed() if download is None else bool(download))
    raw = info.loader(request)
    _check(raw)
    with _LOCK:
        _CACHE[key] = raw
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return raw


def _check(raw: RawDataset) -> None:
    """A loader's contract: uint8 (N,C,H,W) images, int64 labels in range, matching lengths."""
    for part, (x, y) in raw.parts().items():
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f"dataset {raw.name!r} loader must return uint8 (N,C,H,W), got {x.dtype} {tuple(x.shape)}")
        if y is None or y.dtype != torch.int64 or y.shape != (x.shape[0],):
            raise ValueError(f"dataset {raw.name!r} {part} labels do not match its images")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= raw.num_classes):
            raise ValueError(f"dataset {raw.name!r} {part} labels fall outside 0..{raw.num_classes - 1}")
