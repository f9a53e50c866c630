"""Calibration of the aggregates over tasks (issue 21, item 9): do the intervals of the IQM, of the
probability of improvement P(X > Y) and of the performance profile cover the truth?

Simulated tasks with known truth go through ``studies.analysis._aggregate.aggregate_scores``, the core that
``aggregate_studies`` (``study aggregate`` and the report's section) runs; one check runs a study
through ``aggregate_studies`` and asserts it hands the same numbers to that core.

Design. M tasks (10 like liu-medmnist, and 5 or 3), 3 or 5 seeds each. Task m's true mean lies on
[0.3, 0.9] (normalised scores) and its noise SD on [0.03, 0.09], shuffled: unequal SDs across tasks.
Noise: ``normal``; ``t3`` (Student t with 3 df scaled to the same SD: heavy tails); ``images``
(the run's accuracy on a finite evaluation set of 200-1000 images: a binomial draw around the seed's
true accuracy, so scores are discrete and ties occur).

Truth. IQM: the 25% trimmed mean of the equal-weight mixture of the task distributions (400,000
draws per task). P(X > Y): X's runs are Y's plus a per-task effect of ``delta`` +- 0.5 noise SDs, the
runs paired by seed with a seed effect shared by X and Y (SD 0.5 x the noise; it cancels within a
pair); the truth per task is P(X > Y) + P(X = Y) / 2 on the same seed (1,000,000 draws), averaged
over tasks. Unpaired scenario: X and Y ran different seeds (no shared effect): Mann-Whitney form.
Profile: the fraction of runs above the mixture's median (0.5 by construction).

::

    python benchmarks/calibration.py --only aggregate [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studies.analysis._aggregate import aggregate_scores  # noqa: E402

TRUTH_DRAWS = 400_000
REPS = 1000  # bootstrap resamples per simulated study (the standard error needs no more)


def _check(name: str, measured: float | tuple[float, float], target: str) -> dict[str, Any]:
    """A check; ``measured`` may come with the mean interval width, printed (not checked) beside it."""
    measured, width = measured if isinstance(measured, tuple) else (measured, None)
    op, bound = target.split()
    passed = measured >= float(bound) if op == ">=" else measured < float(bound)
    shown = "" if width is None else f" (mean width {width:.3f})"
    print(f"  {name} {measured:.4g}{shown} target {target}", file=sys.stderr, flush=True)
    return {"check": name, "measured": float(measured), "target": target, "passed": bool(passed)}


class _Tasks:
    """M tasks with fixed true means and noise SDs; ``runs`` draws seeds' scores of a config."""

    def __init__(self, m: int, kind: str, rng: np.random.Generator) -> None:
        self.m, self.kind, self.rng = m, kind, rng
        self.mu = np.linspace(0.3, 0.9, m)
        self.sd = np.linspace(0.03, 0.09, m)[rng.permutation(m)]
        self.images = rng.integers(200, 1001, size=m)

    def noise(self, size: Any) -> np.ndarray:
        if self.kind == "t3":
            return self.rng.standard_t(3, size=size) / np.sqrt(3.0)  # unit variance, heavy tails
        return self.rng.normal(size=size)

    def score(self, task: int, truth: np.ndarray) -> np.ndarray:
        """A run's score from its seed's true accuracy: as is, or counted on the task's images."""
        if self.kind != "images":
            return truth
        p = np.clip(truth, 0.0, 1.0)
        return self.rng.binomial(self.images[task], p) / self.images[task]

    def runs(self, task: int, n: int, shift: float = 0.0, shared: np.ndarray | None = None) -> np.ndarray:
        base = self.mu[task] + shift * self.sd[task] + self.sd[task] * self.noise(n)
        if shared is not None:
            base = base + shared
        return self.score(task, base)


def iqm_truth(tasks: _Tasks) -> float:
    pooled = np.concatenate([tasks.runs(m, TRUTH_DRAWS) for m in range(tasks.m)])
    return float(stats.trim_mean(pooled, 0.25))


