"""Simulated races with known truth, shared by calib_racing.py and bench_racing.py.

A simulated study draws every (config, repeat) value up front -- config mean + a seed effect
shared by all configs + independent noise -- and runs :func:`studies._race.replay` on it (the
same function the storage-backed race runs), so what is measured is the race's real logic. The
fixed design is every config at ``max_repeats`` with the same per-config tests at ``alpha``
(Holm across configs), which is what the analysis would conclude from a fixed grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studies._race import DONE, RaceSettings, compare_paired, replay


@dataclass
class Outcome:
    trials: int  # race
    trials_fixed: int
    race_correct: float  # fraction of verdicts correct (ablation) / 1.0 if the winner is right (selection)
    fixed_correct: float
    race_errors: int  # false better/worse verdicts (ablation) or truly best eliminated (selection)
    fixed_errors: int


def draw(means, *, noise, seed_sd: float, max_repeats: int, rng) -> np.ndarray:
    """values[c, r]: config mean + shared seed effect + noise (``noise``: one SD, or one per config)."""
    means = np.asarray(means, dtype=float)
    seed = rng.normal(0.0, seed_sd, size=max_repeats)
    sd = np.broadcast_to(np.asarray(noise, dtype=float), means.shape)[:, None]
    return means[:, None] + seed[None, :] + sd * rng.normal(0.0, 1.0, size=(len(means), max_repeats))


def _holm(pvalues: list[float], alpha: float) -> list[bool]:
    order = np.argsort(pvalues)
    out = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] >= alpha / (len(pvalues) - rank):
            break
        out[i] = True
    return out


def simulate(means, settings: RaceSettings, *, noise, seed_sd: float, rng, baseline: int | None = 0) -> Outcome:
    """One study: race vs fixed max_repeats. ``baseline``: index of the baseline (ablation) or
    None (selection: the question is which config is best)."""
    values = draw(means, noise=noise, seed_sd=seed_sd, max_repeats=settings.max_repeats, rng=rng)
    k = len(means)
    cells = {(c, r): (DONE, float(values[c, r])) for c in range(k) for r in range(settings.max_repeats)}
    state = replay(list(range(k)), cells, settings, baseline=baseline)
    means = np.asarray(means, dtype=float)
    if state.mode == "ablation":
        rivals = [c for c in range(k) if c != baseline]
        truth = {c: "better" if means[c] > means[baseline] else "worse" if means[c] < means[baseline] else "no difference" for c in rivals}
        race = {c: state.decisions[c].verdict for c in rivals}
        race = {c: ("no difference" if v == "equivalent" else v) for c, v in race.items()}
        tests = [compare_paired(values[c], values[baseline]) for c in rivals]
        reject = _holm([t.p for t in tests], settings.alpha)
        fixed = {c: ("better" if t.delta > 0 else "worse") if rej else "no difference" for c, t, rej in zip(rivals, tests, reject)}
        wrong = lambda verdicts: sum(verdicts[c] in ("better", "worse") and verdicts[c] != truth[c] for c in rivals)
        return Outcome(
            state.trials, state.trials_fixed,
            float(np.mean([race[c] == truth[c] for c in rivals])), float(np.mean([fixed[c] == truth[c] for c in rivals])),
            wrong(race), wrong(fixed),
        )
    best = set(np.flatnonzero(means == means.max()))
    survivors = [c for c, d in state.decisions.items() if d.verdict in ("winner", "top set")]
    n_of = state.repeats
    race_pick = max(survivors, key=lambda c: values[c, : n_of[c]].mean())
    fixed_pick = int(np.argmax(values.mean(axis=1)))
    race_err = int(any(state.decisions[c].verdict == "eliminated" for c in best))
    return Outcome(state.trials, state.trials_fixed, float(race_pick in best), float(fixed_pick in best), race_err, 0)


def run_many(means, settings, *, studies: int, noise=1.0, seed_sd: float = 1.0, seed: int = 0, baseline=0) -> dict:
    rng = np.random.default_rng(seed)
    outs = [simulate(means, settings, noise=noise, seed_sd=seed_sd, rng=rng, baseline=baseline) for _ in range(studies)]
    return {
        "trials": sum(o.trials for o in outs),
        "trials_fixed": sum(o.trials_fixed for o in outs),
        "race_accuracy": float(np.mean([o.race_correct for o in outs])),
        "fixed_accuracy": float(np.mean([o.fixed_correct for o in outs])),
        "race_fwer": float(np.mean([o.race_errors > 0 for o in outs])),
        "fixed_fwer": float(np.mean([o.fixed_errors > 0 for o in outs])),
    }
