"""A study specification: everything a worker needs to run a study's trials, as plain data.

A :class:`StudySpec` is built from a preset (plus command-line overrides) or directly in Python.
It is stored on the Optuna study as JSON (user attribute ``layerlab``), so a worker on another
machine rebuilds the same objective from the storage alone, and a relaunch with a different spec
is refused instead of mixing two experiments in one study.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from objectives.interface import BUILTIN_OBJECTIVES, SeedDesign, parse_vary
from searchspace import Space, apply_overrides, grid_points
from searchspace.interface import grid_size, random_configs
from searchspace.errors import ConfigError, LayerlabError, StudyError, valid_list
from studies._assign import parse_assignments, parse_value
from studies._options import MAX_CELLS, check_options
from studies._paper import parse_report

if TYPE_CHECKING:
    import optuna

# study user attribute: {"spec", "fingerprint", "artifact_dir", "checkpoint_dir", "checkpoint_key"}
SPEC_ATTR = "layerlab"
SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median", "halving", "hyperband")
MAX_GRID_CELLS = 50_000  # larger grids need --n-trials (a seeded random subset of cells)


@dataclass(frozen=True)
class StudySpec:
    """What to run. ``space`` holds the searched dimensions and the fixed values (defaults).
    A launch refuses a spec of more than ``StudySpec.MAX_CELLS`` cells unless told otherwise."""

    MAX_CELLS: ClassVar[int] = MAX_CELLS

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
    report: Mapping[str, Any] | None = None  # the paper's own report tables and their text (studies._paper)
    # A variance design (objectives._seeding): the sources of randomness varied, each alone in its
    # own block of repeats / len(vary) repeats; () = plain repeats (left out of to_dict, so the
    # fingerprint of every study without a design is what it always was).
    vary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; valid: {valid_list(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown pruner {self.pruner!r}; valid: {valid_list(PRUNERS)}")
        # A built-in name is valid without importing the objectives (and torch): `study status`
        # rebuilds the stored spec and needs none of them.
        if self.objective not in BUILTIN_OBJECTIVES and self.objective not in _list_objectives():
            raise ConfigError(f"unknown objective {self.objective!r}; valid: {valid_list(_list_objectives())}")
        if not isinstance(self.repeats, int) or isinstance(self.repeats, bool) or self.repeats < 1:
            raise ConfigError(f"repeats must be an integer >= 1, got {self.repeats!r}")
        if self.n_trials is not None and (not isinstance(self.n_trials, int) or self.n_trials < 1):
            raise ConfigError(f"n_trials must be an integer >= 1, got {self.n_trials!r}")
        check_options(seed=self.seed, repeats=self.repeats, n_trials=self.n_trials)  # and seed + repeats - 1
        if self.sampler != "grid" and self.n_trials is None:
            raise ConfigError(f"sampler {self.sampler!r} needs n_trials (how many configs to sample)")
        parse_report(self.report)  # a malformed layout fails here, not when the report is built
        object.__setattr__(self, "vary", parse_vary(self.vary))
        self.seed_design()  # a design with one repeat per source fails here, before anything is written
        if self.vary and self.objective != "classify":
            raise ConfigError(f"--vary needs the classify objective; {self.objective!r} seeds its stages from one seed")

    # -- plain data --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "space"}
        out["baseline"] = dict(self.baseline) if self.baseline else None
        out["space"] = self.space.to_dict()
        if self.vary:
            out["vary"] = list(self.vary)
        else:
            del out["vary"]
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

        prose = ("description", "notes", "paper", "baseline", "report")
        core = {k: v for k, v in self.to_dict().items() if k not in prose}
        if self.sampler != "grid":
            core.pop("n_trials")
        return hashlib.sha1(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> StudySpec:
        return dataclasses.replace(self, **changes)

    def seed_design(self) -> SeedDesign:
        """The seeding scheme: plain repeats, or ``repeats / len(vary)`` repeats per varied source."""
        if not self.vary:
            return SeedDesign()
        per_source, rest = divmod(self.repeats, len(self.vary))
        if rest:
            raise ConfigError(f"repeats {self.repeats} do not split evenly over the {len(self.vary)} varied sources "
                              f"({', '.join(self.vary)}); give --repeats per source")
        return SeedDesign(vary=self.vary, per_source=per_source)

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

    def validate(self, *, check_data: bool = False, data_dir: str | Path | None = None, check_models: bool = False,
                 progress: bool = False) -> None:
        """Check everything that can be checked without training; raise one clear line.

        Every config must resolve. With ``check_data`` (what ``launch`` does, except with
        ``--queue-only``, where the data may live only on the workers) each distinct data config
        is also loaded and split and, for a grid, each distinct model built at its data's shape on
        the meta device (``objectives.interface.check_run``), so a missing dataset or an impossible
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
            configs = random_configs(self.space, 16, seed=self.seed)
        from objectives import RunConfig
        from objectives.interface import check_run, objective_config_parts  # here: reading a spec needs no torch

        runs = [RunConfig.from_flat(config, parts=objective_config_parts(self.objective)) for config in configs]
        for run in runs:
            _check_dataset(run.data.dataset)
        if "augment" in self.vary and not any(run.train.augmentations for run in runs):
            others = ",".join(v for v in self.vary if v != "augment") or "init"
            raise ConfigError(f"--vary augment: no config of this study augments (augment none), so its seed changes "
                              f"nothing; leave it out (e.g. --vary {others})")
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
            from objectives.interface import check_run_shapes, data_shape

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


