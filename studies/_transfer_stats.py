"""The statistics of rank transfer: which pairs of configs each study can order, how often the two
studies agree on those, an interval for Kendall's tau of the TRUE config means, and what more
repeats would settle.

**Noise model, per study.** The additive two-way model ``value = config + seed + error`` (one
error SD for every config), fitted by least squares to every completed run: a seed is a block
shared by the configs that ran it (layerlab trains repeat ``r`` of every config with seed
``seed + r``, so seed luck cancels in a difference), and blocks may be incomplete (a race gives
configs different numbers of seeds). Without a common seed or repeat attribute the model is the
one-way layout (pooled within-config SD, runs unpaired). The fit is numpy by hand: statsmodels'
OLS gives the same coefficients and covariance (a test checks it), at the cost of a formula and a
data frame per study, and the rank-transfer matrix fits 420 of them per report.

**Settled pairs.** A pair is *settled* in a study when the Tukey-Kramer simultaneous interval of
its contrast (``scipy.stats.studentized_range`` over the study's k configs, with the model's
standard errors and residual degrees of freedom) excludes 0. Each study's intervals are at level
``1 - (1 - confidence) / 2``, so, when the model holds, every pair settled in both studies is
ordered as its true means are in both, with probability at least ``confidence`` jointly.

**Settled-pair concordance.** Of the S pairs settled in both studies, A agree. The interval is the
one-sided exact (Clopper-Pearson) binomial bound, ``scipy.stats.binomtest(A, S, alternative=
"greater").proportion_ci``: 26/26 gives concordance >= 0.891. Its estimand is the chance that a
pair both studies settle is ordered alike, ``E[agreeing settled pairs] / E[settled pairs]`` over
repetitions of the two studies; the settled pairs are not independent draws, and
``benchmarks/calib_transfer.py`` measures the coverage in designs where the disagreeing pairs are
easy, hard and in between to settle.

**Kendall's tau of the true means.** ``[low, high]`` with

- ``high`` = the projection of the simultaneous intervals: ``1 - 2 D / M`` for D pairs settled
  in opposite orders (M pairs). Whenever the intervals hold, no unsettled pair can lower the true
  tau below what the settled ones allow, so this end covers a true tau of 1 with probability at
  least ``confidence``, however close the configs are.
- ``low`` = the ``(1 - confidence) / 2`` quantile of tau over draws from each study's posterior
  of its config effects (flat prior, normal linear model: a scaled inverse chi-square SD, then
  the effects given the SD), or of the basic (reflected) interval ``2 tau_hat - q_high`` when that
  is lower. Noise attenuates tau towards 0 twice in a draw (once in the data, once in the draw),
  so the quantile errs low when the true tau is positive; the reflected end corrects the
  attenuation when it is negative. When no pair is settled concordant in both studies, nothing
  excludes a reversed ranking and ``low`` is the projection's ``-1 + 2 C / M`` (C = 0: -1).
  ``low`` is never below the projection's lower end.

The lower end is not guaranteed for every configuration of true means: near-tied pairs (gaps far
below the noise of a mean) that the two studies order oppositely are invisible to any data, and
the posterior treats them as coin flips. ``benchmarks/calib_transfer.py`` measures it; see
docs/importance.md for the figures.

**Cost to decide.** The chance that a pair with true contrast d is settled with n repeats per
config is the noncentral t probability ``P(|T| > q / sqrt(2))``, ``T ~ nct(df, d / se)``, with
``se`` and ``df`` those of a complete block of n seeds, at the observed noise SD. The statement
is the fewest repeats of one study at which the expected share of the pairs the OTHER study
settles (those the reference can order) reaches 90%, bias-corrected by a parametric bootstrap
(:func:`repeats_to_settle`). "90% of all pairs" is not stated: it hangs on the smallest
contrasts, which 3 to 5 repeats cannot measure (in the calibration's 1 SD designs it came out
1.4 to 2 times the truth, with a 10-90% spread of 7 to 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from studies import _design as design

MAX_REPEATS_ASKED = 100  # the cost statement looks no further than this many repeats per config
COST_TARGET = 0.9  # the cost statement: repeats to settle this share of the pairs the other study settles
COST_REPLICATES = 20  # parametric bootstrap replicates behind the cost statement's bias correction
TAU_DRAWS = 1000  # posterior draws behind the tau interval's lower end
NO_NOISE = "a study has no repeats to estimate its noise from"


@dataclass(frozen=True)
class Noise:
    """What one study knows about its config means: effect estimates (only their differences
    mean anything), their covariance divided by the error variance, the error SD and its degrees
    of freedom, runs per config, and which model gave them."""

    effects: np.ndarray  # (k,)
    unscaled: np.ndarray  # (k, k): covariance of ``effects`` / sd**2
    sd: float
    df: int
    n: np.ndarray  # (k,) runs per config
    method: str

    @property
    def k(self) -> int:
        return len(self.effects)

    def pair_se(self) -> np.ndarray:
        """(k, k) standard errors of the contrasts ``effects[i] - effects[j]``."""
        diag = np.diag(self.unscaled)
        var = diag[:, None] + diag[None, :] - 2 * self.unscaled
        return self.sd * np.sqrt(np.maximum(var, 0.0))

    def describe(self) -> dict[str, Any]:
        return {"sd": self.sd, "df": self.df, "method": self.method, "runs": [int(x) for x in self.n]}


def fit_noise(values: Sequence[np.ndarray], blocks: Sequence[Sequence[Any]] | None) -> Noise | None:
    """The study's noise model from each config's finite values and, when runs are paired, each
    run's seed (``blocks[i][j]`` for ``values[i][j]``). None when no degree of freedom is left for
    the error (every config ran once)."""
    k = len(values)
    n = np.array([len(v) for v in values])
    y = np.concatenate([np.asarray(v, dtype=float) for v in values]) if k else np.empty(0)
    config = np.repeat(np.arange(k), n)
    columns = [np.eye(k)[config]]
    method = "one-way layout: pooled within-config SD, runs unpaired"
    if blocks is not None:
        seeds = [s for b in blocks for s in b]
        codes, uniques = _codes(seeds)
        if len(uniques) > 1 and _paired(blocks):
            columns.append(np.eye(len(uniques))[codes][:, 1:])  # seed effects; the first seed is the reference
            method = "two-way layout configs + seeds (paired by seed), least squares"
    x = np.hstack(columns)
    if len(y) == 0:
        return None
    coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    df = len(y) - int(rank)
    if df < 1:
        return None
    resid = y - x @ coef
    sd = float(np.sqrt(resid @ resid / df))
    unscaled = np.linalg.pinv(x.T @ x)[:k, :k]
    return Noise(coef[:k].copy(), unscaled, sd, df, n, method)


def _codes(keys: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    index: dict[str, int] = {}
    codes = [index.setdefault(repr(s), len(index)) for s in keys]
    return np.array(codes, dtype=np.int64), list(index)


def _paired(blocks: Sequence[Sequence[Any]]) -> bool:
    """Some seed is shared by two configs (else seed effects explain nothing and cost df)."""
    seen: set[str] = set()
    for b in blocks:
        mine = {repr(s) for s in b}
        if seen & mine:
            return True
        seen |= mine
    return False


def tukey_critical(level: float, k: int, df: int) -> float:
    """The Tukey-Kramer multiplier of a contrast's standard error, ``q(level; k, df) / sqrt(2)``, at
    simultaneous ``level`` and any df (``studies._design.studentized_critical``)."""
    return design.studentized_critical(level, k, df)


def pair_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs i < j in row-major order (as ``itertools.combinations``)."""
    return np.triu_indices(k, k=1)


