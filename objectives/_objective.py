"""Optuna objectives: trial -> config -> train -> validation accuracy.

The path through a trial is ``objectives._trial.trial_config`` (``searchspace.interface.sample``,
the only caller of ``trial.suggest_*``, then :meth:`RunConfig.from_flat`) -> ``build_model`` ->
``objectives.train.fit`` -> metrics. The objective value is **validation** accuracy; test
metrics are stored beside it as user attributes and never optimised. Pruning reports happen here
and nowhere else.
"""

from __future__ import annotations

import functools
import math
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from objectives._config import RunConfig
from objectives._names import SCALAR_METRICS, TRIAL_METRICS  # noqa: F401  (defined torch-free there; re-exported)
from objectives._seeding import CellSeeds, SeedDesign
from objectives._trial import trial_config
from objectives.data import prepare_data
from objectives.train import Diverged, EpochStats, fit, remove_checkpoint, resolve_device
from objectives.train._divergence import check_divergence, divergence_limit
from searchspace import Space
from searchspace.errors import RegistryError, valid_list

# User attributes an objective sets on every trial (besides the metrics).
CELL_ATTRS = ("config", "config_id", "seed", "repeat")


@functools.lru_cache(maxsize=1)
def provenance() -> dict[str, str]:
    """Package version and, when run from a git checkout, the commit."""
    try:
        version = metadata.version("layerlab")
    except metadata.PackageNotFoundError:
        version = "unknown"
    out = {"layerlab_version": version}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


class ClassifyObjective:
    """Train an image classifier for the config sampled from ``space``.

    Args:
        space: the study's space (searched dimensions plus fixed values).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``...
        data_dir: where datasets live (default ``$LAYERLAB_DATA`` or the user cache).
        checkpoint_dir: when given, each trial checkpoints every epoch under it, keyed by config
            and repeat, so a retried cell resumes from its last finished epoch.
        base_seed: repeat ``r`` of every config trains with seed ``base_seed + r``, so repeats
            with the same index share a seed and can be compared pairwise.
        on_epoch: called with each finished epoch's stats (e.g. a progress bar), or None.
        seeding: a variance design (:class:`objectives._seeding.SeedDesign`): which source of
            randomness each repeat varies; None (plain repeats) seeds every source from
            ``base_seed + r``, as always.
    """

    def __init__(
        self,
        space: Space,
        *,
        device: str = "auto",
        data_dir: str | Path | None = None,
        checkpoint_dir: str | Path | None = None,
        base_seed: int = 0,
        on_epoch: Callable[[EpochStats], None] | None = None,
        seeding: SeedDesign | None = None,
    ) -> None:
        self.space = space
        self.seeding = seeding or SeedDesign()
        self.device = resolve_device(device)
        self.data_dir = data_dir
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.base_seed = base_seed
        self.on_epoch = on_epoch

    # Extra config parts (objectives._config.register_config_part) this objective reads.
    config_parts: tuple[str, ...] = ()
    # Scalar user attributes, besides the usual metrics, that reports should show as columns.
    report_attrs: tuple[str, ...] = ()
    # (metric, versus) pairs of those attributes, measured in the same trial, that reports compare first.
    report_pairs: tuple[tuple[str, str], ...] = ()
    # What a reader needs to read those metrics (shown above the report's tables).
    report_description: str = ""

    def resolve(self, trial: optuna.trial.BaseTrial) -> tuple[RunConfig, int, int]:
        run = trial_config(self.space, trial, parts=self.config_parts)
        repeat = int(trial.user_attrs.get("repeat", 0))
        return run, repeat, self.base_seed + repeat

    def cell_seeds(self, repeat: int) -> CellSeeds:
        """The seed of each source of randomness in repeat ``repeat`` (objectives._seeding)."""
        return self.seeding.cell_seeds(self.base_seed, repeat)

    def prepare(self, run: RunConfig, repeat: int):
        """The data repeat ``repeat`` of ``run`` trains on (its split moves when the design varies it)."""
        cell = self.cell_seeds(repeat)
        return prepare_data(cell.data_config(run.data), device=self.device, data_dir=self.data_dir,
                            repeat=cell.data_repeat)

    def record_cell(self, trial: optuna.trial.Trial, run: RunConfig, repeat: int, seed: int, data) -> None:
        """The user attributes every trial carries: resolved config, its id, seed, provenance."""
        full = run.with_inputs(data.in_channels, data.num_classes, data.input_size)
        for key, value in {
            "config": full.to_flat(),  # with in_channels, num_classes, input_size from the data
            "config_id": run.config_id,
            "seed": seed,
            "seeds": self.cell_seeds(repeat).record(run.data),  # per source of randomness
            "repeat": repeat,
            "device": str(self.device),
            "data_sizes": data.sizes(),
            **provenance(),
        }.items():
            trial.set_user_attr(key, value)

    def __call__(self, trial: optuna.trial.Trial) -> float:
        run, repeat, seed = self.resolve(trial)
        data = self.prepare(run, repeat)
        cid = run.config_id
        self.record_cell(trial, run, repeat, seed, data)
        ckpt = self.checkpoint_dir / f"{cid}-r{repeat}.pt" if self.checkpoint_dir else None
        try:
            result = fit(
                run, data, seed=self.cell_seeds(repeat).train,
                on_epoch=_reporter(trial, self.on_epoch, divergence_limit(run)), checkpoint=ckpt
            )
        except Diverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            return math.nan  # Optuna records a NaN objective as a FAIL; the study goes on.
        metrics = result.metrics()
        for key in TRIAL_METRICS:
            trial.set_user_attr(key, metrics[key])
        for key, value in result.extra.items():
            trial.set_user_attr(key, value)
        if ckpt is not None:
            remove_checkpoint(ckpt)  # the cell is done; its resume point is no longer needed
        return result.val_accuracy


