"""Calibration of parameter importance (issue #10, item 4): simulated studies with known truth,
analysed by the real ``studies.analysis._importance.importance_with_ci``.

Studies are built in layerlab's trial layout (user attrs ``config_id``, ``repeat``, a ``seed``
shared across configs, ``config``) in Optuna in-memory storage. Each has one categorical
``act`` (3 choices) and two noise floats ``lr`` (log scale) and ``wd``; 3 repeats per config,
trial noise SD 1 plus a seed effect (SD 0.5) shared by all configs.

- grid design: ``act`` x 4 ``lr`` x 3 ``wd`` values (36 configs); random design: 24 configs drawn
  at random (floats continuous); tpe design: 24 configs proposed by Optuna's TPESampler, each told
  the mean of its repeats (parameters then correlate with each other, and the permutation null
  is approximate).
- null: nothing matters. signal: ``act`` moves the objective by 0, 1.5 and 3 noise SD.

A parameter counts as "claimed" when the evaluator flags it above noise; an evaluator without
that flag (layerlab before this issue) is taken to claim a parameter whose CI lies wholly above
another parameter's, which is how its CIs read. ::

    python benchmarks/calibration.py --only importance [--quick]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

optuna.logging.set_verbosity(optuna.logging.WARNING)

ACT = ("relu", "gelu", "tanh")
ACT_EFFECT = {"relu": 0.0, "gelu": 1.5, "tanh": 3.0}  # in noise SD
LR_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
WD_GRID = (0.0, 0.01, 0.02)
DISTRIBUTIONS = {"act": CategoricalDistribution(ACT), "lr": FloatDistribution(1e-3, 3e-2, log=True),
                 "wd": FloatDistribution(0.0, 0.02)}


def simulated_study(*, design: str, signal: bool, rng: np.random.Generator, repeats: int = 3, n_random: int = 24,
                    noise_sd: float = 1.0, seed_sd: float = 0.5) -> optuna.Study:
    """A study with known truth in layerlab's trial layout (see the module docstring)."""
    if design == "grid":
        configs = [dict(zip(("act", "lr", "wd"), c)) for c in itertools.product(ACT, LR_GRID, WD_GRID)]
    elif design == "random":
        configs = [{"act": str(rng.choice(ACT)), "lr": float(np.exp(rng.uniform(np.log(1e-3), np.log(3e-2)))),
                    "wd": float(rng.uniform(0.0, 0.02))} for _ in range(n_random)]
    seed_effect = rng.normal(0.0, seed_sd, size=repeats)

    def draw(params: dict[str, Any]) -> list[float]:
        mean = ACT_EFFECT[params["act"]] * noise_sd if signal else 0.0
        return [float(mean + seed_effect[r] + rng.normal(0.0, noise_sd)) for r in range(repeats)]

    if design == "tpe":  # configs proposed by TPE, told the mean of each config's repeats
        sampler = optuna.samplers.TPESampler(seed=int(rng.integers(2**31)), n_startup_trials=8)
        driver = optuna.create_study(direction="maximize", sampler=sampler)
        configs, drawn = [], []
        for _ in range(n_random):
            trial = driver.ask(DISTRIBUTIONS)
            configs.append(dict(trial.params))
            drawn.append(draw(trial.params))
            driver.tell(trial, float(np.mean(drawn[-1])))
    else:
        drawn = [draw(params) for params in configs]
    trials = []
    for i, params in enumerate(configs):
        for r, value in enumerate(drawn[i]):
            attrs = {"config_id": f"cfg{i:04d}", "repeat": r, "seed": 1000 + r, "config": dict(params)}
            trials.append(optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, value=value, user_attrs=attrs))
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    return study


def _claimed(result: dict[str, Any]) -> set[str]:
    out = set()
    for p, r in result.items():
        if "above_noise" in r:
            if r["above_noise"]:
                out.add(p)
        elif r.get("ci_low") is not None and any(r["ci_low"] > q["ci_high"] for o, q in result.items() if o != p):
            out.add(p)
    return out


def _rates(design: str, signal: bool, evaluator: str, n_studies: int, seed: int, **kwargs: Any) -> dict[str, float]:
    from studies.analysis._importance import importance_with_ci

    rng = np.random.default_rng(seed)
    any_claimed = first_and_claimed = 0
    for s in range(n_studies):
        study = simulated_study(design=design, signal=signal, rng=rng)
        res = importance_with_ci(study, evaluators=(evaluator,), seed=seed + s, **kwargs)
        by = res["by_evaluator"][evaluator]
        claimed = _claimed(by)
        any_claimed += bool(claimed)
        first = max(by, key=lambda p: by[p]["value"])
        first_and_claimed += first == "act" and "act" in claimed
    return {"any": any_claimed / n_studies, "first": first_and_claimed / n_studies}


def _check(name: str, measured: float, op: str, bound: float) -> dict[str, Any]:
    passed = measured <= bound if op == "<=" else measured >= bound
    return {"check": name, "measured": float(measured), "target": f"{op} {bound:g}", "passed": bool(passed)}


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    """The checks; ``quick``: fewer studies (a fast fixed-seed subset with looser bounds)."""
    from studies.analysis._importance import EVALUATORS

    checks = []
    # the default (headline) method: the first of EVALUATORS, the factorial ANOVA
    default, n = EVALUATORS[0], 20 if quick else 400
    for design in ("grid", "random", "tpe"):
        if design == "tpe":  # TPE's proposals take time: fewer studies
            n = 10 if quick else 100
        # bootstrap replicates: the ANOVA ignores them, an evaluator without a noise flag needs them for its CIs
        null = _rates(design, False, default, n, seed + 1, n_bootstrap=10)
        checks.append(_check(f"importance_null_any_flagged_{design}_default", null["any"], "<=", (0.2 if design == "tpe" else 0.15) if quick else 0.05))
        sig = _rates(design, True, default, n, seed + 2, n_bootstrap=10)
        checks.append(_check(f"importance_signal_first_and_flagged_{design}_default", sig["first"], ">=", 0.95))
    # Optuna's evaluators under the permutation null (each shuffle refits a forest: fewer studies)
    n_forest = 2 if quick else 40
    for evaluator, design in (("fanova", "grid"), ("mdi", "grid"), ("ped_anova", "random")):
        null = _rates(design, False, evaluator, n_forest, seed + 3, n_bootstrap=10, n_trees=8)
        checks.append(_check(f"importance_null_any_flagged_{design}_{evaluator}", null["any"], "<=", 0.25 if quick else 0.1))
    return checks


if __name__ == "__main__":
    for c in run(quick="--quick" in sys.argv):
        print(f"calibration: {c['check']} {c['measured']:.4g} target {c['target']} {'PASS' if c['passed'] else 'FAIL'}")
