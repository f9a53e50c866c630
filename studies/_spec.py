"""A study specification: everything a worker needs to run a study's trials, as plain data.

A :class:`StudySpec` is built from a preset (plus command-line overrides) or directly in Python.
It is stored on the Optuna study as JSON (user attribute ``layerlab``), so a worker on another
machine rebuilds the same objective from the storage alone, and a relaunch with a different spec
is refused instead of mixing two experiments in one study.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from objectives import RunConfig, check_run, list_objectives, objective_config_parts
from searchspace import Dimension, Fixed, Float, Space, Variants, When, grid_points, grid_size
from searchspace._dims import label_of
from searchspace.errors import ConfigError, LayerlabError, valid_list

SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median", "halving", "hyperband")
MAX_GRID_CELLS = 50_000  # larger grids need --n-trials (a seeded random subset of cells)


class StudyError(LayerlabError):
    """A study cannot be launched, joined or read as asked."""


@dataclass(frozen=True)
class StudySpec:
    """What to run. ``space`` holds the searched dimensions and the fixed values (defaults)."""

    space: Space
    name: str = "custom"  # preset name (also the default study name)
    description: str = ""
    paper: str = ""  # which seed paper and section the protocol comes from
    objective: str = "classify"  # objectives registry name
    sampler: str = "grid"  # grid | tpe | random
    repeats: int = 1  # seed repeats per config (trials carry config_id and repeat)
    n_trials: int | None = None  # configs to sample (tpe/random) or grid cells to subset
    pruner: str = "none"  # none | median | halving | hyperband (reported per epoch)
    seed: int = 0  # sampler seed; repeat r trains with seed + r
    baseline: Mapping[str, Any] | None = None  # params of the reference config for ablations
    notes: str = ""

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; valid: {valid_list(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown pruner {self.pruner!r}; valid: {valid_list(PRUNERS)}")
        if self.objective not in list_objectives():
            raise ConfigError(f"unknown objective {self.objective!r}; valid: {valid_list(list_objectives())}")
        if not isinstance(self.repeats, int) or isinstance(self.repeats, bool) or self.repeats < 1:
            raise ConfigError(f"repeats must be an integer >= 1, got {self.repeats!r}")
        if self.n_trials is not None and (not isinstance(self.n_trials, int) or self.n_trials < 1):
            raise ConfigError(f"n_trials must be an integer >= 1, got {self.n_trials!r}")
        if self.sampler != "grid" and self.n_trials is None:
            raise ConfigError(f"sampler {self.sampler!r} needs n_trials (how many configs to sample)")

    # -- plain data --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "space"}
        out["baseline"] = dict(self.baseline) if self.baseline else None
        out["space"] = self.space.to_dict()
        return json.loads(json.dumps(out))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySpec:
        data = dict(data)
        space = Space.from_dict(data.pop("space"))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(space=space, **{k: v for k, v in data.items() if k in known})

    def fingerprint(self) -> str:
        """Changes whenever the experiment changes (space, repeats, sampler, seed, objective).

        A sampled (tpe/random) study's ``n_trials`` is a budget, not part of the experiment: a
        relaunch with a larger one extends the study. A grid's ``n_trials`` picks its cells, so
        there it counts."""
        import hashlib

        core = {k: v for k, v in self.to_dict().items() if k not in ("description", "notes", "paper", "baseline")}
        if self.sampler != "grid":
            core.pop("n_trials")
        return hashlib.sha1(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> StudySpec:
        return dataclasses.replace(self, **changes)

    # -- cells ----------------------------------------------------------------------------------
    def grid_size(self) -> int:
        return grid_size(self.space)

    def total_cells(self) -> int | None:
        """Trials the study will run when complete (None when unbounded)."""
        if self.sampler == "grid":
            n = self.grid_size()
            if self.n_trials is not None:
                n = min(n, self.n_trials)
            return n * self.repeats
        return self.n_trials * self.repeats if self.n_trials else None

    def grid_cells(self) -> list[tuple[dict[str, Any], dict[str, Any], int]]:
        """(params, config, repeat) for every cell of a grid study, in order."""
        points = grid_points(self.space, limit=self.n_trials, seed=self.seed)
        return [(p.params, p.config, r) for p in points for r in range(self.repeats)]

    def validate(self, *, check_data: bool = False, data_dir: str | Path | None = None, check_models: bool = False, progress: bool = False) -> None:
        """Check everything that can be checked without training; raise one clear line.

        Every config must resolve. With ``check_data`` (what ``launch`` does, except with
        ``--queue-only``, where the data may live only on the workers) each distinct data config
        is also loaded and split and, for a grid, each distinct model built at its data's shape on
        the meta device (:func:`objectives.check_run`), so a missing dataset or an impossible
        model fails here, before anything is written, not inside every trial. ``check_models``
        without ``check_data`` (a launch that only queues) builds each grid model on the meta device
        at its data's shape, read from the files when they are here and from the dataset's
        published shape when not (:func:`objectives._check.check_run_shapes`)."""
        if self.sampler == "grid":
            size = self.grid_size()
            if size > MAX_GRID_CELLS and self.n_trials is None:
                raise StudyError(
                    f"the grid has {size:,} configs, too many to enumerate (limit {MAX_GRID_CELLS:,}); "
                    "pass --n-trials N to run a seeded random subset of cells, or use --sampler tpe"
                )
            configs = [p.config for p in grid_points(self.space, limit=self.n_trials, seed=self.seed)]
        else:
            configs = _random_configs(self.space, 16, self.seed)
        runs = [RunConfig.from_flat(config, parts=objective_config_parts(self.objective)) for config in configs]
        for run in runs:
            _check_dataset(run.data.dataset)
        if check_data:
            # A grid runs exactly these configs: each must load its data and build its model. A
            # sampled study may meet configs its data cannot build (e.g. a deep VGG on 8x8
            # images); those trials fail and the sampler learns, so only the data is checked.
            models = self.sampler == "grid"
            from studies._progress import terminal_bar

            seen = set()
            for run in terminal_bar(runs, enabled=progress, desc="preparing data and models", unit="config"):
                parts = [dataclasses.asdict(run.data), dict(run.inputs)]
                if models:
                    parts += [run.family, run.init, run.model]
                key = json.dumps(parts, sort_keys=True, default=str)
                if key not in seen:  # one load per data config (cached), one build per model and shape
                    seen.add(key)
                    check_run(run, data_dir=data_dir, model=models)
        elif check_models:
            from objectives._check import check_run_shapes
            from objectives.data._shapes import data_shape

            seen, built = set(), set()  # built: one meta build per model and shape
            for run in runs:  # as above: a sampled study checks only its data's shape
                parts = [dataclasses.asdict(run.data), dict(run.inputs)]
                parts += [run.family, run.init, run.model] if self.sampler == "grid" else []
                key = json.dumps(parts, sort_keys=True, default=str)
                if key not in seen:
                    seen.add(key)
                    if self.sampler == "grid":
                        check_run_shapes(run, data_dir=data_dir, built=built)
                    else:
                        data_shape(run.data, data_dir=data_dir)


def spec_differences(stored: Mapping[str, Any], yours: Mapping[str, Any]) -> list[str]:
    """What differs between two specs' plain forms, one short phrase each (for refusals)."""
    out = []
    ignored = {"space", "description", "notes", "paper", "baseline"}
    if yours.get("sampler") != "grid" and stored.get("sampler") == yours.get("sampler"):
        ignored.add("n_trials")  # a sampled study's budget may grow
    for key in sorted((set(stored) | set(yours)) - ignored):
        if stored.get(key) != yours.get(key):
            out.append(f"{key}: stored {stored.get(key)!r}, yours {yours.get(key)!r}")
    old, new = stored.get("space", {}), yours.get("space", {})
    for name in [*old, *(n for n in new if n not in old)]:
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"dimension {name!r} only in {'yours' if a is None else 'the stored spec'}")
        elif a.get("type") == b.get("type") == "fixed":
            out.append(f"{b.get('key', name)}: stored {a.get('value')!r}, yours {b.get('value')!r}")
        else:
            out.append(f"dimension {name!r} differs")
    return out


