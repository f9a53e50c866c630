"""One registry entry per dataset, without torch (the registry that holds them: ``_registry``).

An entry (:class:`DatasetInfo`) holds every fact layerlab states about a dataset: its description,
its loader, whether it ships offline, the image sizes it is published at, why it is refused, and
its published shape (channels, pixels per side, classes) and official part sizes. Everything else
reads the entry: the dataset registry and ``data list`` (``objectives.data``), the name check that
refuses a typo (``objectives._known``), the queue-only shape check (``objectives.data._shapes``)
and the cost estimate (``studies._estimate``: images per epoch, pixels per image).

Why the entries live here and not beside their loaders: ``objectives.data`` imports torch (its
package ``__init__`` and the loaders do, ~2 s of CPU), yet ``study launch --preset typo`` must refuse
a dataset name before torch is imported, and ``space grid`` prices a preset from the sizes. So this
package imports nothing but the standard library and ``searchspace.errors``, and an entry names its
loader as a ``"module:function"`` string that is imported on the first load.

Adding a built-in dataset: one module here that defines ``DATASETS`` (its entries) and, when it is
new code, its loader too (importing torch inside the function keeps the module torch-free), plus
its module's name in ``BUILTIN_MODULES`` (``objectives.catalog._registry``). The older families keep their loaders in
``objectives.data`` (``_embedded``, ``_torchvision``, ``_medmnist``, which import torch at module
level) and reference them by string. A Python user adds one with :func:`add_dataset` or
``objectives.data._registry.register_dataset``.

Normalisation is not an entry field: ``normalize: standard`` uses the mean and std of each run's own
training split (``objectives.data._prepare.channel_stats``), and ``caffe`` ImageNet's means, so no
dataset has constants to state.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# LoadRequest and RawDataset (objectives.data._raw) appear in annotations only: importing them
# would import torch.


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's registry entry. The first seven fields are what ``register_dataset`` always
    took; the published facts after them may be None when nobody stated them (a user's dataset):
    then the shape check needs its files and the cost estimate lists it as not priced."""

    name: str
    # A function of a LoadRequest, or "module:function": imported on the first load and called as
    # function(name, request), so that one function serves a family (the 12 MedMNIST flags).
    loader: Callable[[LoadRequest], RawDataset] | str
    description: str
    embedded: bool  # True when it ships with an installed package (works offline)
    sizes: tuple[int, ...] = ()  # image sizes a LoadRequest may ask for (empty: only the native one)
    # Are its files in this data dir (without decoding)? A function of the directory, or
    # "module:function" called as function(name, root).
    present: Callable[[Path], bool] | str | None = None
    refused: str = ""  # when set, the dataset is listed but cannot be used; this says why
    channels: int | None = None  # image channels as published (1 gray, 3 RGB)
    image_size: int | None = None  # pixels per side as published (the first of ``sizes`` when several)
    num_classes: int | None = None  # classes (labels, for a multi-label set)
    train_size: int | None = None  # images in the official training set (all of them when there is no split)
    val_size: int = 0  # images in the official validation set (0: none shipped)
    test_size: int = 0  # images in the official test set (0: none shipped; the split carves one)

    def __post_init__(self) -> None:
        # A "module:function" string becomes a callable that imports it on the first call, so that
        # ``info.loader(request)`` and ``info.present(root)`` read the same for every entry.
        for field_name in ("loader", "present"):
            value = getattr(self, field_name)
            if isinstance(value, str):
                object.__setattr__(self, field_name, NamedFunction(value, self.name))

    def class_images(self) -> int | None:
        """Images per class over all official parts pooled (exact for a balanced dataset, the
        mean otherwise); None when the sizes or the classes are not stated."""
        if self.train_size is None or not self.num_classes:
            return None
        return (self.train_size + self.val_size + self.test_size) // self.num_classes


@dataclass(frozen=True)
class NamedFunction:
    """The function ``reference`` ("module:function"), imported on the first call and called with
    the dataset's ``name`` first."""

    reference: str
    name: str

    def __call__(self, argument: Any) -> Any:
        module, _, function = self.reference.partition(":")
        return getattr(importlib.import_module(module), function)(self.name, argument)


def dataset_entry(*, description: str, **fields: Any) -> DatasetInfo:
    """A :class:`DatasetInfo` whose description may name its own facts, so that no number is typed
    twice: ``"{train_size:,} + {test_size:,} {image_size}x{image_size} images"``; ``{per_class}``
    is :meth:`DatasetInfo.class_images`."""
    info = DatasetInfo(description="", **fields)
    facts = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    return dataclasses.replace(info, description=description.format(**facts, per_class=info.class_images()))
