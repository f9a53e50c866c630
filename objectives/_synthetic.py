"""The ``synthetic`` objective: a known mean plus seeded noise, for benchmarks and tests of the
study machinery (races, workers, analysis) without training anything.

A trial's value is ``synth_mean + synth_seed_sd * z_seed + synth_noise * z_cell``: ``z_seed`` is
a standard normal drawn from the trial's seed alone (shared by every config at that repeat, like
the seed effects of real training), ``z_cell`` one drawn from the seed and the config. Same config
and seed give the same value, so a retried cell reproduces its result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import optuna

from objectives._config import RunConfig, register_config_part
from objectives._objective import ClassifyObjective, provenance, register_objective
from searchspace import ConfigError


@register_config_part("synthetic")
@dataclass(frozen=True)
class SyntheticConfig:
    """The known truth of a synthetic config."""

    synth_mean: float = 0.5  # the config's true mean value
    synth_noise: float = 0.01  # SD of the per-(config, seed) noise
    synth_seed_sd: float = 0.0  # SD of the seed effect shared by every config at one repeat

    def validate(self, run: RunConfig) -> None:
        for name in ("synth_noise", "synth_seed_sd"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")


def _normal(*keys: object) -> float:
    digest = hashlib.sha256(repr(keys).encode()).digest()
    return float(np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal())


@register_objective("synthetic")
class SyntheticObjective(ClassifyObjective):
    """Returns the config's synthetic value; loads no data and trains nothing."""

    config_parts = ("synthetic",)

    def __call__(self, trial: optuna.trial.Trial) -> float:
        run, repeat, seed = self.resolve(trial)
        truth = run.part("synthetic")
        value = (truth.synth_mean + truth.synth_seed_sd * _normal("seed", seed)
                 + truth.synth_noise * _normal(run.config_id, seed))
        for key, attr in {"config": run.to_flat(), "config_id": run.config_id, "seed": seed, "repeat": repeat,
                          "val_accuracy": value,
                          "test_accuracy": value + truth.synth_noise * _normal("test", run.config_id, seed),
                          **provenance()}.items():
            trial.set_user_attr(key, attr)
        return float(value)
