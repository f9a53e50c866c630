"""Calibration of the verdicts: leaderboard CIs, ablation and vs-best family-wise error, power,
the one-image floor and the evaluation-set noise, on synthetic studies with known truth.

Every check runs the real ``studies.analysis`` code on studies in layerlab's trial layout
(``benchmarks/_simulate.py``). Noise: ``normal`` and ``skewed`` (centred gamma, skewness -1); the
seed effect shared by all configs has the same SD as the per-run noise. 7 configs under the null.

``run(quick=True)`` is the fixed-seed subset for the test suite: its bounds are loose enough to
be stable at its replicate counts, and tight enough that the failures issue #10 measured (BCa
coverage 89.6% at n = 10, vs-best false "worse" 8-11%, fallback baseline 9%, p = 0 for a
one-image difference) fail it.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

import _simulate as sim
from studies.analysis._leaderboard import ablation_table, leaderboard_table
from studies.analysis._collect import collect
from studies.analysis._stats import mean_ci

K = 7  # configs in the null studies
NOISE = 0.01  # per-run noise SD (one "SD" of effect sizes)


def _check(name: str, measured: float, target: str) -> dict[str, Any]:
    op, bound = target.split()
    bound = float(bound)
    passed = {">=": measured >= bound, "<=": measured <= bound, ">": measured > bound, "<": measured < bound}[op]
    # progress on stderr: the full run takes minutes on a shared machine
    print(f"  {name} {measured:.4g} target {target}", file=sys.stderr, flush=True)
    return {"check": name, "measured": float(measured), "target": target, "passed": bool(passed)}


def ci_coverage(n: int, kind: str, reps: int, rng: np.random.Generator) -> float:
    """Share of 95% CIs of a mean (the leaderboard's ``mean_ci``) that contain the true mean 0."""
    hits = 0
    for _ in range(reps):
        ci = mean_ci(sim.noise(rng, n, kind))
        hits += ci.low <= 0.0 <= ci.high
    return hits / reps


def null_rates(n: int, kind: str, reps: int, rng: np.random.Generator) -> dict[str, float]:
    """Family-wise false-verdict rates in null studies of K equal configs."""
    explicit = vs_best = fallback = 0
    for _ in range(reps):
        table = collect(sim.seed_study(sim.constant(K), repeats=n, noise_sd=NOISE, seed_sd=NOISE, kind=kind, rng=rng))
        board = leaderboard_table(table)
        vs_best += bool((board["vs_best"] == "worse").any())
        rows = ablation_table(table, "config=c0").rows
        explicit += bool(rows["verdict"].isin(["better", "worse"]).any())
        rows = ablation_table(table).rows
        fallback += bool(rows["verdict"].isin(["better", "worse"]).any())
    return {"explicit": explicit / reps, "vs_best": vs_best / reps, "fallback": fallback / reps}


def power(n: int, effect_sd: float, reps: int, rng: np.random.Generator) -> float:
    """Share of studies where a true ``effect_sd``-SD gain of one config over the explicit baseline
    (among K configs) gets "better"."""
    hits = 0
    for _ in range(reps):
        study = sim.seed_study(sim.with_effect(K, effect_sd * NOISE), repeats=n, noise_sd=NOISE, seed_sd=NOISE, rng=rng)
        rows = ablation_table(study, "config=c0").rows.set_index("variant")
        hits += rows.loc["config=c1", "verdict"] == "better"
    return hits / reps


def one_image(seeds: tuple[int, ...], rng: np.random.Generator) -> dict[str, float]:
    """Studies where the variant is exactly one image (of 337) worse on every seed."""
    significant, min_p = 0, 1.0
    cases = 0
    for s in seeds:
        for study in (sim.flipped_study(337, s, rng), sim.flipped_study(337, s, rng, same_image=True),
                      sim.shifted_study(337, s, rng)):
            row = ablation_table(study, "config=base").rows.iloc[0]
            significant += row["verdict"] != "no detectable difference"
            min_p = min(min_p, float(row["p_value"]))
            cases += 1
    # a zero-variance paired difference without any image count: the sign-flip test, never p = 0
    for s in seeds:
        study = sim.shifted_study(337, s, rng, sizes=False)
        min_p = min(min_p, float(ablation_table(study, "config=base").rows.iloc[0]["p_value"]))
    return {"significant": significant / cases, "min_p": min_p}


def eval_noise(n: int, reps: int, rng: np.random.Generator, n_images: int = 300) -> dict[str, float]:
    """Coverage of the population truth (new seeds and new images) by the delta CI of the
    ablation and by the leaderboard CI, with per-image data; and the seed-only delta CI's."""
    delta_hits = mean_hits = seed_only_hits = 0
    for _ in range(reps):
        study, truth = sim.image_study({"a": 0.9, "b": 1.0}, repeats=n, n_images=n_images, image_sd=1.0, seed_sd=0.15, rng=rng)
        true_delta = truth["b"] - truth["a"]
        table = collect(study)
        row = ablation_table(table, "config=a").rows.iloc[0]
        delta_hits += row["delta_ci_low"] <= true_delta <= row["delta_ci_high"]
        board = leaderboard_table(table).set_index("label")
        mean_hits += board.loc["config=a", "val_ci_low"] <= truth["a"] <= board.loc["config=a", "val_ci_high"]
        diffs = table.values(table.groups[1]) - table.values(table.groups[0])
        half = _t_half(diffs)
        seed_only_hits += abs(diffs.mean() - true_delta) <= half
    return {"delta": delta_hits / reps, "mean": mean_hits / reps, "seed_only": seed_only_hits / reps}


def _t_half(x: np.ndarray) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    # 1. leaderboard CI coverage at every n (the interval the leaderboard computes)
    ns = (3, 10, 20) if quick else tuple(range(2, 31))
    reps = 1500 if quick else 4000
    listed = (3, 10, 20) if quick else (2, 3, 5, 10, 20, 30)
    for kind in ("normal", "skewed"):
        cover = {n: ci_coverage(n, kind, reps, rng) for n in ns}
        for n in listed:  # the full run measures these n with 20,000 replicates (SE 0.15%)
            measured = cover[n] if quick else ci_coverage(n, kind, 20000, rng)
            out.append(_check(f"leaderboard_ci_coverage_{kind}_n{n}", measured, ">= 0.93" if quick else ">= 0.94"))
        if not quick:
            # the smallest of 29 Monte Carlo estimates (SE ~0.35% each) lies ~2 SE below the true
            # worst case, hence 0.935 here; docs/statistics.md gives the 20,000-replicate figures
            out.append(_check(f"leaderboard_ci_coverage_{kind}_min_of_n2to30", min(cover.values()), ">= 0.935"))
    # 2-4. family-wise false verdicts under the null
    cases = ((3, "normal"), (3, "skewed")) if quick else tuple((n, k) for n in (3, 5, 10, 20) for k in ("normal", "skewed"))
    # 2,000 studies per case in the full run: Monte Carlo SE 0.5% at a 5% rate, so a method at
    # its nominal 4-5% is not failed by chance (200 studies, SE 1.5%, once read 0.07 for the exact
    # paired t + Holm at n = 20, and 0.039 in 2,400 studies of the same case)
    reps = 150 if quick else 2000
    bound = "<= 0.08" if quick else "<= 0.05"
    for n, kind in cases:
        rates = null_rates(n, kind, reps, rng)
        out.append(_check(f"ablation_fwer_explicit_baseline_{kind}_n{n}", rates["explicit"], bound))
        # quick: 150 studies, Monte Carlo SE 1.8% at 5%: 0.09 fails a method at 8-11% (the
        # Holm-vs-best of issue #10) but not Tukey's all-pairs test at its ~3% by chance
        out.append(_check(f"vs_best_fwer_{kind}_n{n}", rates["vs_best"], "<= 0.09" if quick else "<= 0.05"))
        out.append(_check(f"ablation_fwer_fallback_baseline_{kind}_n{n}", rates["fallback"], "<= 0.09" if quick else "<= 0.05"))
    # 5. power at 3 SD (explicit baseline among 7 configs; Dunnett over 6 rows on the pooled seed noise)
    for n, target in (((5, ">= 0.2"),) if quick else ((3, ">= 0.0"), (5, ">= 0.3"), (10, ">= 0.8"), (20, ">= 0.95"))):
        out.append(_check(f"power_3sd_explicit_baseline_n{n}", power(n, 3.0, 60 if quick else 150, rng), target))
    # 6. one image on every seed is never significant; zero-variance differences never get p = 0
    got = one_image((3, 10) if quick else (3, 5, 10, 20), rng)
    out.append(_check("one_image_difference_significant_rate", got["significant"], "<= 0"))
    out.append(_check("zero_variance_difference_min_p", got["min_p"], "> 0"))
    # 7. evaluation-set noise: CIs cover the population truth (new seeds and new images)
    for n in ((5,) if quick else (3, 5, 10)):
        got = eval_noise(n, 60 if quick else 200, rng)
        out.append(_check(f"eval_noise_delta_ci_coverage_n{n}", got["delta"], ">= 0.85" if quick else ">= 0.92"))
        out.append(_check(f"eval_noise_mean_ci_coverage_n{n}", got["mean"], ">= 0.85" if quick else ">= 0.92"))
        if not quick:  # what ignoring the images would give: the reason for the crossed model
            out.append(_check(f"eval_noise_seed_only_delta_ci_coverage_n{n}_for_contrast", got["seed_only"], ">= 0.0"))
    return out
