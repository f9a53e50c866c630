"""Calibration of rank transfer (issue #21, item 6): do the answers of ``study compare`` hold
against known truth?

Two studies of k configs whose TRUE means are known: A's are ``gap`` noise SD apart, B's are A's
in another order. A run's value is its config's mean + a seed effect shared by the study's
configs at that seed (SD 0.5) + noise (SD 1; ``t3``: Student t with 3 df scaled to SD 1;
``unequal``: one config's noise SD 2). The answers come from the code ``compare_studies`` runs
(``studies.analysis._transfer.transfer_answers`` on the fitted noise models; one check runs
``compare_studies`` itself on Optuna studies and asks for the same answers), so thousands of
study pairs fit in seconds. Orders of B (10 configs, true Kendall tau):

- ``same`` (1): A's order;
- ``swaps`` (0.78): five adjacent pairs swapped, each 1 gap apart in both studies (hard to see);
- ``moved`` (0.78): config 0 moved to the sixth place, discordant with gaps of 1 to 5;
- ``halves`` (0.11): each half of the configs reversed;
- ``reversed`` (-1);
- ``ties`` (0.78): five clusters 2 SD apart of two configs ``gap`` apart, each pair reversed in B
  (the adversary of the posterior: near-ties ordered oppositely, which no data can see).

Checks:

- the tau interval's coverage of the true tau, and its mean width;
- the settled-pair concordance bound's coverage of ``E[agreeing settled pairs] / E[settled
  pairs]`` (the truth, by Monte Carlo over 2,000 further study pairs of the same design);
- the cost statement (repeats of A that settle 90% of the pairs B settles): the median of its
  ratio to the repeats that truly do (the same noncentral t with the true contrasts and SD), and
  the share of those pairs that a simulated A at the stated repeats settles. ::

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

K = 10
ORDERS = {
    "same": tuple(range(K)),
    "swaps": (1, 0, 3, 2, 5, 4, 7, 6, 9, 8),
    "moved": (1, 2, 3, 4, 5, 0, 6, 7, 8, 9),
    "halves": (4, 3, 2, 1, 0, 9, 8, 7, 6, 5),
    "reversed": tuple(range(K))[::-1],
}
SEED_SD = 0.5
# Orders whose discordant pairs are near-ties (gaps of 0.1-1 noise SD at 3-5 repeats): coverage
# of the tau interval's lower end is claimed at 90% there, 95% elsewhere (docs/importance.md)
STRESS = ("halves", "ties")


def true_means(order: str, gap: float) -> tuple[np.ndarray, np.ndarray]:
    if order == "ties":  # 5 clusters 2 SD apart of 2 configs ``gap`` apart, each reversed in B
        base = np.repeat(2.0 * np.arange(K // 2), 2)
        return base + np.tile([0.0, gap], K // 2), base + np.tile([gap, 0.0], K // 2)
    mean_a = gap * np.arange(K, dtype=float)
    return mean_a, mean_a[list(ORDERS[order])]


def simulate(means: np.ndarray, repeats: int, rng: np.random.Generator, noise: str = "normal") -> np.ndarray:
    """(configs, repeats) values: mean + shared seed effect + noise of ``noise`` kind."""
    k = len(means)
    if noise == "t3":
        e = rng.standard_t(3, size=(k, repeats)) / np.sqrt(3.0)  # t3 has variance 3
    else:
        e = rng.standard_normal((k, repeats))
    if noise == "unequal":
        e[0] *= 2.0
    return means[:, None] + SEED_SD * rng.standard_normal(repeats)[None, :] + e


def fitted(values: np.ndarray):
    from studies._transfer_stats import fit_noise

    seeds = list(range(values.shape[1]))
    return fit_noise(list(values), [seeds] * len(values))


def answers(ya: np.ndarray, yb: np.ndarray, seed: int, draws: int = 1000, cost: bool = False) -> dict[str, Any]:
    from studies.analysis._transfer import transfer_answers

    return transfer_answers(fitted(ya), fitted(yb), 0.95, seed=seed, draws=draws, cost=cost)


def tau_cell(order: str, gap: float, repeats: int, n: int, seed: int, noise: str = "normal") -> dict[str, float]:
    """Coverage and mean width of the tau interval over ``n`` study pairs."""
    rng = np.random.default_rng(seed)
    mean_a, mean_b = true_means(order, gap)
    truth = stats.kendalltau(mean_a, mean_b).statistic
    covered, width = 0, 0.0
    for s in range(n):
        ci = answers(simulate(mean_a, repeats, rng, noise), simulate(mean_b, repeats, rng, noise), seed=s)["kendall_ci"]
        covered += ci["low"] - 1e-9 <= truth <= ci["high"] + 1e-9
        width += ci["high"] - ci["low"]
    return {"coverage": covered / n, "width": width / n, "truth": float(truth)}


def _settled(ya: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from studies._transfer_stats import settled_signs

    level = 1 - 0.05 / 2
    return settled_signs(fitted(ya), level), settled_signs(fitted(yb), level)


def concordance_cell(order: str, gap: float, repeats: int, n: int, seed: int, truth_reps: int) -> dict[str, float]:
    """Coverage of the concordance bound; the truth is E[agree] / E[settled] over ``truth_reps``."""
    from studies._transfer_stats import concordance, pair_index

    rng = np.random.default_rng(seed)
    mean_a, mean_b = true_means(order, gap)
    i, j = pair_index(K)
    agree_truth = np.sign(mean_a[i] - mean_a[j]) * np.sign(mean_b[i] - mean_b[j]) > 0
    settled_total, agree_total = 0, 0
    for _ in range(truth_reps):
        sa, sb = _settled(simulate(mean_a, repeats, rng), simulate(mean_b, repeats, rng))
        both = (sa != 0) & (sb != 0)
        settled_total += int(both.sum())
        agree_total += int((both & agree_truth).sum())
    kappa = agree_total / settled_total if settled_total else 1.0
    covered, settled = 0, 0
    for _ in range(n):
        res = concordance(*_settled(simulate(mean_a, repeats, rng), simulate(mean_b, repeats, rng)), 0.95)
        covered += res["low"] is None or res["low"] <= kappa + 1e-12
        settled += res["settled"]
    return {"coverage": covered / n, "kappa": kappa, "settled": settled / n}


def cost_cell(order: str, gap: float, repeats: int, n: int, seed: int) -> dict[str, float]:
    """The cost statement ``repeats_a`` (repeats of A, at ``repeats`` now, to settle 90% of the
    pairs B settles; B at 5 repeats) against the truth: the fewest repeats at which A's TRUE
    contrasts give an expected 90% of those pairs settled. ``realized``: the mean share of those
    pairs that a simulated A at the stated repeats settles."""
    from studies._transfer_stats import Noise, pair_index, repeats_to_settle, settle_probability, settled_signs

    rng = np.random.default_rng(seed)
    mean_a, mean_b = true_means(order, gap)
    i, j = pair_index(K)
    level = 1 - 0.05 / 2
    ratios, realized = [], []
    for s in range(n):
        noise_a, noise_b = fitted(simulate(mean_a, repeats, rng)), fitted(simulate(mean_b, 5, rng))
        mask = settled_signs(noise_b, level) != 0
        if not mask.any():
            continue
        stated = repeats_to_settle(noise_a, mask, level, 0.9, seed=s)  # cost_to_decide's repeats_a
        true_noise = Noise(noise_a.effects, noise_a.unscaled, 1.0, noise_a.df, noise_a.n, noise_a.method)
        truth = next((m for m in range(2, 201)
                      if settle_probability((mean_a[i] - mean_a[j])[mask], true_noise, m, level).mean() >= 0.9), 201)
        ratios.append((201 if stated is None else stated) / truth)
        if stated is not None:
            again = settled_signs(fitted(simulate(mean_a, stated, rng)), level) != 0
            realized.append(float(again[mask].mean()))
    return {"median_ratio": float(np.median(ratios)), "realized": float(np.mean(realized))}


def wiring(n: int, seed: int) -> float:
    """Share of study pairs where ``compare_studies`` on Optuna studies gives the fast path's
    answers (tau equal to scipy's on the means, same interval, same concordance)."""
    from studies.analysis._transfer import compare_studies

    rng = np.random.default_rng(seed)
    mean_a, mean_b = true_means("swaps", 1.0)
    same = 0
    for s in range(n):
        ya, yb = simulate(mean_a, 3, rng), simulate(mean_b, 3, rng)
        res = compare_studies(_study(ya, "a"), _study(yb, "b"), n_bootstrap=0, seed=s)
        fast = answers(ya, yb, seed=s)
        same += (abs(res["kendall_tau"] - stats.kendalltau(ya.mean(1), yb.mean(1)).statistic) < 1e-12
                 and abs(res["kendall_ci_low"] - fast["kendall_ci"]["low"]) < 1e-12
                 and res["kendall_ci_high"] == fast["kendall_ci"]["high"]
                 and res["concordance"]["agree"] == fast["concordance"]["agree"]
                 and res["concordance"]["settled"] == fast["concordance"]["settled"])
    return same / n


def _study(values: np.ndarray, name: str) -> optuna.Study:
    models = [f"m{c}" for c in range(len(values))]
    dist = {"model": CategoricalDistribution(models)}
    trials = [optuna.trial.create_trial(
        params={"model": m}, distributions=dist, value=float(values[c, r]),
        user_attrs={"config_id": f"{name}-{m}", "repeat": r, "seed": 1000 + r, "config": {"model": m}})
        for c, m in enumerate(models) for r in range(values.shape[1])]
    study = optuna.create_study(study_name=name, direction="maximize")
    study.add_trials(trials)
    return study


def _check(name: str, measured: float, op: str, bound: float) -> dict[str, Any]:
    passed = measured <= bound if op == "<=" else measured >= bound
    return {"check": name, "measured": float(measured), "target": f"{op} {bound:g}", "passed": bool(passed)}


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    """``quick``: fewer study pairs per cell and fewer cells (the test suite's subset)."""
    n = 100 if quick else 1000
    checks = []
    # the tau interval: the designs (10 configs 1 SD apart), then harder ones
    cells = [("swaps", 1.0, 5, "normal"), ("moved", 1.0, 5, "normal"), ("same", 1.0, 5, "normal"),
             ("swaps", 1.0, 3, "normal"), ("swaps", 1.0, 5, "t3")]
    if not quick:
        cells += [("same", 1.0, 3, "normal"), ("moved", 1.0, 3, "normal"), ("swaps", 1.0, 5, "unequal"),
                  ("moved", 1.0, 5, "t3"), ("same", 0.5, 3, "normal"), ("swaps", 0.5, 3, "normal"),
                  ("halves", 1.0, 5, "normal"), ("halves", 0.5, 3, "normal"), ("reversed", 1.0, 3, "normal"),
                  ("reversed", 0.5, 3, "normal"), ("swaps", 1.0, 10, "normal"), ("ties", 0.1, 5, "normal"),
                  ("ties", 0.3, 5, "normal")]
    for c, (order, gap, repeats, noise) in enumerate(cells):
        res = tau_cell(order, gap, repeats, n, seed + 101 * c, noise)
        stress = order in STRESS  # near-tied pairs ordered oppositely: the posterior's blind spot (docs say so)
        name = f"transfer_tau_ci_coverage_{order}_tau{res['truth']:.2f}_gap{gap:g}sd_n{repeats}_{noise}"
        name += "_stress" * stress
        target = 0.97 if order == "same" else 0.90 if stress else 0.95
        checks.append(_check(name, res["coverage"], ">=", target - (0.03 if quick else 0.0)))
        if gap == 1.0 and repeats == 5 and noise == "normal":
            checks.append(_check(f"transfer_tau_ci_mean_width_{order}_gap1sd_n5", res["width"], "<=", 0.8))
    # settled-pair concordance
    ccells = [("moved", 1.0, 5), ("halves", 1.0, 3)] + ([] if quick else [
        ("swaps", 1.0, 5), ("moved", 2.0, 3), ("halves", 1.0, 5), ("halves", 2.0, 3), ("reversed", 1.0, 5),
        ("moved", 0.5, 5)])
    for c, (order, gap, repeats) in enumerate(ccells):
        res = concordance_cell(order, gap, repeats, n, seed + 7 + 31 * c, truth_reps=500 if quick else 2000)
        checks.append(_check(f"transfer_concordance_coverage_{order}_kappa{res['kappa']:.2f}_gap{gap:g}sd_n{repeats}",
                             res["coverage"], ">=", 0.95 - (0.03 if quick else 0.0)))
    # the cost statement
    for c, (order, gap, repeats) in enumerate([("moved", 1.0, 3)] + ([] if quick else [
            ("moved", 1.0, 5), ("moved", 2.0, 3), ("swaps", 1.0, 3)])):
        res = cost_cell(order, gap, repeats, 40 if quick else 300, seed + 13 + c)
        name = f"transfer_cost_{order}_gap{gap:g}sd_n{repeats}"
        checks.append(_check(f"{name}_median_stated_over_true_repeats_low", res["median_ratio"], ">=", 0.8))
        checks.append(_check(f"{name}_median_stated_over_true_repeats_high", res["median_ratio"], "<=", 1.2))
        checks.append(_check(f"{name}_share_settled_at_stated_repeats", res["realized"], ">=", 0.85))
    same = wiring(5 if quick else 20, seed + 3)
    checks.append(_check("transfer_compare_studies_gives_the_same_answers", same, ">=", 1.0))
    return checks


if __name__ == "__main__":
    for c in run(quick="--quick" in sys.argv):
        print(f"calibration: {c['check']} {c['measured']:.4g} target {c['target']} {'PASS' if c['passed'] else 'FAIL'}")
