"""Calibration of rank transfer (issue #10, item 6): does ``study compare``'s Kendall CI cover the
tau between the two studies' TRUE config means?

Two studies of 7 configs, in layerlab's trial layout (user attrs ``config_id``, ``repeat``, a
``seed`` shared across configs, ``config``), Optuna in-memory storage, analysed by the real
``studies.analysis.compare_studies``. True means are spaced ``gap`` noise SD apart; study B
either ranks them as A does (true tau 1) or swaps two adjacent pairs (true tau 0.81). Trial noise
SD 1 plus a seed effect (SD 0.5) shared by a study's configs. ::

    python benchmarks/calibration.py --only transfer [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

optuna.logging.set_verbosity(optuna.logging.WARNING)

MODELS = tuple(f"m{i}" for i in range(7))
REORDER = (1, 0, 2, 4, 3, 5, 6)  # two adjacent swaps


def simulated_study(means: np.ndarray, *, repeats: int, rng: np.random.Generator, name: str,
                    noise_sd: float = 1.0, seed_sd: float = 0.5) -> optuna.Study:
    dist = {"model": CategoricalDistribution(MODELS)}
    shared = rng.normal(0.0, seed_sd, size=repeats)
    trials = []
    for model, mean in zip(MODELS, means):
        for r in range(repeats):
            trials.append(optuna.trial.create_trial(
                params={"model": model}, distributions=dist, value=float(mean + shared[r] + rng.normal(0.0, noise_sd)),
                user_attrs={"config_id": f"{name}-{model}", "repeat": r, "seed": 1000 + r, "config": {"model": model}}))
    study = optuna.create_study(study_name=name, direction="maximize")
    study.add_trials(trials)
    return study


def coverage(gap: float, repeats: int, reordered: bool, n_studies: int, seed: int) -> dict[str, float]:
    from studies.analysis import compare_studies

    rng = np.random.default_rng(seed)
    mean_a = gap * np.arange(len(MODELS))
    mean_b = mean_a[list(REORDER)] if reordered else mean_a.copy()
    truth = stats.kendalltau(mean_a, mean_b).statistic
    covered, same_as_scipy, width = 0, 0, 0.0
    for s in range(n_studies):
        a = simulated_study(mean_a, repeats=repeats, rng=rng, name="a")
        b = simulated_study(mean_b, repeats=repeats, rng=rng, name="b")
        res = compare_studies(a, b, n_bootstrap=200, seed=s)  # the bootstrap: only for Spearman now (and the old Kendall CI)
        covered += res["kendall_ci_low"] - 1e-9 <= truth <= res["kendall_ci_high"] + 1e-9
        width += res["kendall_ci_high"] - res["kendall_ci_low"]
        ma = [np.mean([t.value for t in a.trials if t.params["model"] == m]) for m in MODELS]
        mb = [np.mean([t.value for t in b.trials if t.params["model"] == m]) for m in MODELS]
        same_as_scipy += abs(res["kendall_tau"] - stats.kendalltau(ma, mb).statistic) < 1e-12
    return {"coverage": covered / n_studies, "scipy": same_as_scipy / n_studies, "width": width / n_studies}


def _check(name: str, measured: float, op: str, bound: float) -> dict[str, Any]:
    passed = measured <= bound if op == "<=" else measured >= bound
    return {"check": name, "measured": float(measured), "target": f"{op} {bound:g}", "passed": bool(passed)}


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    """Coverage per (gap, repeats, ordering); ``quick``: 0.5 and 2 SD, 20 studies a cell."""
    n = 20 if quick else 300
    gaps = (0.5, 2.0) if quick else (0.5, 1.0, 2.0)
    checks, scipy_rate = [], []
    for reordered in (False, True):
        for repeats in (3, 10):
            for gap in gaps:
                res = coverage(gap, repeats, reordered, n, seed + int(100 * gap) + repeats + 1000 * reordered)
                scipy_rate.append(res["scipy"])
                order = "reordered" if reordered else "identical"
                checks.append(_check(f"transfer_kendall_ci_coverage_{order}_gap{gap:g}sd_n{repeats}", res["coverage"], ">=",
                                     0.85 if quick else 0.9))
    checks.append(_check("transfer_kendall_tau_equals_scipy", min(scipy_rate), ">=", 1.0))
    return checks


if __name__ == "__main__":
    for c in run(quick="--quick" in sys.argv):
        print(f"calibration: {c['check']} {c['measured']:.4g} target {c['target']} {'PASS' if c['passed'] else 'FAIL'}")