def _check_dataset(name: str) -> None:
    from objectives.data import get_dataset

    get_dataset(name)


def _random_configs(space: Space, n: int, seed: int) -> list[dict[str, Any]]:
    import optuna

    from searchspace import sample

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(sample(space, trial))
        study.tell(trial, 0.0)
    return out


def build_space(defaults: Mapping[str, Any], space: Space) -> Space:
    """The study space: the searched dimensions plus the defaults as constants.

    A default applies wherever no searched dimension sets its key. A key no dimension writes
    becomes a constant. A key written only in some branches (by dimensions conditional on one
    parent, or by a variants dimension some of whose options set it) gets a constant conditioned
    on the parent's remaining values, so a walk states its carried-forward settings once, as
    defaults, and each step states only what it changes.
    """
    names = {d.name for d in space}
    fixed: list[Fixed] = []
    for key, value in defaults.items():
        writers = [d for d in space if key in d.writes()]
        if not writers:
            if key in names:
                raise ConfigError(f"default {key!r} shares a name with a dimension; rename the dimension")
            fixed.append(Fixed(key, value=value))
            continue
        gap = _unset_branches(space, key, writers)
        if gap is not None:
            parent, values = gap
            name = f"{key}@default"
            if name in names:
                raise ConfigError(f"dimension name {name!r} is reserved for the default of {key!r}")
            fixed.append(Fixed(name, value=value, key=key, when=When(parent, tuple(values))))
    return Space([*fixed, *space])