def settled_signs(noise: Noise, level: float) -> np.ndarray:
    """Per pair i < j: +1 / -1 when the Tukey-Kramer simultaneous interval of
    ``effect_i - effect_j`` at ``level`` lies above / below 0, else 0."""
    i, j = pair_index(noise.k)
    d = noise.effects[i] - noise.effects[j]
    half = tukey_critical(level, noise.k, noise.df) * noise.pair_se()[i, j]
    return np.where(d - half > 0, 1, np.where(d + half < 0, -1, 0))


def concordance(signs_a: np.ndarray, signs_b: np.ndarray, confidence: float) -> dict[str, Any]:
    """Of the pairs settled in both studies, how many agree, with the one-sided exact binomial
    lower bound of the concordance at ``confidence``."""
    both = (signs_a != 0) & (signs_b != 0)
    settled = int(both.sum())
    agree = int(((signs_a * signs_b) > 0).sum())
    low = None
    if settled:
        test = stats.binomtest(agree, settled, alternative="greater")
        low = float(test.proportion_ci(confidence_level=confidence).low)
    return {"settled": settled, "agree": agree, "disagree": settled - agree, "pairs": len(signs_a),
            "settled_a": int((signs_a != 0).sum()), "settled_b": int((signs_b != 0).sum()),
            "observed": agree / settled if settled else None, "low": low, "confidence": confidence,
            "method": "one-sided exact binomial (Clopper-Pearson) bound over the pairs settled in both studies"}