def iqm_coverage(m: int, n: int, kind: str, sims: int, seed: int, *, rliable: bool = False) -> tuple[float, float]:
    """Share of 95% IQM intervals that contain the true IQM, and their mean width; ``rliable``: the
    plain percentile interval of the same stratified bootstrap instead (what rliable reports)."""
    rng = np.random.default_rng(seed)
    tasks = _Tasks(m, kind, rng)
    truth = iqm_truth(tasks)
    hits, width = 0, 0.0
    for s in range(sims):
        scores = [{"x": tasks.runs(t, n)} for t in range(m)]
        if rliable:
            low, high = _percentile_interval([d["x"] for d in scores], rng)
        else:
            row = aggregate_scores(scores, thresholds=None, n_bootstrap=REPS, seed=s)["iqm"].iloc[0]
            low, high = row["iqm_ci_low"], row["iqm_ci_high"]
        hits += low <= truth <= high
        width += high - low
    return hits / sims, width / sims


def _percentile_interval(runs: list[np.ndarray], rng: np.random.Generator) -> tuple[float, float]:
    res = stats.bootstrap([np.arange(r.size, dtype=float) for r in runs],
                          lambda *idx, axis=-1: stats.trim_mean(np.concatenate(
                              [r[np.asarray(i, dtype=int)] for r, i in zip(runs, idx)], axis=-1), 0.25, axis=-1),
                          n_resamples=REPS, vectorized=True, method="percentile", rng=rng)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def poi_coverage(m: int, n: int, kind: str, delta: float, sims: int, seed: int, *,
                 paired: bool = True) -> tuple[float, float]:
    """Share of 95% intervals of P(X > Y) that contain the truth (see the module docstring), and their
    mean width."""
    rng = np.random.default_rng(seed)
    tasks = _Tasks(m, kind, rng)
    effects = delta + np.linspace(-0.5, 0.5, m)
    truth = 0.0
    for t in range(m):  # the same-seed comparison: the shared seed effect cancels
        x, y = tasks.runs(t, 1_000_000, effects[t]), tasks.runs(t, 1_000_000)
        truth += (np.mean(x > y) + 0.5 * np.mean(x == y)) / m
    hits, width = 0, 0.0
    for s in range(sims):
        scores = []
        for t in range(m):
            shared = 0.5 * tasks.sd[t] * rng.normal(size=n) if paired else None
            scores.append({"x": tasks.runs(t, n, effects[t], shared), "y": tasks.runs(t, n, 0.0, shared)})
        row = aggregate_scores(scores, paired=paired, reference="y", thresholds=None, n_bootstrap=REPS,
                               seed=s)["improvement"]
        low, high = row["p_improvement_ci_low"].iloc[0], row["p_improvement_ci_high"].iloc[0]
        hits += low <= truth <= high
        width += high - low
    return hits / sims, width / sims


def profile_coverage(m: int, n: int, kind: str, sims: int, seed: int) -> float:
    """Share of the profile's 95% pointwise bands, at the mixture's median, that contain 0.5."""
    rng = np.random.default_rng(seed)
    tasks = _Tasks(m, kind, rng)
    median = float(np.median(np.concatenate([tasks.runs(t, TRUTH_DRAWS) for t in range(m)])))
    hits = 0
    for s in range(sims):
        scores = [{"x": tasks.runs(t, n)} for t in range(m)]
        band = aggregate_scores(scores, thresholds=[median], n_bootstrap=REPS, seed=s)["profiles"]["by_config"]["x"]
        hits += band["low"][0] <= 0.5 <= band["high"][0]
    return hits / sims


