"""Train/validation/test splits, stratified, from scikit-learn.

- ``official``: the dataset's own test set; validation is a stratified ``val_size`` carve from the
  training set. A dataset without an official test set first gets a stratified ``test_size``
  carve-out.
- ``paper`` (seed 000, §4.4): pool every image, hold out ``test_size`` (0.25) with
  ``random_state`` 42 and ``stratify=y``, then ``val_size`` (0.25) of the rest for validation.

Splits depend only on the data and ``split_seed``, never on the trial's seed, so every repeat and
every config of a study sees the same images (which is what makes paired comparisons valid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from objectives.data._config import DataConfig
from objectives.data._registry import RawDataset
from searchspace._errors import ConfigError


@dataclass(frozen=True, eq=False)
class SplitIndices:
    """Indices into ``pool`` (the images a split draws from) for each part."""

    pool: str  # "train+test" when the official test set was pooled (paper split), else "train"
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None  # None: use the dataset's official test set


def _carve(labels: np.ndarray, index: np.ndarray, size: float, seed: int, what: str, name: str):
    counts = np.bincount(labels[index])
    counts = counts[counts > 0]
    n_hold = int(np.ceil(size * len(index)))
    if counts.min() < 2 or n_hold < len(counts) or len(index) - n_hold < len(counts):
        raise ConfigError(
            f"dataset {name!r} is too small for a stratified {what} split of {size}: "
            f"{len(index)} images, {len(counts)} classes, smallest class {counts.min()}"
        )
    keep, hold = train_test_split(
        index, test_size=size, random_state=seed, stratify=labels[index], shuffle=True
    )
    return np.sort(keep), np.sort(hold)


def split_indices(raw: RawDataset, cfg: DataConfig) -> SplitIndices:
    y = raw.y.numpy()
    if cfg.split == "paper" and raw.x_test is not None:
        labels = np.concatenate([y, raw.y_test.numpy()])
        rest, test = _carve(labels, np.arange(len(labels)), cfg.test_size, cfg.split_seed, "test", raw.name)
        train, val = _carve(labels, rest, cfg.val_size, cfg.split_seed, "validation", raw.name)
        return SplitIndices("train+test", train, val, test)
    index = np.arange(len(y))
    test = None
    if raw.x_test is None:  # no official test set (or paper split of a single pool)
        index, test = _carve(y, index, cfg.test_size, cfg.split_seed, "test", raw.name)
    train, val = _carve(y, index, cfg.val_size, cfg.split_seed, "validation", raw.name)
    return SplitIndices("train", train, val, test)


def materialize(raw: RawDataset, parts: SplitIndices) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """uint8 image and label tensors for train, val and test."""
    if parts.pool == "train+test":
        x = torch.cat([raw.x, raw.x_test])
        y = torch.cat([raw.y, raw.y_test])
    else:
        x, y = raw.x, raw.y
    out = {
        "train": (x[parts.train], y[parts.train]),
        "val": (x[parts.val], y[parts.val]),
    }
    if parts.test is not None:
        out["test"] = (x[parts.test], y[parts.test])
    else:
        out["test"] = (raw.x_test, raw.y_test)
    return out