def _list_objectives() -> list[str]:
    from objectives.interface import list_objectives

    return list_objectives()


def load_spec(study: optuna.Study) -> StudySpec:
    """The spec a launch stored on ``study`` (``StudyError`` if layerlab did not create it)."""
    attrs = study.user_attrs.get(SPEC_ATTR)
    if not attrs:
        raise StudyError(f"study {study.study_name!r} was not created by layerlab (no {SPEC_ATTR!r} attribute)")
    return StudySpec.from_dict(attrs["spec"])


def spec_differences(stored: Mapping[str, Any], yours: Mapping[str, Any]) -> list[str]:
    """What differs between two specs' plain forms, one short phrase each (for refusals)."""
    out = []
    ignored = {"space", "description", "notes", "paper", "baseline", "report"}
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
    from objectives.interface import get_dataset

    get_dataset(name)


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
    vary: str | None = None  # --vary: a variance design; --repeats then counts repeats per source

    def __post_init__(self) -> None:
        # Names first, before anything imports torch: a typo is refused in about a second.
        from objectives import check_names

        check_names(self.values, dataset=self.dataset)

    @staticmethod
    def parse_value(text: str) -> Any:
        """One ``--set`` value as the command line reads it (``1e-4`` a float, ``5e-4,1e-3`` a
        list, ``true`` a bool, ``Conv-BN`` a string): the one grammar, ``studies._assign``."""
        return parse_value(text)

    @staticmethod
    def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
        """``["lr=0.01", "layers=Conv-BN"]`` -> ``{"lr": 0.01, "layers": "Conv-BN"}``; a malformed
        item raises ConfigError naming it."""
        return parse_assignments(items, what="--set", error=ConfigError)

    def describe(self) -> str:
        """What these overrides change, as ``key=value`` pairs (``dataset=mnist5k, epochs=5,
        lr=0.01``); empty when nothing is overridden. A launch prints it beside the preset's
        description, which no longer tells the whole protocol."""
        names = ("dataset", "epochs", "repeats", "sampler", "n_trials", "pruner", "seed", "vary")
        items = [(name, getattr(self, name)) for name in names if getattr(self, name) is not None]
        return ", ".join(f"{key}={value}" for key, value in [*items, *self.values.items()])

    def apply(self, spec: StudySpec) -> StudySpec:
        check_options(epochs=self.epochs, repeats=self.repeats, n_trials=self.n_trials, seed=self.seed)
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
        if self.vary is not None or (self.repeats is not None and spec.vary):
            changes.update(_design_changes(spec, self.vary, self.repeats))
        spec = spec.replace(**changes) if changes else spec
        if self.values:
            _check_pins_take_effect(spec, self.values)
        return spec


def _design_changes(spec: StudySpec, vary: Any, per_source: int | None) -> dict[str, Any]:
    """``vary`` and ``repeats`` of ``spec`` under a variance design of ``per_source`` repeats per
    varied source (default: the spec's own). ``all`` leaves out ``augment`` when no config augments."""
    if per_source is None:
        per_source = spec.repeats // len(spec.vary) if spec.vary else spec.repeats
    names = parse_vary(spec.vary if vary is None else vary)
    if "augment" in names and "all" in str(vary).lower() and not _any_augments(spec):
        names = tuple(n for n in names if n != "augment")
    return {"vary": names, "repeats": per_source * max(1, len(names))}


def design_spec(spec: StudySpec, vary: Any, per_source: int | None = None) -> StudySpec:
    """``spec`` with a variance design (``vary``: source names, ``all`` or ``none``) of ``per_source``
    repeats per varied source (default: the spec's)."""
    return spec.replace(**_design_changes(spec, vary, per_source))


def _study_configs(spec: StudySpec) -> list[dict[str, Any]]:
    if spec.sampler == "grid" and spec.grid_size() <= MAX_GRID_CELLS:
        return [p.config for p in grid_points(spec.space)]
    return random_configs(spec.space, 32, seed=spec.seed)


def _any_augments(spec: StudySpec) -> bool:
    """Whether some config of ``spec`` augments its training images (unknown: assume it does)."""
    from objectives import RunConfig
    from objectives.interface import objective_config_parts  # here: reading a spec needs no torch

    parts = objective_config_parts(spec.objective)
    try:
        return any(RunConfig.from_flat(c, parts=parts).train.augmentations for c in _study_configs(spec))
    except LayerlabError:
        return True  # validate() reports the bad config itself


def _check_pins_take_effect(spec: StudySpec, pins: Mapping[str, Any]) -> None:
    """A ``--set`` key that no config of the study uses (e.g. ``widths`` in a ``seq``-only study)
    would be silently dropped; say so instead."""
    from searchspace import SpaceError

    try:
        if spec.sampler == "grid" and spec.grid_size() <= MAX_GRID_CELLS:
            configs = [p.config for p in grid_points(spec.space)]
        else:
            configs = random_configs(spec.space, 32, seed=spec.seed)
    except SpaceError:
        return  # a space that cannot be enumerated; validate() reports it
    from objectives import RunConfig
    from objectives.interface import objective_config_parts  # here: reading a spec needs no torch

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


def config_label(params: dict[str, Any]) -> str:
    """Short human label of a config from its searched parameters."""
    if not params:
        return "(fixed)"
    return ", ".join(f"{k}={v}" for k, v in params.items())
