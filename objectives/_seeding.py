"""Which seed each source of randomness gets in each repeat of a config: the seeding scheme.

A run has five sources of randomness: ``init`` (initial weights), ``order`` (batch order),
``augment`` (augmentation parameters), ``dropout`` (dropout masks) and ``split`` (which images:
the train/validation carve, the test carve where the dataset has no official test set, and,
under ``subset_sampling: per_repeat``, the subset). :class:`RunSeeds` holds the first four, which
the trainer draws from. Plain data, no torch: ``study status`` reads a study's design from here.

**Plain repeats** (no design, every study before this module): repeat ``r`` of every config trains
with seed ``base + r`` for init, order and augmentation, dropout continuing the init stream, and
the config's own ``split_seed`` (fixed across repeats, so every run sees the same images and runs
are paired). This is bit for bit what the trainer always did.

**A variance design** (``SeedDesign``, ``study launch --vary``): after Bouthillier et al. (2021),
*Accounting for Variance in Machine Learning Benchmarks*, each varied source gets its own block of
``per_source`` repeats in which that source alone changes and every other is held at a reference
value. Repeat ``r`` is block ``r // per_source``, index ``i = r % per_source``:

- held sources take the reference: seed ``base`` for init, order, augment and dropout (dropout
  then has its own stream, so it does not move with init), the config's ``split_seed``;
- the varied source takes ``base + 1 + i`` (split: ``split_seed + 1 + i``), so no run of a block
  repeats the reference run of another;
- the block ``joint`` varies every source together (a reference for the sum of the sources).

Repeat ``r`` has the same seeds in every config, so runs stay paired across configs by repeat.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from searchspace.errors import ConfigError, valid_list

TRAIN_SOURCES = ("init", "order", "augment", "dropout")  # what the trainer seeds (RunSeeds)
SOURCES = (*TRAIN_SOURCES, "split")
JOINT = "joint"  # a block in which every source varies at once
BLOCKS = (*SOURCES, JOINT)
VARY_CHOICES = (*BLOCKS, "all")  # all = every source alone (not joint)


def parse_vary(value: Any) -> tuple[str, ...]:
    """``"init,order"`` / ``["order", "init"]`` / ``"all"`` -> the blocks in their canonical order
    (``()`` for ``none`` or empty). Unknown names raise one line naming the valid ones."""
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    if names in ([], ["none"]):
        return ()
    bad = [n for n in names if n not in VARY_CHOICES]
    if bad:
        raise ConfigError(f"unknown source of variance {bad[0]!r} in vary; valid: {valid_list(VARY_CHOICES)} or none")
    chosen = set(SOURCES) if "all" in names else set()
    chosen.update(n for n in names if n != "all")
    return tuple(b for b in BLOCKS if b in chosen)


@dataclass(frozen=True)
class RunSeeds:
    """The seed of each source of randomness the trainer draws from in one run.

    - ``init``: ``torch.manual_seed(init)`` right before the model is built (initial weights);
    - ``order``: the shuffling ``torch.Generator`` (batch order);
    - ``augment``: the augmentation ``torch.Generator``, seeded with ``augment_seed(augment)``;
    - ``dropout``: the masks come from torch's global generator. ``None`` leaves it where the build
      left it, so the masks continue the init stream (every run before the sources were
      separated); a number re-seeds it after the build, so the masks no longer move with init.

    ``RunSeeds.from_seed(s)`` is the run seeded ``s`` exactly as before (the same calls with the
    same numbers: bit for bit).
    """

    init: int  # torch.manual_seed before the build: the initial weights
    order: int  # the shuffling generator: the batch order
    augment: int  # the augmentation generator (through augment_seed)
    dropout: int | None = None  # re-seeds the global generator after the build; None: the init stream goes on

    @classmethod
    def from_seed(cls, seed: int) -> RunSeeds:
        """Every source from one seed, as a run seeded ``seed`` always was."""
        return cls(init=int(seed), order=int(seed), augment=int(seed), dropout=None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dropout_stream(seed: int) -> int:
    """What torch's global generator is re-seeded with for dropout seed ``seed``: a stream apart from
    the init stream of the same number (as ``augment_seed`` is apart from the shuffling one)."""
    import numpy as np  # here: the module is plain data until a run is seeded

    return int(np.random.SeedSequence([int(seed), 0xD20]).generate_state(1, dtype=np.uint64)[0] >> 1)


def as_seeds(seed: int | RunSeeds) -> RunSeeds:
    """``seed`` as :class:`RunSeeds` (an int seeds every source, as before)."""
    if isinstance(seed, RunSeeds):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or RunSeeds, got {seed!r}")
    return RunSeeds.from_seed(seed)


@dataclass(frozen=True)
class CellSeeds:
    """Everything random about one cell (config, repeat), as seeds."""

    train: RunSeeds
    split_offset: int = 0  # added to the config's split_seed (0: the config's own split)
    data_repeat: int = 0  # prepare_data's repeat (the subset sample under per_repeat)
    source: str | None = None  # the block's varied source; None: a plain repeat

    def data_config(self, data: Any) -> Any:
        """The data config this cell trains on (the split seed moved when the split varies)."""
        if not self.split_offset:
            return data
        return dataclasses.replace(data, split_seed=data.split_seed + self.split_offset)

    def record(self, data: Any) -> dict[str, Any]:
        """The seeds a trial stores (user attribute ``seeds``)."""
        return {**self.train.to_dict(), "split_seed": self.data_config(data).split_seed, "source": self.source}


@dataclass(frozen=True)
class SeedDesign:
    """The seeding scheme of a study: plain repeats (``vary=()``) or one block per varied source."""

    vary: tuple[str, ...] = field(default=())  # blocks in canonical order (parse_vary)
    per_source: int = 1  # repeats per block

    def __post_init__(self) -> None:
        object.__setattr__(self, "vary", parse_vary(self.vary))
        if self.vary and (isinstance(self.per_source, bool) or not isinstance(self.per_source, int)
                          or self.per_source < 2):
            raise ConfigError(
                f"a variance design (vary: {','.join(self.vary)}) needs at least 2 repeats per source to estimate a "
                f"variance, got {self.per_source!r}; use --repeats 2 or more"
            )

    @property
    def repeats(self) -> int:
        """Repeats per config the design needs (0 for plain repeats: any number)."""
        return self.per_source * len(self.vary)

    def block_of(self, repeat: int) -> tuple[str | None, int]:
        """(varied source, index in its block) of ``repeat``; (None, repeat) for plain repeats."""
        if not self.vary:
            return None, repeat
        block = min(repeat // self.per_source, len(self.vary) - 1)
        return self.vary[block], repeat - block * self.per_source

    def cell_seeds(self, base_seed: int, repeat: int) -> CellSeeds:
        """The seeds of repeat ``repeat`` of any config (see the module doc)."""
        source, index = self.block_of(repeat)
        if source is None:
            return CellSeeds(RunSeeds.from_seed(base_seed + repeat), data_repeat=repeat)
        varied = base_seed + 1 + index

        def seed(name: str) -> int:
            return varied if source in (name, JOINT) else base_seed

        moves_data = source in ("split", JOINT)
        train = RunSeeds(init=seed("init"), order=seed("order"), augment=seed("augment"), dropout=seed("dropout"))
        return CellSeeds(train, split_offset=1 + index if moves_data else 0,
                         data_repeat=1 + index if moves_data else 0, source=source)

    @property
    def varies_data(self) -> bool:
        """Whether some repeats train on other images than others (they cannot share one batch)."""
        return any(b in ("split", JOINT) for b in self.vary)

    def to_dict(self) -> dict[str, Any]:
        return {"vary": list(self.vary), "per_source": self.per_source}
