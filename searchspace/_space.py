"""A search space: an ordered set of dimensions, and the two ways to turn it into configs.

:func:`sample` is the only function in layerlab that calls ``trial.suggest_*``. :func:`grid`
enumerates the exact Cartesian product, expanding a conditional dimension only where its parent
has an activating value. :func:`grid_size` counts that product without enumerating it, and
:func:`grid_points` can pick a seeded subset of a grid too large to run whole.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from searchspace._dims import (
    Bool,
    Categorical,
    Dimension,
    Fixed,
    Float,
    Int,
    Ordering,
    Presence,
    Variants,
    dimension_from_dict,
    label_of,
)
from searchspace._errors import SpaceError, valid_list
from searchspace._tokens import format_layers, parse_layers

if TYPE_CHECKING:  # Optuna is only needed by whoever hands us a trial.
    import optuna


class Space:
    """An ordered, validated collection of dimensions (plain data; no Optuna inside).

    Build it from dimensions, ``Space([Ordering('order', tokens=...), Categorical('lr', ...)])``,
    or from the mapping a preset file holds, ``Space.from_dict({'lr': {'type': 'float', ...}})``.
    """

    def __init__(self, dims: list[Dimension] | tuple[Dimension, ...] = ()) -> None:
        dims = tuple(dims)
        names = [d.name for d in dims]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpaceError(f"space has duplicate dimension names: {valid_list(dupes)}")
        self._dims = _topological(dims)
        self._by_name = {d.name: d for d in self._dims}
        _check_conditions(self._dims, self._by_name)
        _check_key_conflicts(self._dims)
        # Parents of some condition: their values are all that later dimensions depend on.
        self._parents = tuple(sorted({d.when.parent for d in self._dims if d.when}))

    # -- plain-data round trip ------------------------------------------------------------
    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> Space:
        if not isinstance(mapping, Mapping):
            raise SpaceError(f"a space is a mapping of dimension names to specs, got {mapping!r}")
        return cls([dimension_from_dict(str(name), spec) for name, spec in mapping.items()])

    def to_dict(self) -> dict[str, Any]:
        return {d.name: d.to_dict() for d in self._dims}

    def fingerprint(self) -> str:
        """Stable hash of the space; two studies with different spaces must not be mixed."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    # -- container protocol -----------------------------------------------------------------
    def __iter__(self) -> Iterator[Dimension]:
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def __getitem__(self, name: str) -> Dimension:
        try:
            return self._by_name[name]
        except KeyError:
            raise SpaceError(
                f"no dimension {name!r} in this space; dimensions: {valid_list(self._by_name)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Space({[d.name for d in self._dims]})"

    @property
    def dims(self) -> tuple[Dimension, ...]:
        return self._dims

    def keys(self) -> set[str]:
        """Every config key some dimension may write."""
        return set().union(*(d.writes() for d in self._dims)) if self._dims else set()

    def replace(self, name: str, dim: Dimension | None) -> Space:
        """A copy with dimension ``name`` replaced by ``dim`` (or removed when ``dim`` is None)."""
        self[name]
        dims = [dim if d.name == name else d for d in self._dims]
        return Space([d for d in dims if d is not None])

    def is_active(self, dim: Dimension, params: Mapping[str, Any]) -> bool:
        if dim.when is None:
            return True
        parent = dim.when.parent
        return parent in params and params[parent] in dim.when.values


def _topological(dims: tuple[Dimension, ...]) -> tuple[Dimension, ...]:
    """Order dimensions so every parent precedes its children, otherwise keeping the given order."""
    by_name = {d.name: d for d in dims}
    out: list[Dimension] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(d: Dimension) -> None:
        if state.get(d.name) == 2:
            return
        if state.get(d.name) == 1:
            raise SpaceError(f"conditions form a cycle through dimension {d.name!r}")
        state[d.name] = 1
        if d.when is not None and d.when.parent in by_name:
            visit(by_name[d.when.parent])
        state[d.name] = 2
        out.append(d)

    for d in dims:
        visit(d)
    return tuple(out)


def _check_conditions(dims: tuple[Dimension, ...], by_name: Mapping[str, Dimension]) -> None:
    for d in dims:
        if d.when is None:
            continue
        parent = by_name.get(d.when.parent)
        if parent is None:
            raise SpaceError(
                f"condition of {d.name!r} names {d.when.parent!r}, which is not a dimension of this "
                f"space; dimensions: {valid_list(by_name)}"
            )
        if isinstance(parent, Float) and parent.grid is None and parent.step is None:
            continue  # continuous parent: any value may be compared
        valid = parent.param_values()
        bad = [v for v in d.when.values if v not in valid]
        if bad:
            raise SpaceError(
                f"condition of {d.name!r} expects {valid_list(map(repr, bad))} from {parent.name!r}, "
                f"whose values are {valid_list(map(repr, valid))}"
            )


def _exclusive(a: Dimension, b: Dimension, shared: set[str]) -> bool:
    """True when two dimensions never set the ``shared`` keys in the same config."""
    for parent, child in ((a, b), (b, a)):
        # A variants dimension and a dimension conditional on it: the child's options are the
        # only branches where both are active, so they clash only if those options set the key.
        # This lets a walk's ``step`` options carry per-step settings that other steps search.
        if isinstance(parent, Variants) and child.when is not None and child.when.parent == parent.name:
            return not any(shared & set(parent.options.get(v, {})) for v in child.when.values)
    if a.when is None or b.when is None or a.when.parent != b.when.parent:
        return False
    return not set(map(repr, a.when.values)) & set(map(repr, b.when.values))


def _check_key_conflicts(dims: tuple[Dimension, ...]) -> None:
    for i, a in enumerate(dims):
        for b in dims[i + 1 :]:
            shared = a.writes() & b.writes()
            if shared and not _exclusive(a, b, shared):
                raise SpaceError(
                    f"dimensions {a.name!r} and {b.name!r} both set config key(s) "
                    f"{valid_list(sorted(shared))} and can be active together"
                )


# -- decoding ----------------------------------------------------------------------------------


def _decode(space: Space, params: Mapping[str, Any]) -> dict[str, Any]:
    """Config for one assignment of parameter values (inactive dimensions are absent)."""
    config: dict[str, Any] = {}
    presences: list[Presence] = []
    for dim in space:
        if dim.name not in params:
            continue
        if isinstance(dim, Presence):
            presences.append(dim)
        config.update(dim.decode(params[dim.name]))
    for dim in presences:
        if dim.target not in config:
            raise SpaceError(
                f"presence {dim.name!r} edits config key {dim.target!r}, which no active "
                "dimension sets"
            )
        tokens = parse_layers(config[dim.target])
        if dim.token not in tokens:
            raise SpaceError(
                f"presence {dim.name!r} removes {dim.token!r} but {dim.target} "
                f"{format_layers(tokens)!r} does not contain it"
            )
        config[dim.target] = tokens if params[dim.name] else [t for t in tokens if t != dim.token]
    return config


def sample(space: Space, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    """Ask ``trial`` for every active dimension and return the decoded config.

    This is the only function in layerlab that calls ``trial.suggest_*``. Enqueued trials (the
    cells of a grid) come back with their fixed parameters, so grid, TPE and random sampling all
    pass through here.
    """
    params: dict[str, Any] = {}
    for dim in space:
        if not space.is_active(dim, params):
            continue
        params[dim.name] = _suggest(trial, dim)
    return _decode(space, params)


def _suggest(trial: optuna.trial.BaseTrial, dim: Dimension) -> Any:
    if isinstance(dim, Fixed):
        return label_of(dim.value)
    if isinstance(dim, Int):
        return trial.suggest_int(dim.name, dim.low, dim.high, step=dim.step, log=dim.log)
    if isinstance(dim, Float):
        return trial.suggest_float(dim.name, dim.low, dim.high, log=dim.log, step=dim.step)
    if isinstance(dim, (Categorical, Variants, Ordering, Bool, Presence)):
        return trial.suggest_categorical(dim.name, dim.param_values())
    raise SpaceError(f"cannot sample dimension {dim.name!r} of kind {dim.kind!r}")


# -- grids -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPoint:
    """One cell of a grid: the Optuna parameters to enqueue and the config they decode to."""

    params: dict[str, Any]
    config: dict[str, Any]


class _Counter:
    """Counts and unranks the grid tree. Only the values of condition parents change what follows
    a dimension, so counts are memoised on those values alone (parameter values are hashable
    primitives)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.dims = space.dims
        self.values = [d.param_values() for d in self.dims]  # raises for continuous dims
        self.count = lru_cache(maxsize=None)(self._count)

    def state(self, params: Mapping[str, Any]) -> tuple:
        return tuple(params.get(p, _ABSENT) for p in self.space._parents)

    def _count(self, i: int, state: tuple) -> int:
        if i == len(self.dims):
            return 1
        dim = self.dims[i]
        params = {p: v for p, v in zip(self.space._parents, state) if v is not _ABSENT}
        if not self.space.is_active(dim, params):
            return self.count(i + 1, state)
        if dim.name not in self.space._parents:
            return len(self.values[i]) * self.count(i + 1, state)
        return sum(self.count(i + 1, self.state({**params, dim.name: v})) for v in self.values[i])

    def size(self) -> int:
        return self.count(0, self.state({}))

    def unrank(self, index: int) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for i, dim in enumerate(self.dims):
            if not self.space.is_active(dim, params):
                continue
            for v in self.values[i]:
                candidate = {**params, dim.name: v}
                block = self.count(i + 1, self.state(candidate))
                if index < block:
                    params = candidate
                    break
                index -= block
        return params

    def walk(self, i: int = 0, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        params = params if params is not None else {}
        if i == len(self.dims):
            yield dict(params)
            return
        dim = self.dims[i]
        if not self.space.is_active(dim, params):
            yield from self.walk(i + 1, params)
            return
        for v in self.values[i]:
            params[dim.name] = v
            yield from self.walk(i + 1, params)
        del params[dim.name]


_ABSENT = object()  # marks a condition parent that is inactive in a memo key


def grid_size(space: Space) -> int:
    """Exact number of configs in the grid, counted without enumerating it."""
    return _Counter(space).size()


def grid_points(space: Space, *, limit: int | None = None, seed: int = 0) -> list[GridPoint]:
    """Every grid cell in order; with ``limit`` smaller than the grid, a seeded random subset
    of ``limit`` distinct cells (in grid order)."""
    counter = _Counter(space)
    size = counter.size()
    if limit is None or limit >= size:
        assignments = counter.walk()
    else:
        picks = sorted(random.Random(seed).sample(range(size), limit))
        assignments = (counter.unrank(i) for i in picks)
    searched = {d.name for d in space if d.is_param}  # constants are not Optuna parameters
    return [
        GridPoint(params={k: v for k, v in p.items() if k in searched}, config=_decode(space, p))
        for p in assignments
    ]


def random_configs(space: Space, n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` configs drawn at random from ``space`` (seeded), through :func:`sample` with Optuna's
    ``RandomSampler``: a sampled study's configs as a grid's are its :func:`grid_points`, e.g. to
    check or price a study before it runs."""
    import logging

    import optuna

    # Optuna's in-memory storage logs "A new study created in memory" at INFO: a stray line in
    # `space grid` and in every check of a sampled study. Quiet for this one creation only.
    announcer = logging.getLogger("optuna.storages._in_memory")
    level = announcer.level
    announcer.setLevel(logging.WARNING)
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    finally:
        announcer.setLevel(level)
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(sample(space, trial))
        study.tell(trial, 0.0)
    return out


def grid(space: Space) -> list[dict[str, Any]]:
    """The exact grid: one config per combination of active dimension values."""
    return [p.config for p in grid_points(space)]


def params_to_config(space: Space, params: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a trial's stored parameters (e.g. ``FrozenTrial.params``) back into its config."""
    active: dict[str, Any] = {}
    for dim in space:
        if not space.is_active(dim, active):
            continue
        if isinstance(dim, Fixed):
            active[dim.name] = label_of(dim.value)
        elif dim.name in params:
            active[dim.name] = params[dim.name]
        else:
            raise SpaceError(f"parameters lack active dimension {dim.name!r}")
    return _decode(space, active)


def config_id(config: Mapping[str, Any]) -> str:
    """Stable 12-hex-digit hash of a config, used to group the seed repeats of one config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]