def _reporter(
    trial: optuna.trial.Trial, progress: Callable[[EpochStats], None] | None, diverge_loss: float = 0.0
) -> Callable[[EpochStats], None]:
    def report(stats: EpochStats) -> None:
        check_divergence(diverge_loss, stats.epoch, stats.train_loss)  # optional; objectives.train._divergence
        if progress is not None:
            progress(stats)
        trial.report(stats.val_accuracy, stats.epoch)
        if trial.should_prune():
            trial.set_user_attr("pruned_at_epoch", stats.epoch)
            raise optuna.TrialPruned(f"pruned at epoch {stats.epoch}")

    return report


_OBJECTIVES: dict[str, type] = {"classify": ClassifyObjective}


def register_objective(name: str) -> Callable[[type], type]:
    """Register an objective class as ``name``. Workers build it as ``cls(space, *, device=...,
    data_dir=..., checkpoint_dir=..., base_seed=..., on_epoch=...)`` (:class:`ClassifyObjective`'s
    arguments) and call it with each trial."""

    def decorator(cls: type) -> type:
        if name in _OBJECTIVES:
            raise RegistryError(f"objective {name!r} is already registered")
        _OBJECTIVES[name] = cls
        return cls

    return decorator


def list_objectives() -> list[str]:
    return sorted(_OBJECTIVES)


def objective_config_parts(name: str) -> tuple[str, ...]:
    """Extra config parts objective ``name`` reads (empty if unknown), for validating its configs."""
    return tuple(getattr(_OBJECTIVES.get(name), "config_parts", ()))


def objective_report_attrs(name: str) -> tuple[str, ...]:
    """Extra scalar user attributes objective ``name`` records for reports (empty if unknown)."""
    return tuple(getattr(_OBJECTIVES.get(name), "report_attrs", ()))


def objective_report_pairs(name: str) -> tuple[tuple[str, str], ...]:
    """``(metric, versus)`` pairs of report attributes objective ``name`` declares in
    ``report_pairs``, to compare within each trial (empty if unknown or none declared)."""
    declared = getattr(_OBJECTIVES.get(name), "report_pairs", None) or ()
    return tuple((str(metric), str(versus)) for metric, versus in declared)


def objective_report_description(name: str) -> str:
    """What objective ``name``'s report metrics mean, in its own words (empty if unknown or none)."""
    return str(getattr(_OBJECTIVES.get(name), "report_description", "") or "")


def make_objective(name: str, space: Space, **kwargs: Any) -> Callable[[optuna.trial.Trial], float]:
    """Build the objective called ``name`` (``classify`` by default) for ``space``."""
    if name not in _OBJECTIVES:
        raise RegistryError(f"unknown objective {name!r}; valid: {valid_list(list_objectives())}")
    return _OBJECTIVES[name](space, **kwargs)