def _unset_branches(space: Space, key: str, writers: list[Dimension]) -> tuple[str, list[Any]] | None:
    """(parent, values) under which no dimension in ``writers`` sets ``key``; None if always set."""
    parents: set[str] = set()
    covered: list[Any] = []
    for dim in writers:
        if isinstance(dim, Variants):
            partial = [label for label, option in dim.options.items() if key not in option]
            if not partial:
                if dim.when is None:
                    return None
            elif dim.when is None:
                parents.add(dim.name)
                covered += [label for label in dim.options if label not in partial]
                continue
            else:
                raise ConfigError(
                    f"default {key!r} cannot fill options {valid_list(partial)} of conditional variants "
                    f"{dim.name!r}; set {key!r} in each of its options"
                )
        if dim.when is None:
            return None  # written in every branch: the default is never used
        parents.add(dim.when.parent)
        covered += list(dim.when.values)
    who = valid_list(sorted(d.name for d in writers))
    if len(parents) != 1:
        raise ConfigError(
            f"default {key!r} cannot fill the branches {who} leave unset: they depend on different "
            f"dimensions ({valid_list(sorted(parents))}); set {key!r} in every branch instead"
        )
    parent = space[parents.pop()]
    if parent.when is not None or (isinstance(parent, Float) and parent.grid is None and parent.step is None):
        raise ConfigError(
            f"default {key!r} cannot fill the branches {who} leave unset: their parent {parent.name!r} "
            f"is conditional or continuous; set {key!r} in every branch instead"
        )
    rest = [v for v in parent.param_values() if v not in covered]
    return (parent.name, rest) if rest else None


def apply_overrides(space: Space, overrides: Mapping[str, Any]) -> Space:
    """Pin config keys to values everywhere in the space; the grid shrinks accordingly.

    A constant or searched dimension that writes the key is replaced by the pinned constant (a
    second one is removed); variants lose the key from their options, and an option whose value
    the pin changed is relabelled (``Res512`` -> ``Res512 (widths=64-64-64-64)``) so no label
    names a config it no longer is; a
    key nobody writes is added as a constant. Conditions on a replaced dimension are resolved
    against the pinned value: dimensions it activates become unconditional (or keep the pinned
    constant's own condition), and those it can no longer activate are removed with their
    descendants.
    """
    for key, value in overrides.items():
        for pin_key, pin_value in _resolve_label(space, key, value).items():
            space = _pin(space, pin_key, pin_value)
    return space


