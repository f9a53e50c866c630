"""Studies built by hand with known truth, for the analysis tests."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)

ORDERS = tuple("-".join(p) for p in itertools.permutations(("Conv", "BN", "PL")))


def grid_study(
    choices: Mapping[str, Sequence[Any]],
    mean: Callable[[dict[str, Any]], float],
    *,
    repeats: int = 3,
    noise: float = 0.01,
    seed_effect: float = 0.0,
    rng_seed: int = 0,
    layerlab_attrs: bool = True,
    storage: str | None = None,
    name: str = "synthetic",
    direction: str = "maximize",
    test_offset: float = -0.02,
    extra_attrs: Callable[[dict[str, Any], int], dict[str, Any]] | None = None,
) -> optuna.Study:
    """Every combination of ``choices`` x ``repeats``: value = mean(params) + shared seed effect
    + independent noise. With ``layerlab_attrs`` the trials carry config_id/repeat/seed/test."""
    rng = np.random.default_rng(rng_seed)
    study = optuna.create_study(study_name=name, storage=storage, direction=direction)
    dists = {k: CategoricalDistribution(list(v)) for k, v in choices.items()}
    shared = rng.normal(0.0, seed_effect, size=repeats) if seed_effect else np.zeros(repeats)
    for combo in itertools.product(*choices.values()):
        params = dict(zip(choices, combo))
        for r in range(repeats):
            value = float(mean(params) + shared[r] + rng.normal(0.0, noise))
            attrs: dict[str, Any] = {}
            if layerlab_attrs:
                attrs = {
                    "config_id": "cfg-" + json.dumps(params, sort_keys=True),
                    "repeat": r,
                    "seed": 100 + r,
                    "test_accuracy": value + test_offset,
                }
            if extra_attrs is not None:
                attrs.update(extra_attrs(params, r))
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value, user_attrs=attrs))
    return study


def add_failed_and_pruned(study: optuna.Study, params: dict[str, Any]) -> None:
    dists = {k: CategoricalDistribution([v]) for k, v in params.items()}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, state=TrialState.FAIL, user_attrs={"fail_reason": "boom"}))
    study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, state=TrialState.PRUNED, intermediate_values={1: 0.1}))


def conditional_study(*, repeats: int = 2, rng_seed: int = 0) -> optuna.Study:
    """optimizer in {adam, sgd}; momentum only for sgd (a conditional parameter); lr always."""
    rng = np.random.default_rng(rng_seed)
    study = optuna.create_study(direction="maximize")
    for opt, lr in itertools.product(("adam", "sgd"), (0.1, 0.01, 0.001)):
        momenta = (0.0, 0.9) if opt == "sgd" else (None,)
        for m in momenta:
            params: dict[str, Any] = {"optimizer": opt, "lr": lr}
            dists: dict[str, Any] = {"optimizer": CategoricalDistribution(["adam", "sgd"]), "lr": FloatDistribution(1e-4, 1.0, log=True)}
            if m is not None:
                params["momentum"] = m
                dists["momentum"] = FloatDistribution(0.0, 0.99)
            for r in range(repeats):
                value = 0.6 + (0.1 if opt == "sgd" and m == 0.9 else 0.0) + 10 * lr * 0.01 + rng.normal(0, 0.005)
                study.add_trial(optuna.trial.create_trial(
                    params=params, distributions=dists, value=float(value), user_attrs={"repeat": r, "seed": r}
                ))
    return study
