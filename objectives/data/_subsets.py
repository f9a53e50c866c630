"""Seed 000's two-class sub-datasets (§4.3, Table 1): ``<dataset>:<pair>:<n>[:<seed>]``.

- ``<dataset>``: ``mnist``, ``fashion_mnist``, ``cifar10``, or ``mnist5k`` (the embedded MNIST
  sample, so tests and offline runs can use the same subsets);
- ``<pair>``: ``hard2`` or ``easy2``, the paper's class pairs (below);
- ``<n>``: images per class, ``128`` or ``600`` as in the paper (any positive count works), or
  ``all``;
- ``<seed>``: optional sampling seed of the ``n`` training + validation images (default 42, seed
  000's ``random_state``).

Table 1 says "sampleSize denotes the sum of training and validation samples", so ``n`` per class
is what training and validation see together: ``mnist:hard2:128`` trains and validates on 256
images. The test images come from outside the ``n``: per class, ``round(n / 3)`` further images
(at least 1), i.e. §4.4's ``testsize=0.25`` of train + validation + test, drawn first and with the
fixed seed 42 (:data:`TEST_SEED`), so every sample of the same ``<dataset>:<pair>:<n>`` is tested on
the same images. The subset therefore ships its own test set, and both splits (``official`` and
``paper``) use it and carve only the validation part (``val_size``, stratified, ``split_seed``) from
the ``n``.

``all`` keeps its meaning, every image of the two classes: per class, the dataset's official train
and test sets pooled. This is what Table 1's ``All`` column counts: MNIST 4 = 6,824 = 5,842 train +
982 test, 9 = 6,958, 1 = 7,877, 5 = 6,313, Fashion-MNIST 7,000 per class. (Table 1 prints 12,000
for the CIFAR-10 classes, which have 6,000 images each in train+test; ``all`` gives those 6,000.)
No image is left outside ``all``, so it is one pool that both splits carve the paper's way: test
0.25, then validation 0.25 of the rest, stratified, ``split_seed``; train + validation is then 75%
of ``All`` (the paper's Table 1 cannot hold for ``All`` and a disjoint test set at once).

Seed 000's Fig 2 premise is that each of the three 128-image runs "would involve different
samples". With ``subset_sampling: per_repeat`` (a data config value; the ``liu-subsets`` preset
sets it) repeat ``r`` of a trial draws its ``n`` with seed ``<seed> + r``
(:func:`resolve_subset_sampling`); the config, and so the config_id that groups the repeats, stays
the same. ``fixed`` (the default) gives every repeat the same images (paired runs). A seed suffix
on the name pins one sample by hand. Labels are 0 and 1 in the order listed.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import torch

from objectives.data._config import DataConfig
from objectives.data._registry import (
    DatasetInfo,
    LoadRequest,
    RawDataset,
    dataset_info,
    load_dataset,
    register_resolver,
)
from searchspace.errors import ConfigError, valid_list

# dataset -> pair -> the two class indices (label 0, label 1) in that dataset's own numbering.
PAIRS: dict[str, dict[str, tuple[int, int]]] = {
    "mnist": {"hard2": (4, 9), "easy2": (1, 5)},
    "mnist5k": {"hard2": (4, 9), "easy2": (1, 5)},
    "fashion_mnist": {"hard2": (0, 6), "easy2": (9, 8)},  # T-shirt/top vs Shirt; Ankle boot vs Bag
    "cifar10": {"hard2": (5, 3), "easy2": (1, 4)},  # dog vs cat; automobile vs deer
}
SUBSET_SIZES = ("128", "600", "all")  # the paper's; any positive count is accepted too
SAMPLE_SEED = 42  # default sampling seed (seed 000's random_state)
TEST_SEED = 42  # the test images of a subset: one fixed draw whatever the sampling seed
TEST_SHARE = 0.25  # §4.4 testsize: the test share of train + validation + test
GRAMMAR = "<dataset>:hard2|easy2:<n train+val per class: 128|600|all>[:<seed>]"
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


def test_count(n: int) -> int:
    """Test images per class for a subset of ``n`` train + validation images per class: §4.4's
    test share of 0.25 of the whole, i.e. n / 3, at least one."""
    return max(1, round(n * TEST_SHARE / (1 - TEST_SHARE)))


def _largest_n(available: int) -> int:
    """The largest n whose sample and test images fit in ``available`` images of a class."""
    n = available
    while n > 0 and n + test_count(n) > available:
        n -= 1
    return n


def sample_subset(raw: RawDataset, name: str, pair: str, n: int | None, seed: int) -> RawDataset:
    """The two classes of ``pair`` from ``raw``'s pooled parts: ``n`` train + validation images
    per class and :func:`test_count` test images from outside them (all images, no test part,
    when ``n`` is None)."""
    xs, ys = zip(*raw.parts().values())
    x, y = torch.cat(xs), torch.cat(ys).numpy()
    classes = PAIRS[raw.name][pair]
    test_rng, rng = np.random.default_rng(TEST_SEED), np.random.default_rng(seed)
    pool = "+".join(raw.parts()) + (" pooled" if len(raw.parts()) > 1 else "")
    picks, tests = [], []
    for label, cls in enumerate(classes):
        index = np.flatnonzero(y == cls)
        if n is None:
            picks.append((index, label))
            continue
        n_test = test_count(n)
        if n + n_test > len(index):
            raise ConfigError(
                f"subset {name!r} asks for {n} images per class (+{n_test} test images outside them) but "
                f"{raw.name} class {raw.classes[cls]!r} has only {len(index)} ({pool}); use n <= "
                f"{_largest_n(len(index))} or all"
            )
        test = np.sort(test_rng.choice(index, size=n_test, replace=False))
        rest = np.setdiff1d(index, test, assume_unique=True)
        picks.append((np.sort(rng.choice(rest, size=n, replace=False)), label))
        tests.append((test, label))

    def gather(chosen: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        order = np.concatenate([c for c, _ in chosen])
        labels = np.concatenate([np.full(len(c), label, dtype=np.int64) for c, label in chosen])
        return x[torch.from_numpy(order)].contiguous(), torch.from_numpy(labels)

    sub_x, sub_y = gather(picks)
    test_x, test_y = gather(tests) if tests else (None, None)
    return RawDataset(
        name=name,
        x=sub_x,
        y=sub_y,
        x_test=test_x,
        y_test=test_y,
        classes=tuple(raw.classes[c] for c in classes),
        meta={
            **raw.meta,
            "subset": {
                "of": raw.name, "pair": pair, "per_class": n or "all", "seed": seed, "pool": pool,
                "test_per_class": test_count(n) if n is not None else "carved",
            },
        },  # fmt: skip
    )


def resolve_subset_sampling(cfg: DataConfig, repeat: int) -> DataConfig:
    """The data config repeat ``repeat`` trains on: under ``subset_sampling: per_repeat`` a subset
    of ``n`` images per class is drawn with seed ``<seed> + repeat`` (its name gets the explicit
    seed); every other config is returned as it is."""
    if cfg.subset_sampling != "per_repeat":
        return cfg
    parsed = parse_subset(cfg.dataset)
    if parsed is None or parsed[2] is None:  # not a subset, or `all` (nothing left to resample)
        return cfg
    base, pair, n, seed = parsed
    return dataclasses.replace(cfg, dataset=f"{base}:{pair}:{n}:{seed + int(repeat)}")


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
        description=(
            f"seed 000 subset of {base}: {pair} classes {a} vs {b}, "
            + (f"{n} train+val per class (seed {seed}) + {test_count(n)} test per class from outside them"
               if n is not None else "all images per class (test carved 0.25)")
        ),
        embedded=parent.embedded,
        present=parent.present,
    )


register_resolver(_resolve, spelling=GRAMMAR)