def _resolve_label(space: Space, key: str, value: Any) -> dict[str, Any]:
    """``{key: value}``, where ``value`` may be the preset's own label of a choice: ``layers=full``
    pins the layers the categorical ``layers`` names ``full``, and ``arch=Res512`` pins every key of
    the variants option ``Res512``. A value that is itself one of the choices stays as it is."""
    from searchspace import Categorical

    if not isinstance(value, str) or key not in space:
        return {key: value}
    dim = space[key]
    if isinstance(dim, Categorical) and isinstance(dim.choices, Mapping):
        if value in dim.choices and value not in [label_of(v) for v in dim.choices.values()]:
            return {dim.key or dim.name: dim.choices[value]}
    if isinstance(dim, Variants) and value in dim.options:
        return dict(dim.options[value])
    return {key: value}


def _pin(space: Space, key: str, value: Any) -> Space:
    owners = [d for d in space if key in d.writes()]
    replaced = [d for d in owners if not isinstance(d, Variants)]
    when = None
    parents = {d.when.parent for d in replaced if d.when is not None}
    if replaced and all(d.when is not None for d in replaced) and len(parents) == 1 and len(replaced) == len(owners):
        # Every owner is conditional on one parent: pin only where one of them was active.
        order = space[parents.pop()].param_values()
        active = {repr(v) for d in replaced for v in d.when.values}  # type: ignore[union-attr]
        when = When(replaced[0].when.parent, tuple(v for v in order if repr(v) in active))  # type: ignore[union-attr]
    if replaced:
        first = next((d for d in replaced if d.name == key), replaced[0])  # keep the key's own name
        name = first.name
        if name == f"{key}@default" and key not in space:
            name = key  # a pinned value is no longer a default
        pinned = Fixed(name, value=value, key=key if name != key else None, when=when)
    else:
        name = key if key not in space else f"{key}@pinned"
        pinned = Fixed(name, value=value, key=key if name != key else None)
    dims: list[Dimension] = []
    renamed: dict[str, dict[Any, Any]] = {}  # variants name -> {old label: its label now}
    for dim in space:
        if isinstance(dim, Variants) and key in dim.writes():
            stripped, renamed[dim.name] = _strip_option_key(space, dim, key, value, {d.name for d in replaced})
            dims.append(stripped)
        elif any(dim is d for d in replaced):
            if dim is first:
                dims.append(pinned)
        else:
            dims.append(dim)
    if not replaced:
        dims.insert(0, pinned)
    dims = [_follow_labels(d, renamed) for d in dims]
    pinned = next(d for d in dims if d.name == pinned.name)  # type: ignore[assignment]
    return Space(_resolve_conditions(dims, replaced, pinned, value))


def _follow_labels(dim: Dimension, renamed: Mapping[str, Mapping[Any, Any]]) -> Dimension:
    """Point a condition on relabelled or merged variants at their labels now."""
    if dim.when is None or not renamed.get(dim.when.parent):
        return dim
    mapping = renamed[dim.when.parent]
    values = tuple(dict.fromkeys(mapping.get(v, v) for v in dim.when.values))
    return dataclasses.replace(dim, when=When(dim.when.parent, values))


def _strip_option_key(
    space: Space, dim: Variants, key: str, value: Any, removed: set[str]
) -> tuple[Variants, dict[Any, Any]]:
    """``dim`` without ``key`` in its options, and where each old label went. An option whose
    ``key`` differed from the pinned ``value`` is relabelled to say so; an option that becomes
    identical to an earlier one, and activates the same dimensions, is merged into it (the grid
    shrinks instead of running one config twice)."""
    children = [d for d in space if d.when is not None and d.when.parent == dim.name and d.name not in removed]
    options: dict[str, dict[str, Any]] = {}
    kept_as: dict[Any, Any] = {}  # old label -> its label now
    kept_options: dict[Any, dict[str, Any]] = {}  # by old label
    for label, option in dim.options.items():
        stripped = {k: v for k, v in option.items() if k != key}
        twin = next(
            (
                kept
                for kept, kept_option in kept_options.items()
                if _plain_eq(stripped, kept_option)
                and all((label in c.when.values) == (kept in c.when.values) for c in children)  # type: ignore[union-attr]
            ),
            None,
        )
        if twin is not None:
            kept_as[label] = kept_as[twin]
            if key in option and not _plain_eq(option[key], value):
                _relabel(options, kept_as, twin, key, value)
            continue
        changed = key in option and not _plain_eq(option[key], value)
        new = f"{label} ({key}={label_of(value)})" if changed else label
        options[new] = stripped
        kept_as[label] = new
        kept_options[label] = stripped
    return dataclasses.replace(dim, options=options), kept_as


