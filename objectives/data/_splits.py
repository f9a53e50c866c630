"""Train/validation/test splits, stratified, from scikit-learn.

- ``official``: the dataset's own test set; validation is its own validation set when it ships
  one (MedMNIST), else a stratified ``val_size`` carve from the training set. A dataset without an
  official test set first gets a stratified ``test_size`` carve-out.
- ``paper`` (seed 000, §4.4): pool every image (train, then val, then test), hold out
  ``test_size`` (0.25) with ``random_state`` 42 and ``stratify=y``, then ``val_size`` (0.25) of the
  rest for validation (Keras' ``validation_split``, made stratified as §4.3 says).

A seed 000 subset of ``n`` images per class ships its own test set drawn from outside the ``n``
(``objectives/data/_subsets.py``); both splits keep it and carve only validation from the ``n``.

Splits depend only on the data and ``split_seed``, never on the trial's seed, so every repeat and
every config of a study sees the same images (which is what makes paired comparisons valid). A
variance design that varies the split moves ``split_seed`` per repeat on purpose
(``objectives._seeding``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from objectives.data._config import DataConfig
from objectives.data._registry import RawDataset
from searchspace.errors import ConfigError


@dataclass(frozen=True, eq=False)
class SplitIndices:
    """Indices into ``pool`` (the images a split draws from) for each part."""

    pool: str  # the official parts pooled, in order: "train", "train+test", "train+val+test"
    train: np.ndarray
    val: np.ndarray | None  # None: use the dataset's official validation set
    test: np.ndarray | None  # None: use the dataset's official test set


def _carve(labels: np.ndarray, index: np.ndarray, size: float, seed: int, what: str, name: str):
    counts = np.bincount(labels[index])
    counts = counts[counts > 0]
    n_hold = int(np.ceil(size * len(index)))
    if len(counts) == 0:
        raise ConfigError(f"dataset {name!r} has no images to split")
    if counts.min() < 2 or n_hold < len(counts) or len(index) - n_hold < len(counts):
        raise ConfigError(
            f"dataset {name!r} is too small for a stratified {what} split of {size}: "
            f"{len(index)} images, {len(counts)} classes, smallest class {counts.min()}"
        )
    from sklearn.model_selection import train_test_split  # lazy: scikit-learn takes ~1.5 s to import

    keep, hold = train_test_split(
        index, test_size=size, random_state=seed, stratify=labels[index], shuffle=True
    )
    return np.sort(keep), np.sort(hold)


def split_indices(raw: RawDataset, cfg: DataConfig) -> SplitIndices:
    parts = raw.parts()
    if cfg.split == "paper" and len(parts) > 1 and not _own_test(raw):
        labels = np.concatenate([y.numpy() for _, y in parts.values()])
        rest, test = _carve(labels, np.arange(len(labels)), cfg.test_size, cfg.split_seed, "test", raw.name)
        train, val = _carve(labels, rest, cfg.val_size, cfg.split_seed, "validation", raw.name)
        return SplitIndices("+".join(parts), train, val, test)
    y = raw.y.numpy()
    index = np.arange(len(y))
    test = None
    if raw.x_test is None:  # no official test set (or the paper split of a single pool)
        index, test = _carve(y, index, cfg.test_size, cfg.split_seed, "test", raw.name)
    if raw.x_val is not None:  # the official validation set, as published
        return SplitIndices("train", index, None, test)
    train, val = _carve(y, index, cfg.val_size, cfg.split_seed, "validation", raw.name)
    return SplitIndices("train", train, val, test)


def _own_test(raw: RawDataset) -> bool:
    """A subset of n per class whose test images were drawn from outside the n."""
    return raw.x_test is not None and isinstance(raw.meta.get("subset", {}).get("test_per_class"), int)


def materialize(raw: RawDataset, split: SplitIndices) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """uint8 image and label tensors for train, val and test."""
    parts = raw.parts()
    pooled = split.pool.split("+")
    if len(pooled) > 1:
        x = torch.cat([parts[p][0] for p in pooled])
        y = torch.cat([parts[p][1] for p in pooled])
    else:
        x, y = raw.x, raw.y
    out = {"train": (x[split.train], y[split.train])}
    out["val"] = (x[split.val], y[split.val]) if split.val is not None else parts["val"]
    out["test"] = (x[split.test], y[split.test]) if split.test is not None else parts["test"]
    return out
