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
from typing import Any

from objectives import RunConfig, list_objectives, objective_config_parts
from searchspace import Fixed, Space, Variants, grid_points, grid_size
from searchspace._errors import ConfigError, LayerlabError, valid_list

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
        """Changes whenever the experiment changes (space, repeats, sampler, seed, objective)."""
        import hashlib

        core = {k: v for k, v in self.to_dict().items() if k not in ("description", "notes", "paper", "baseline")}
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

    def validate(self) -> None:
        """Check everything that can be checked without training; raise one clear line."""
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
        for config in configs:
            run = RunConfig.from_flat(config, parts=objective_config_parts(self.objective))
            _check_dataset(run.data.dataset)


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
    """The study space: searched dimensions plus a constant for every default they do not set."""
    searched = space.keys()
    fixed = [Fixed(k, value=v) for k, v in defaults.items() if k not in searched]
    names = {d.name for d in space}
    clash = [f.name for f in fixed if f.name in names]
    if clash:
        raise ConfigError(f"default(s) {valid_list(clash)} share a name with a dimension; rename the dimension")
    return Space([*fixed, *space])


def apply_overrides(space: Space, overrides: Mapping[str, Any]) -> Space:
    """Pin config keys to values: a constant is replaced, a searched dimension is fixed at the
    value (the grid shrinks accordingly), and a new key is added as a constant."""
    for key, value in overrides.items():
        owners = [d for d in space if key in d.writes()]
        if not owners:
            space = Space([*space, Fixed(key, value=value)])
            continue
        for dim in owners:
            if isinstance(dim, Variants):
                raise ConfigError(
                    f"{key!r} is set by the options of variants {dim.name!r} "
                    f"({valid_list(dim.options)}); edit the preset instead of --set"
                )
        first, *rest = owners
        space = space.replace(first.name, Fixed(first.name, value=value, key=key if first.name != key else None))
        for dim in rest:
            space = space.replace(dim.name, None)
    return space


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
        return spec.replace(**changes) if changes else spec
