"""Seed 000's two-class sub-datasets (§4.3, Table 1): ``<dataset>:<pair>:<n>[:<seed>]``.

- ``<dataset>``: ``mnist``, ``fashion_mnist``, ``cifar10``, or ``mnist5k`` (the embedded MNIST
  sample, so tests and offline runs can use the same subsets);
- ``<pair>``: ``hard2`` or ``easy2``, the paper's class pairs (below);
- ``<n>``: images per class, ``128`` or ``600`` as in the paper (any positive count works), or
  ``all``;
- ``<seed>``: optional sampling seed (default 42, seed 000's ``random_state``). Seed 000 notes that
  its 128-image runs differed because "each run would involve different samples"; grid over
  ``mnist:hard2:128:1``, ``:2``, ... to reproduce that variation on purpose.

Per class, ``n`` images are drawn without replacement from the dataset's official train and test
sets pooled. This is what Table 1's ``All`` column counts: MNIST 4 = 6,824 = 5,842 train + 982 test,
9 = 6,958, 1 = 7,877, 5 = 6,313, Fashion-MNIST 7,000 per class. (Table 1 prints 12,000 for the
CIFAR-10 classes, which have 6,000 images each in train+test; ``all`` gives those 6,000.) The subset
is one pool without an official test set, so both splits carve it the paper's way (test 0.25, then
validation 0.25 of the rest, stratified, ``split_seed``). Labels are 0 and 1 in the order listed.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from objectives.data._registry import (
    DatasetInfo,
    LoadRequest,
    RawDataset,
    dataset_info,
    load_dataset,
    register_resolver,
)
from searchspace._errors import ConfigError, valid_list

# dataset -> pair -> the two class indices (label 0, label 1) in that dataset's own numbering.
PAIRS: dict[str, dict[str, tuple[int, int]]] = {
    "mnist": {"hard2": (4, 9), "easy2": (1, 5)},
    "mnist5k": {"hard2": (4, 9), "easy2": (1, 5)},
    "fashion_mnist": {"hard2": (0, 6), "easy2": (9, 8)},  # T-shirt/top vs Shirt; Ankle boot vs Bag
    "cifar10": {"hard2": (5, 3), "easy2": (1, 4)},  # dog vs cat; automobile vs deer
}
SUBSET_SIZES = ("128", "600", "all")  # the paper's; any positive count is accepted too
SAMPLE_SEED = 42  # default sampling seed (seed 000's random_state)
GRAMMAR = "<dataset>:hard2|easy2:<n per class: 128|600|all>[:<seed>]"
_NAME = re.compile(r"^(?P<base>[^:]+):(?P<pair>[^:]+):(?P<n>[^:]+)(?::(?P<seed>[^:]+))?$")


def parse_subset(name: str) -> tuple[str, str, int | None, int] | None:
    """``(base, pair, n or None for all, seed)``, None when ``name`` is not a subset name."""
    match = _NAME.match(name)
    if match is None:
        return None
    base, pair, n, seed = match["base"], match["pair"], match["n"], match["seed"]
    if base not in PAIRS:
        raise ConfigError(f"dataset {base!r} in {name!r} has no subsets; valid: {valid_list(PAIRS)} ({GRAMMAR})")
    if pair not in PAIRS[base]:
        raise ConfigError(f"unknown class pair {pair!r} in {name!r}; valid: {valid_list(PAIRS[base])}")
    if n != "all" and not (n.isdigit() and int(n) > 0):
        raise ConfigError(f"subset size {n!r} in {name!r} must be a positive count or all (paper: 128, 600, all)")
    if seed is not None and not seed.isdigit():
        raise ConfigError(f"subset seed {seed!r} in {name!r} must be a non-negative integer")
    return base, pair, None if n == "all" else int(n), SAMPLE_SEED if seed is None else int(seed)


def sample_subset(raw: RawDataset, name: str, pair: str, n: int | None, seed: int) -> RawDataset:
    """The two classes of ``pair`` from ``raw``'s pooled parts, ``n`` per class (all when None)."""
    xs, ys = zip(*raw.parts().values())
    x, y = torch.cat(xs), torch.cat(ys).numpy()
    classes = PAIRS[raw.name][pair]
    rng = np.random.default_rng(seed)
    pool = "+".join(raw.parts()) + (" pooled" if len(raw.parts()) > 1 else "")
    picks = []
    for label, cls in enumerate(classes):
        index = np.flatnonzero(y == cls)
        if n is not None and n > len(index):
            raise ConfigError(
                f"subset {name!r} asks for {n} images per class but {raw.name} class "
                f"{raw.classes[cls]!r} has only {len(index)} ({pool}); use n <= {len(index)} or all"
            )
        chosen = index if n is None else np.sort(rng.choice(index, size=n, replace=False))
        picks.append((chosen, label))
    order = np.concatenate([chosen for chosen, _ in picks])
    labels = np.concatenate([np.full(len(chosen), label, dtype=np.int64) for chosen, label in picks])
    return RawDataset(
        name=name,
        x=x[torch.from_numpy(order)].contiguous(),
        y=torch.from_numpy(labels),
        classes=tuple(raw.classes[c] for c in classes),
        meta={
            **raw.meta,
            "subset": {"of": raw.name, "pair": pair, "per_class": n or "all", "seed": seed, "pool": pool},
        },  # fmt: skip
    )


def _resolve(name: str) -> DatasetInfo | None:
    parsed = parse_subset(name)
    if parsed is None:
        return None
    base, pair, n, seed = parsed
    parent = dataset_info(base)
    a, b = PAIRS[base][pair]

    def load(request: LoadRequest) -> RawDataset:
        raw = load_dataset(base, request.root, download=request.download)
        return sample_subset(raw, name, pair, n, seed)

    return DatasetInfo(
        name=name,
        loader=load,
        description=f"seed 000 subset of {base}: {pair} classes {a} vs {b}, {n or 'all'} per class, seed {seed}",
        embedded=parent.embedded,
        present=parent.present,
    )


register_resolver(_resolve, spelling=GRAMMAR)