def _relabel(options: dict[str, Any], kept_as: dict[Any, Any], old: Any, key: str, value: Any) -> None:
    """Mark the kept option ``old`` as changed by the pin (it absorbed an option the pin changed)."""
    current = kept_as[old]
    tag = f" ({key}={label_of(value)})"
    if current.endswith(tag):
        return
    new = f"{current}{tag}"
    options_list = list(options.items())
    options.clear()
    options.update((new if k == current else k, v) for k, v in options_list)
    for k, v in kept_as.items():
        if v == current:
            kept_as[k] = new


def _resolve_conditions(dims: list[Dimension], replaced: list[Dimension], pinned: Fixed, value: Any) -> list[Dimension]:
    """Re-point or drop the dimensions conditional on ``replaced`` now that their key is pinned."""
    by_name = {d.name: d for d in replaced}
    dropped: set[str] = set()
    out: list[Dimension] = []
    for dim in dims:
        if dim.when is None or dim is pinned:
            out.append(dim)
            continue
        if dim.when.parent in dropped:
            dropped.add(dim.name)
            continue
        parent = by_name.get(dim.when.parent)
        if parent is None:
            out.append(dim)
            continue
        if any(_decodes_to(parent, v, value) for v in dim.when.values):
            out.append(dataclasses.replace(dim, when=pinned.when))
        else:
            dropped.add(dim.name)
    return out


def _decodes_to(dim: Dimension, param: Any, value: Any) -> bool:
    try:
        decoded = dim.decode(param).get(dim.config_key)
    except LayerlabError:
        return False
    return _plain_eq(decoded, value) or _plain_eq(param, value)


def _plain_eq(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@dataclass(frozen=True)
class Overrides:
    """Command-line fidelity knobs applied on top of a preset."""

    dataset: str | None = None
    epochs: int | None = None
    repeats: int | None = None
    sampler: str | None = None
    n_trials: int | None = None
    pruner: str | None = None
    seed: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict)  # --set key=value

    def apply(self, spec: StudySpec) -> StudySpec:
        pins = dict(self.values)
        if self.dataset is not None:
            pins["dataset"] = self.dataset
        if self.epochs is not None:
            if not isinstance(self.epochs, int) or self.epochs < 1:
                raise ConfigError(f"--epochs must be an integer >= 1, got {self.epochs!r}")
            pins["epochs"] = self.epochs
        changes: dict[str, Any] = {"space": apply_overrides(spec.space, pins)} if pins else {}
        for name in ("repeats", "sampler", "n_trials", "pruner", "seed"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        if self.repeats is not None and (not isinstance(self.repeats, int) or self.repeats < 1):
            raise ConfigError(f"--repeats must be an integer >= 1, got {self.repeats!r}")
        spec = spec.replace(**changes) if changes else spec
        if self.values:
            _check_pins_take_effect(spec, self.values)
        return spec


def _check_pins_take_effect(spec: StudySpec, pins: Mapping[str, Any]) -> None:
    """A ``--set`` key that no config of the study uses (e.g. ``widths`` in a ``seq``-only study)
    would be silently dropped; say so instead."""
    from searchspace import SpaceError

    try:
        if spec.sampler == "grid" and spec.grid_size() <= MAX_GRID_CELLS:
            configs = [p.config for p in grid_points(spec.space)]
        else:
            configs = _random_configs(spec.space, 32, spec.seed)
    except SpaceError:
        return  # a space that cannot be enumerated; validate() reports it
    parts = objective_config_parts(spec.objective)
    used: set[str] = set()
    families: set[str] = set()
    for config in configs:
        try:
            run = RunConfig.from_flat(config, parts=parts)
        except LayerlabError:
            return  # validate() reports the bad config itself
        used.update(run.to_flat())
        families.add(run.family)
    unused = [k for k in pins if k not in used]
    if unused:
        raise ConfigError(
            f"--set {', '.join(unused)} has no effect: no config of this study uses it "
            f"(families here: {valid_list(sorted(families))})"
        )