def posterior_effects(noise: Noise, draws: int, rng: np.random.Generator, *, resample_sd: bool = False):
    """(draws, k) draws of the config effects from their posterior under a flat prior: the SD from
    the scaled inverse chi-square with the residual degrees of freedom, then the effects given it.
    ``resample_sd``: a parametric bootstrap instead (the SD of a replicate study, scaled
    chi-square); returns ``(effects, sds)``."""
    chi2 = rng.chisquare(noise.df, size=draws)
    sd = noise.sd * np.sqrt(noise.df / chi2)
    root = _sqrt_psd(noise.unscaled)
    effects = noise.effects[None, :] + sd[:, None] * (rng.standard_normal((draws, noise.k)) @ root.T)
    if resample_sd:  # the replicate's effects carry the true SD's noise; its estimate is SD * sqrt(chi2 / df)
        effects = noise.effects[None, :] + noise.sd * (rng.standard_normal((draws, noise.k)) @ root.T)
        return effects, noise.sd * np.sqrt(chi2 / noise.df)
    return effects


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:  # rank-deficient (a config alone on its seeds): the symmetric root
        w, v = np.linalg.eigh(matrix)
        return v * np.sqrt(np.clip(w, 0.0, None))


def tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of (replicates, configs) arrays.

    The same statistic as ``scipy.stats.kendalltau`` (tests check it), vectorised over draws:
    scipy also computes a p-value on every call, which made 1,000 draws take seconds.
    tau_b = sum_{i<j} sign(dx) sign(dy) / sqrt(untied pairs in x * untied pairs in y).
    """
    i, j = pair_index(x.shape[1])
    sx = np.sign(x[:, i] - x[:, j]).astype(np.int8)  # int8: a third less time than float signs at 1,000 draws
    sy = np.sign(y[:, i] - y[:, j]).astype(np.int8)
    concordance = (sx * sy).sum(axis=1, dtype=np.int64)
    denom = np.sqrt(np.count_nonzero(sx, axis=1) * np.count_nonzero(sy, axis=1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, concordance / denom, np.nan)


def _posterior_taus(noise_a: Noise, noise_b: Noise, rng: np.random.Generator, draws: int) -> np.ndarray:
    return tau_b(posterior_effects(noise_a, draws, rng), posterior_effects(noise_b, draws, rng))


def tau_interval(noise_a: Noise | None, noise_b: Noise | None, signs_a: np.ndarray | None, signs_b: np.ndarray | None,
                 confidence: float, *, draws: int = TAU_DRAWS, seed: int = 0) -> dict[str, Any]:
    """Interval for Kendall's tau between the two studies' true config means (module docstring):
    ``{"low", "high", "method", "settled_pairs", "concordant", "discordant", ...}``."""
    if noise_a is None or noise_b is None or signs_a is None or signs_b is None:
        return {"low": None, "high": None, "method": "none", "reason": NO_NOISE}
    m = len(signs_a)
    product = signs_a * signs_b
    concordant, discordant = int((product > 0).sum()), int((product < 0).sum())
    unsettled = m - concordant - discordant
    low_projection, high = (concordant - discordant - unsettled) / m, (concordant - discordant + unsettled) / m
    low, how = low_projection, "projection (no pair settled concordant in both studies)"
    if concordant:
        rng = np.random.default_rng(seed)
        taus = _posterior_taus(noise_a, noise_b, rng, draws)
        taus = taus[np.isfinite(taus)]
        tail = (1 - confidence) / 2
        if len(taus):
            q_low, q_high = np.quantile(taus, [tail, 1 - tail])
            tau_hat = float(tau_b(noise_a.effects[None, :], noise_b.effects[None, :])[0])
            low = max(low_projection, min(float(q_low), 2 * tau_hat - float(q_high)))
            how = f"posterior {100 * tail:g}% quantile ({draws} draws), or the reflected end when lower"
    return {
        "low": float(low), "high": float(high),
        "method": f"low: {how}; high: projection of the simultaneous intervals",
        "settled_pairs": concordant + discordant, "pairs": m, "concordant": concordant, "discordant": discordant,
        "noise": {"a": noise_a.describe(), "b": noise_b.describe()},
    }


def settle_probability(contrast: np.ndarray, noise: Noise, repeats: int, level: float, sd: Any = None) -> np.ndarray:
    """Chance that each contrast (true difference of two config means) is settled by the
    Tukey-Kramer intervals at ``level`` when every config has ``repeats`` seeds in a complete
    block, at noise SD ``sd`` (default: the study's; an array broadcasts against ``contrast``):
    ``P(|T| > crit)`` for the noncentral t."""
    from scipy import special

    df = _block_df(noise, repeats)
    crit = tukey_critical(level, noise.k, df)
    sd = noise.sd if sd is None else sd
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.abs(contrast) / (np.asarray(sd) * np.sqrt(2.0 / repeats))
    delta = np.where(np.isnan(delta), np.inf, delta)  # zero SD: any contrast is settled
    # scipy.special.nctdtr is scipy.stats.nct's cdf without its per-call argument checks, which
    # made a cost statement take 50 ms; far in the tail it returns nan where the cdf is 0, and a
    # contrast this many standard errors beyond the critical value is settled for sure
    far = delta > crit + 40
    shift = np.where(far, 0.0, delta)
    below = np.nan_to_num(special.nctdtr(df, shift, -crit), nan=0.0)
    above = 1.0 - np.nan_to_num(special.nctdtr(df, shift, crit), nan=0.0)
    return np.where(far, 1.0, np.clip(above + below, 0.0, 1.0))


def _block_df(noise: Noise, repeats: int) -> int:
    if noise.method.startswith("two-way"):
        return max(1, (noise.k - 1) * (repeats - 1))
    return max(1, noise.k * (repeats - 1))


def contrasts(noise: Noise) -> np.ndarray:
    """Per pair i < j: the estimated contrast ``effect_i - effect_j``."""
    i, j = pair_index(noise.k)
    return noise.effects[i] - noise.effects[j]


def current_repeats(noise: Noise) -> int:
    return int(np.median(noise.n))


def _fewest(gap, start: int) -> int | None:
    """The fewest repeats n in ``start .. MAX_REPEATS_ASKED`` with ``gap(n) >= 0``, by bisection
    (the expected share settled grows with n: the standard error shrinks and the critical value
    falls); None when even the last falls short."""
    if start > MAX_REPEATS_ASKED or gap(MAX_REPEATS_ASKED) < 0:
        return None
    low, high = start, MAX_REPEATS_ASKED
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if gap(mid) >= 0 else (mid + 1, high)
    return low


def repeats_to_settle(noise: Noise, pairs: np.ndarray, level: float, target: float, *,
                      replicates: int = COST_REPLICATES, seed: int = 0) -> int | None:
    """The fewest repeats per config (from the current ones up to MAX_REPEATS_ASKED) at which the
    expected share of ``pairs`` (a boolean mask over i < j) settled reaches ``target``; None when
    it is not reached (or no pair is asked for).

    The share at the observed contrasts is biased towards 1/2 pair by pair (a small contrast
    looks smaller or larger, a large one now and then small), so it is corrected by the
    parametric bootstrap (Efron & Tibshirani 1993, §10.6): ``2 share(observed) - mean share(
    replicate)``, the replicates drawn from the fitted model as :func:`posterior_effects` draws."""
    if not pairs.any():
        return None
    rng = np.random.default_rng(seed)
    draws = posterior_effects(noise, replicates, rng, resample_sd=True)
    sds = draws[1]
    i, j = pair_index(noise.k)
    observed = contrasts(noise)[pairs]
    replicas = (draws[0][:, i] - draws[0][:, j])[:, pairs]

    def gap(n: int) -> float:
        share = float(np.mean(settle_probability(observed, noise, n, level)))
        again = float(np.mean(settle_probability(replicas, noise, n, level, sd=sds[:, None])))
        return 2 * share - again - target

    return _fewest(gap, max(2, current_repeats(noise)))


def cost_to_decide(noise_a: Noise | None, noise_b: Noise | None, signs_a: np.ndarray | None, signs_b: np.ndarray | None,
                   confidence: float, *, target: float = COST_TARGET, seed: int = 0) -> dict[str, Any]:
    """What more repeats would settle: ``repeats_a`` per config of study A to settle ``target``
    of the pairs B settles (the pairs the reference can order), and ``repeats_b`` the other way;
    None where no such number up to MAX_REPEATS_ASKED exists or nothing is settled to match."""
    if noise_a is None or noise_b is None or signs_a is None or signs_b is None:
        return {"target": target, "repeats_a": None, "repeats_b": None, "reason": NO_NOISE}
    level = 1 - (1 - confidence) / 2
    return {
        "target": target, "now_a": current_repeats(noise_a), "now_b": current_repeats(noise_b),
        "pairs_settled_a": int((signs_a != 0).sum()), "pairs_settled_b": int((signs_b != 0).sum()),
        "repeats_a": repeats_to_settle(noise_a, signs_b != 0, level, target, seed=seed),
        "repeats_b": repeats_to_settle(noise_b, signs_a != 0, level, target, seed=seed + 1),
        "max_asked": MAX_REPEATS_ASKED,
        "method": "expected share settled (noncentral t, Tukey-Kramer) at the observed contrasts and noise SD, "
                  f"bias-corrected by {COST_REPLICATES} parametric bootstrap replicates",
    }


def cost_sentence(cost: dict[str, Any], name_a: str, name_b: str) -> str:
    """The cost statement in one sentence."""
    if "reason" in cost:
        return f"cost to decide: unknown ({cost['reason']})"
    pct = f"{100 * cost['target']:g}%"

    def one(name: str, other: str, need: int | None, now: int, settled: int) -> str:
        if not settled:
            return f"{other!r} settles no pair for {name!r} to match"
        if need is None:
            return (f"no number of repeats of {name!r} up to {cost['max_asked']} settles {pct} of the {settled} pairs "
                    f"{other!r} settles")
        if need <= now:
            return f"{name!r} already settles {pct} of the {settled} pairs {other!r} settles (expected)"
        more, verb = (f"{need - now} more repeats", "settle") if need - now > 1 else ("1 more repeat", "settles")
        return f"{more} of {name!r} ({need} per config) {verb} {pct} of the {settled} pairs {other!r} settles"

    return "cost to decide: " + "; ".join([
        one(name_a, name_b, cost["repeats_a"], cost["now_a"], cost["pairs_settled_b"]),
        one(name_b, name_a, cost["repeats_b"], cost["now_b"], cost["pairs_settled_a"])])


def pair_rows(labels: Sequence[str], signs_a: np.ndarray | None, signs_b: np.ndarray | None) -> list[dict[str, Any]]:
    """Per pair: whether each study settles it (+1 / -1 / 0) and whether the two agree."""
    if signs_a is None or signs_b is None:
        return []
    out = []
    for p, (i, j) in enumerate(itertools.combinations(range(len(labels)), 2)):
        a, b = int(signs_a[p]), int(signs_b[p])
        status = "agree" if a * b > 0 else "disagree" if a * b < 0 else "unsettled"
        out.append({"config_1": labels[i], "config_2": labels[j], "settled_a": a, "settled_b": b, "status": status})
    return out
