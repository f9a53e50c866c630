"""Simulated races with known truth, shared by calib_racing.py and bench_racing.py.

A simulated study draws every (config, repeat) value up front -- config mean + a seed effect
shared by all configs + independent noise -- and runs :func:`studies.engine._race.replay` on it (the
same function the storage-backed race runs), so what is measured is the race's real logic. The
fixed design is every config at ``max_repeats`` analysed as the report analyses a fixed grid:
on the design's pooled seed noise, Dunnett's many-to-one test against the baseline
(:mod:`studies._design`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studies import _design as design
from studies.engine._race import DONE, RaceSettings, replay


@dataclass
class Outcome:
    trials: int  # race
    trials_fixed: int
    race_correct: float  # fraction of verdicts correct (ablation) / 1.0 if the winner is right (selection)
    fixed_correct: float
    race_errors: int  # false better/worse verdicts (ablation) or truly best eliminated (selection)
    fixed_errors: int
    race_hits: int = 0  # ablation: real differences found with the right sign
    fixed_hits: int = 0
    real: int = 0  # ablation: configs that truly differ from the baseline


def draw(means, *, noise, seed_sd: float, max_repeats: int, rng, kind: str = "normal") -> np.ndarray:
    """values[c, r]: config mean + shared seed effect + noise (``noise``: one SD, or one per config;
    ``kind``: normal, or t3 -- Student t with 3 df scaled to unit variance)."""
    means = np.asarray(means, dtype=float)
    seed = rng.normal(0.0, seed_sd, size=max_repeats)
    sd = np.broadcast_to(np.asarray(noise, dtype=float), means.shape)[:, None]
    size = (len(means), max_repeats)
    e = rng.standard_t(3, size=size) / math.sqrt(3.0) if kind == "t3" else rng.normal(0.0, 1.0, size=size)
    return means[:, None] + seed[None, :] + sd * e


def fixed_ablation(values: np.ndarray, baseline: int, alpha: float) -> dict[int, str]:
    """The report's verdicts on a fixed grid: pooled seed noise, Dunnett against the baseline."""
    k, n = values.shape
    noise = design.seed_noise({c: {r: float(values[c, r]) for r in range(n)} for c in range(k)})
    rivals = [c for c in range(k) if c != baseline]
    diffs = [values[c] - values[baseline] for c in rivals]
    variances = [design.comparison_variance(noise, c, baseline, d) for c, d in zip(rivals, diffs)]
    base_var = noise.pooled_var / n if noise is not None and noise.pooled else 0.0
    adjusted = design.many_to_one([abs(d.mean()) / math.sqrt(v.var) for d, v in zip(diffs, variances)], variances,
                                  base_var, alpha=alpha)
    return {c: ("better" if d.mean() > 0 else "worse") if a.p < alpha else "no difference"
            for c, d, a in zip(rivals, diffs, adjusted)}


def simulate(means, settings: RaceSettings, *, noise, seed_sd: float, rng, baseline: int | None = 0,
             kind: str = "normal") -> Outcome:
    """One study: race vs fixed max_repeats. ``baseline``: index of the baseline (ablation) or
    None (selection: the question is which config is best)."""
    values = draw(means, noise=noise, seed_sd=seed_sd, max_repeats=settings.max_repeats, rng=rng, kind=kind)
    k = len(means)
    cells = {(c, r): (DONE, float(values[c, r])) for c in range(k) for r in range(settings.max_repeats)}
    state = replay(list(range(k)), cells, settings, baseline=baseline)
    means = np.asarray(means, dtype=float)
    if state.mode == "ablation":
        rivals = [c for c in range(k) if c != baseline]
        truth = {c: "better" if means[c] > means[baseline] else "worse" if means[c] < means[baseline] else "no difference" for c in rivals}
        race = {c: state.decisions[c].verdict for c in rivals}
        race = {c: ("no difference" if v == "equivalent" else v) for c, v in race.items()}
        fixed = fixed_ablation(values, baseline, settings.alpha)
        wrong = lambda verdicts: sum(verdicts[c] in ("better", "worse") and verdicts[c] != truth[c] for c in rivals)
        real = [c for c in rivals if truth[c] != "no difference"]
        return Outcome(
            state.trials, state.trials_fixed,
            float(np.mean([race[c] == truth[c] for c in rivals])), float(np.mean([fixed[c] == truth[c] for c in rivals])),
            wrong(race), wrong(fixed), sum(race[c] == truth[c] for c in real), sum(fixed[c] == truth[c] for c in real),
            len(real),
        )
    best = set(np.flatnonzero(means == means.max()))
    survivors = [c for c, d in state.decisions.items() if d.verdict in ("winner", "top set")]
    n_of = state.repeats
    race_pick = max(survivors, key=lambda c: values[c, : n_of[c]].mean())
    fixed_pick = int(np.argmax(values.mean(axis=1)))
    race_err = int(any(state.decisions[c].verdict == "eliminated" for c in best))
    return Outcome(state.trials, state.trials_fixed, float(race_pick in best), float(fixed_pick in best), race_err, 0)


def run_many(means, settings, *, studies: int, noise=1.0, seed_sd: float = 1.0, seed: int = 0, baseline=0,
             kind: str = "normal") -> dict:
    rng = np.random.default_rng(seed)
    outs = [simulate(means, settings, noise=noise, seed_sd=seed_sd, rng=rng, baseline=baseline, kind=kind)
            for _ in range(studies)]
    real = sum(o.real for o in outs)
    return {
        "trials": sum(o.trials for o in outs),
        "trials_fixed": sum(o.trials_fixed for o in outs),
        "race_accuracy": float(np.mean([o.race_correct for o in outs])),
        "fixed_accuracy": float(np.mean([o.fixed_correct for o in outs])),
        "race_fwer": float(np.mean([o.race_errors > 0 for o in outs])),
        "fixed_fwer": float(np.mean([o.fixed_errors > 0 for o in outs])),
        "race_power": sum(o.race_hits for o in outs) / real if real else float("nan"),
        "fixed_power": sum(o.fixed_hits for o in outs) / real if real else float("nan"),
        "saved": 1 - sum(o.trials for o in outs) / sum(o.trials_fixed for o in outs),
    }