def study_path_matches(seed: int) -> float:
    """``aggregate_studies`` on an Optuna study that varies ``dataset`` gives the numbers of
    ``aggregate_scores`` on the same chance-normalised, seed-aligned scores (1.0: identical)."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    from studies.analysis._aggregate import aggregate_studies

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    datasets, models = ("d0", "d1", "d2"), ("m0", "m1")
    counts = {"d0": [60, 40], "d1": [25, 75], "d2": [50, 50]}
    chance = {d: max(c) / sum(c) for d, c in counts.items()}
    study = optuna.create_study(direction="maximize")
    dist = {"dataset": CategoricalDistribution(datasets), "model": CategoricalDistribution(models)}
    scores: dict[str, dict[str, list[float]]] = {d: {f"model={mo}": [] for mo in models} for d in datasets}
    for d in datasets:
        for mo in models:
            for r in range(3):
                acc = float(np.clip(0.8 + 0.05 * (mo == "m1") + 0.03 * rng.normal(), 0, 1))
                scores[d][f"model={mo}"].append((acc - chance[d]) / (1 - chance[d]))
                study.add_trial(optuna.trial.create_trial(
                    params={"dataset": d, "model": mo}, distributions=dist, value=acc,
                    user_attrs={"seed": r, "repeat": r, "val_accuracy": acc,
                                "confusion": [[counts[d][0], 0], [counts[d][1], 0]]}))
    via_study = aggregate_studies([study], n_bootstrap=200, seed=seed)
    direct = aggregate_scores([scores[d] for d in datasets], n_bootstrap=200, seed=seed, bounds=(-np.inf, 1.0),
                              profile=list(via_study["profiles"]["by_config"]))
    same = via_study["normalization"] == "chance" and via_study["iqm"].equals(direct["iqm"]) and \
        via_study["improvement"].equals(direct["improvement"])
    return float(same)


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    """Coverage per design; ``quick``: 10 tasks x 3 seeds under normal and t3 noise, 150 studies each."""
    sims = 150 if quick else 1000
    bound = ">= 0.9" if quick else ">= 0.93"
    out = []
    iqm_cells = ((10, 3, "normal"), (10, 3, "t3")) if quick else tuple(
        (m, n, k) for (m, n) in ((10, 3), (10, 5), (5, 3), (3, 3)) for k in ("normal", "t3", "images"))
    for i, (m, n, kind) in enumerate(iqm_cells):
        out.append(_check(f"aggregate_iqm_ci_coverage_{kind}_{m}tasks_{n}seeds",
                          iqm_coverage(m, n, kind, sims, seed + i), bound))
    if not quick:  # rliable's plain percentile interval, for the record: the reason for the corrections
        out.append(_check("aggregate_iqm_percentile_interval_coverage_normal_10tasks_3seeds",
                          iqm_coverage(10, 3, "normal", sims, seed + 50, rliable=True), "< 0.93"))
    poi_cells = ((10, 3, "normal", 0.7, True), (10, 3, "t3", 2.0, True)) if quick else (
        (10, 3, "normal", 0.0, True), (10, 3, "normal", 0.7, True), (10, 3, "t3", 0.7, True),
        (10, 3, "images", 0.7, True), (10, 3, "normal", 2.0, True), (3, 5, "normal", 0.7, True),
        (5, 3, "t3", 0.7, True), (10, 3, "normal", 0.7, False), (10, 5, "t3", 0.7, False))
    for i, (m, n, kind, delta, paired) in enumerate(poi_cells):
        design = "paired" if paired else "unpaired"
        out.append(_check(f"aggregate_poi_ci_coverage_{design}_{kind}_delta{delta:g}sd_{m}tasks_{n}seeds",
                          poi_coverage(m, n, kind, delta, sims, seed + 100 + i, paired=paired), bound))
    if not quick:
        for i, kind in enumerate(("normal", "images")):
            out.append(_check(f"aggregate_profile_band_coverage_{kind}_10tasks_3seeds",
                              profile_coverage(10, 3, kind, sims, seed + 200 + i), bound))
    out.append(_check("aggregate_studies_same_numbers_as_scores", study_path_matches(seed), ">= 1"))
    return out


if __name__ == "__main__":
    for c in run(quick="--quick" in sys.argv):
        print(f"calibration: {c['check']} {c['measured']:.4g} target {c['target']} {'PASS' if c['passed'] else 'FAIL'}")
