"""Comparisons that use the whole design: every run of a study informs the noise of every comparison.

A layerlab study is a randomized complete block design: repeat r of every config trains with the
same seed, so the seeds are blocks, and y[c, s] = mu_c + b_s + e_cs. A comparison of two configs
paired by seed cancels the block effect b_s; its noise is Var(e_a - e_b). Estimating that variance
from the pair's own S differences leaves S - 1 degrees of freedom (2 at the papers' 3 repeats,
where the t quantile is 4.3 and nothing is ever found). Under one noise variance for every config
the two-way residual mean square estimates it from all k configs with (k - 1)(S - 1) degrees of
freedom (Tukey 1949; Dunnett 1955; Hsu 1996, ch. 2 and 7): 12 for the demo's 7 configs.

**Unequal variances.** Seed noise is not equal across configs (a config without its convolution
spreads 3-5x wider), and a pooled error term then under-states the noise of the wide config's
comparisons. At 3 repeats no test can see that reliably; from about 5 it can. So:

1. Per-config variances sigma_c^2 are estimated from the pairwise paired-difference variances
   D_ij = Var(y_i - y_j) = sigma_i^2 + sigma_j^2 by least squares over every pair that shares
   seeds (for a complete block this is Shukla's 1972 unbiased "stability variance"; it needs 3 or
   more configs and also works when configs ran different seeds, as in a race).
2. A config whose variance is larger than the pool of all the others (one-sided F test at
   :data:`HETEROGENEITY_ALPHA`) is *flagged*: every comparison that involves it falls back to its
   own paired differences (the paired t, exact for any variances: Welch's remedy in paired form).
3. Every other comparison uses the variance pooled over all configs (flagged ones included: a
   pool without the largest variances would be biased low under the null) and its degrees of
   freedom. The report states the equal-variance assumption and names the flagged configs.

benchmarks/calib_verdicts.py measures the family-wise error of this rule with one config's SD
twice the others' at 3, 5 and 10 repeats.

**Simultaneous inference.** Against a baseline: Dunnett's many-to-one comparisons. The contrasts
y_v - y_b share the baseline, so their correlation is lambda_v * lambda_w with
lambda_v^2 = Var(baseline mean) / Var(delta_v): a product structure, for which the multivariate t
probability reduces to a two-dimensional integral (Dunnett 1955; Hsu 1996, sec. 7.1.1), computed
here by Gauss quadrature (:func:`simultaneous_probability`). With per-comparison degrees of freedom
(pooled or paired) each comparison is referred to the multivariate t with its own df, the
heteroscedastic multiple-contrast approach of Hasler & Hothorn (2008). Against the best config
(chosen by the same data): Tukey's studentized range over all k configs (Games & Howell 1976 for
unequal variances; ``scipy.stats.studentized_range``), valid whichever config the data pick.

Written by hand because neither library covers it: ``scipy.stats.dunnett`` is for a one-way
layout with its own pooled variance (no blocks, one df), and its multivariate t CDF is a
randomized quasi-Monte Carlo integral, ~100x slower than the product-correlation quadrature and
not reproducible between calls; statsmodels has no Dunnett test.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

HETEROGENEITY_ALPHA = 0.10  # level of the one-sided F test that flags a config noisier than the pool
INF_DF = 1e4  # degrees of freedom beyond this are treated as infinite (a normal reference)
_NODES = 48  # Gauss quadrature nodes per dimension of the simultaneous probability
LAGUERRE_MAX_DF = 200.0  # above this many df the scale's nodes come from a normal approximation (_chi_nodes)

Values = Mapping[Hashable, Mapping[Hashable, float]]  # config -> pairing key (seed) -> value


@dataclass(frozen=True)
class SeedNoise:
    """The seed noise of a design: per-config variance estimates, which configs were flagged as
    noisier than the pool, and the pooled variance of the others with its degrees of freedom."""

    own_var: dict[Hashable, float]  # least-squares (Shukla) estimate of each config's run variance
    own_df: dict[Hashable, float]
    flagged: tuple[Hashable, ...]  # configs whose comparisons use their own paired differences
    pooled_var: float  # run variance pooled over the unflagged configs (nan when none can be pooled)
    pooled_df: float
    heterogeneity_p: dict[Hashable, float] = field(default_factory=dict)  # each config's F-test p-value

    @property
    def pooled(self) -> bool:
        return math.isfinite(self.pooled_var) and self.pooled_var > 0 and self.pooled_df > 0

    def uses_pool(self, a: Hashable, b: Hashable) -> bool:
        return (self.pooled and a not in self.flagged and b not in self.flagged
                and a in self.own_var and b in self.own_var)


def _finite_values(values: Values) -> dict[Hashable, dict[Hashable, float]]:
    out = {}
    for c, by_key in values.items():
        kept = {k: float(v) for k, v in by_key.items() if v is not None and math.isfinite(float(v))}
        if len(kept) >= 2:
            out[c] = kept
    return out


def seed_noise(values: Values, *, heterogeneity_alpha: float = HETEROGENEITY_ALPHA) -> SeedNoise | None:
    """Per-config variances, flags and the pooled variance of ``values`` (see the module
    docstring); None when fewer than 3 configs share 2 or more seeds (nothing to pool: each
    comparison then uses its own paired differences)."""
    clean = _finite_values(values)
    configs = list(clean)
    k = len(configs)
    if k < 3:
        return None
    keys = set(clean[configs[0]])
    complete = all(set(clean[c]) == keys for c in configs)
    own_var = _shukla(configs, clean, sorted(keys, key=repr)) if complete else _pairwise_variances(configs, clean)
    if own_var is None:
        return None
    # A config's estimate carries about its own n - 1 degrees of freedom, less the share the
    # others' estimates take from it (exactly (k - 2)/(k - 1) of them for Shukla's estimator's
    # leading term); used for the heterogeneity test only.
    own_df = {c: max((len(clean[c]) - 1) * (k - 2) / (k - 1), 1.0) for c in configs}

    # One round, each config against the pool of all the others: a step-down version (flag the
    # worst, pool the rest, test again) cascaded under the null, since removing the largest
    # variance biases the remaining pool low (calibration: power fell from 0.61 to 0.18).
    keys = set(clean[configs[0]])
    if all(set(clean[c]) == keys for c in configs):  # a complete block: the exact null of the residual share
        x = np.array([[clean[c][s] for s in sorted(keys, key=repr)] for c in configs])
        resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
        ss = (resid**2).sum(axis=1)
        null = _null_shares(k, len(keys))
        share = ss / ss.sum() if ss.sum() > 0 else np.zeros(k)
        tail = 1.0 - np.searchsorted(null, share - 1e-12, side="left") / len(null)
        p_values = {c: float(max(t, 1.0 / len(null))) for c, t in zip(configs, tail)}
    else:
        p_values = {c: _heterogeneity_p(c, configs, own_var, own_df, clean) for c in configs}
    flagged = [c for c in configs if p_values[c] < heterogeneity_alpha]
    pooled_var, pooled_df = _pool(configs, own_var, clean)
    return SeedNoise(own_var, own_df, tuple(flagged), pooled_var, pooled_df, p_values)


def _pairwise_variances(configs: Sequence[Hashable],
                        clean: Mapping[Hashable, Mapping[Hashable, float]]) -> dict[Hashable, float] | None:
    """Weighted least squares for D_ij = x_i + x_j over every pair of configs sharing 2+ seeds
    (configs that ran different seeds, as in a race); None when fewer pairs than configs."""
    k = len(configs)
    index = {c: i for i, c in enumerate(configs)}
    pairs, targets, weights = [], [], []
    for i, a in enumerate(configs):
        for b in configs[i + 1:]:
            keys = [s for s in clean[a] if s in clean[b]]
            if len(keys) < 2:
                continue
            d = np.array([clean[a][s] - clean[b][s] for s in keys])
            pairs.append((index[a], index[b]))
            targets.append(float(d.var(ddof=1)))
            weights.append(len(keys) - 1)
    if len(pairs) < k:
        return None
    design = np.zeros((len(pairs), k))
    for row, (i, j) in enumerate(pairs):
        design[row, i] = design[row, j] = 1.0
    w = np.sqrt(np.asarray(weights, dtype=float))
    solution, *_ = np.linalg.lstsq(design * w[:, None], np.asarray(targets) * w, rcond=None)
    return {c: float(solution[index[c]]) for c in configs}


def _shukla(configs: Sequence[Hashable], clean: Mapping[Hashable, Mapping[Hashable, float]],
            keys: Sequence[Hashable]) -> dict[Hashable, float]:
    """The same least squares in closed form when every config ran the same seeds (a complete
    block), in O(k S) instead of over k^2 / 2 pairs (1.4 million rows at 1,680 configs): with the
    two-way residuals r and Q_i = sum_s r_is^2, D_ij = (Q_i + Q_j - 2 sum_s r_is r_js) / (S - 1) and,
    the residuals summing to 0 over configs, sum_j!=i D_ij = (k Q_i + sum Q) / (S - 1), so
    x_i = (sum_j!=i D_ij - X) / (k - 2) with X = sum_i<j D_ij / (k - 1): Shukla's (1972) stability
    variance. Equal to the pairwise fit to rounding (tested)."""
    k, s = len(configs), len(keys)
    x = np.array([[clean[c][key] for key in keys] for c in configs])
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    q = (resid**2).sum(axis=1)
    row_sums = (k * q + q.sum()) / (s - 1)
    total = row_sums.sum() / (2 * (k - 1))
    return {c: float(v) for c, v in zip(configs, (row_sums - total) / (k - 2))}


NULL_DRAWS = 20_000  # Monte Carlo draws of a complete block's null residual shares (seeded, once per shape)
MANY_CONFIGS = 64  # from this many configs a draw gives k shares (20,000 x 1,680 x 3 normals took seconds)


@functools.lru_cache(maxsize=64)
def _null_shares(k: int, s: int) -> np.ndarray:
    """Sorted null draws of one config's share of the two-way residual sum of squares, k configs
    x s seeds, equal normal variances. The share is a monotone function of the F ratio of that
    config's Shukla variance to the others' pool, and its law depends on (k, s) only; the F
    reference with (s - 1)(k - 2)/(k - 1) df flagged 16% of configs instead of 10% at 3 seeds."""
    rng = np.random.default_rng(20_261_204 + 1000 * k + s)
    if k >= MANY_CONFIGS:  # every config's share of each draw (exchangeable): NULL_DRAWS / k draws, not NULL_DRAWS
        draws = -(-NULL_DRAWS // k)
        z = rng.standard_normal((draws, k, s))
        r = z - z.mean(axis=2, keepdims=True) - z.mean(axis=1, keepdims=True) + z.mean(axis=(1, 2), keepdims=True)
        ss = (r**2).sum(axis=2)
        return np.sort((ss / ss.sum(axis=1, keepdims=True)).ravel())
    out = np.empty(NULL_DRAWS)
    for start in range(0, NULL_DRAWS, 2000):
        z = rng.standard_normal((2000, k, s))
        r = z - z.mean(axis=2, keepdims=True) - z.mean(axis=1, keepdims=True) + z.mean(axis=(1, 2), keepdims=True)
        ss = (r**2).sum(axis=2)
        out[start:start + 2000] = ss[:, 0] / ss.sum(axis=1)
    return np.sort(out)


def _heterogeneity_p(c: Hashable, rest: Sequence[Hashable], own_var: Mapping[Hashable, float],
                     own_df: Mapping[Hashable, float], clean: Mapping[Hashable, Mapping[Hashable, float]]) -> float:
    """One-sided F test: is config ``c``'s variance larger than the pool of the other configs in ``rest``?"""
    from scipy import stats

    pool, df = _pool([o for o in rest if o != c], own_var, clean)
    if not (pool > 0 and df > 0) or own_var[c] <= 0:
        return 1.0
    return float(stats.f.sf(own_var[c] / pool, own_df[c], df))


def _pool(configs: Sequence[Hashable], own_var: Mapping[Hashable, float],
          clean: Mapping[Hashable, Mapping[Hashable, float]]) -> tuple[float, float]:
    """The df-weighted mean of the configs' variances and its degrees of freedom: for a complete
    block of k' configs and S seeds, the two-way residual mean square with (k' - 1)(S - 1) df."""
    if len(configs) < 2:
        return math.nan, 0.0
    n = np.array([len(clean[c]) - 1 for c in configs], dtype=float)
    var = float(np.dot(n, [own_var[c] for c in configs]) / n.sum())
    df = float(n.sum() * (len(configs) - 1) / len(configs))
    return (max(var, 0.0), df) if math.isfinite(var) else (math.nan, 0.0)


# -- one comparison under the design -------------------------------------------------------------


@dataclass(frozen=True)
class DesignVariance:
    """Variance of one paired mean difference, and where it came from."""

    var: float  # of the mean difference (seed part / n + image part)
    df: float  # Satterthwaite over the parts
    seed_var: float  # of one seed's difference (per-run): pooled 2 sigma^2, or the pair's own
    image_var: float  # of the mean difference, from the finite evaluation set (does not shrink with seeds)
    seed_df: float
    source: str  # "pooled" | "paired"


def comparison_variance(noise: SeedNoise | None, a: Hashable, b: Hashable, diffs: np.ndarray, *,
                        image_var: float = 0.0, n_images: int = 0, own_seed_var: float | None = None) -> DesignVariance:
    """The variance of mean(diffs) (a - b over their shared seeds) under the design: the pooled
    run variance when neither config is flagged, else the pair's own paired differences; plus the
    evaluation set's part ``image_var`` (already divided by N) with N - 1 df, combined by
    Satterthwaite (1946)."""
    n = len(diffs)
    own = float(np.var(diffs, ddof=1)) if own_seed_var is None and n > 1 else (own_seed_var or 0.0)
    if noise is not None and noise.uses_pool(a, b):
        seed_var, seed_df, source = 2.0 * noise.pooled_var, noise.pooled_df, "pooled"
    else:
        seed_var, seed_df, source = own, float(max(n - 1, 1)), "paired"
    seed_part = seed_var / n
    var = seed_part + image_var
    df = satterthwaite([(seed_part, seed_df), (image_var, float(max(n_images - 1, 1)))])
    return DesignVariance(var, df, seed_var, image_var, seed_df, source)


def satterthwaite(parts: Sequence[tuple[float, float]]) -> float:
    """Degrees of freedom of a sum of independent variance estimates (value, df) (Satterthwaite 1946)."""
    total = sum(v for v, _ in parts)
    den = sum(v * v / d for v, d in parts if v > 0 and d > 0)
    if total <= 0 or den <= 0:
        return max((d for v, d in parts if v > 0), default=1.0)
    return float(min(total * total / den, INF_DF * 10))


# -- simultaneous inference ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _hermite() -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(_NODES)
    return z, w / math.sqrt(2 * math.pi)


@functools.lru_cache(maxsize=256)
def _chi_nodes(df: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of s = sqrt(chi2_df / df) (generalised Gauss-Laguerre on chi2 / 2)."""
    from scipy import special

    if df >= INF_DF:
        return np.ones(1), np.ones(1)
    if df > LAGUERRE_MAX_DF:
        # scipy's Gauss-Laguerre weights overflow to inf (then NaN) from about df = 500: use the
        # Wilson-Hilferty cube-root normal approximation of chi2_df / df on Gauss-Hermite nodes
        # (its error at df = 200 is below 1e-6 on the probabilities used here)
        z, wz = _hermite()
        v = 2.0 / (9.0 * df)
        cube = np.clip(1.0 - v + z * math.sqrt(v), 1e-6, None)
        return cube ** 1.5, wz / wz.sum()
    u, w = special.roots_genlaguerre(_NODES, df / 2 - 1)
    w = w / math.gamma(df / 2) if df < 340 else np.exp(np.log(w) - special.gammaln(df / 2))
    return np.sqrt(2 * u / df), w / w.sum()


def simultaneous_probability(c: float, lambdas: Sequence[float], df: float) -> float:
    """P(max_j |T_j| <= c) for a multivariate t with ``df`` degrees of freedom and correlations
    lambda_i * lambda_j (Dunnett 1955's product structure): conditional on the shared normal z
    and the scale s, the m events are independent."""
    from scipy import special

    # equal correlations (equal runs per config) share one factor: the product is a power, so
    # 1,680 comparisons cost as much as one (the same numbers as the full product, to rounding)
    lam, count = np.unique(np.clip(np.asarray(lambdas, dtype=float), 0.0, 0.999), return_counts=True)
    z, wz = _hermite()
    s, ws = _chi_nodes(round(float(df), 3))
    root = np.sqrt(1 - lam**2)[None, None, :]
    cs = (c * s)[:, None, None]
    lz = (lam[None, None, :] * z[None, :, None])
    inside = special.ndtr((cs - lz) / root) - special.ndtr((-cs - lz) / root)
    prob = np.prod(np.clip(inside, 0.0, 1.0) ** count[None, None, :], axis=2)
    return float(np.clip(ws @ prob @ wz, 0.0, 1.0))


def dunnett_p(t_abs: float, lambdas: Sequence[float], df: float) -> float:
    """Single-step adjusted p of a comparison with |t| = ``t_abs`` in a many-to-one family."""
    if not math.isfinite(t_abs):
        return 0.0 if t_abs > 0 else 1.0
    return max(0.0, 1.0 - simultaneous_probability(t_abs, lambdas, df))


def dunnett_critical(lambdas: Sequence[float], df: float, alpha: float) -> float:
    """The c with P(max |T_j| <= c) = 1 - alpha (simultaneous two-sided critical value)."""
    from scipy import stats

    m = len(lambdas)
    if m <= 1:
        return float(stats.t.ppf(1 - alpha / 2, df)) if df < INF_DF else float(stats.norm.ppf(1 - alpha / 2))
    key = (tuple(round(float(x), 3) for x in lambdas), round(float(df), 2), float(alpha))
    return _dunnett_critical(key)


@functools.lru_cache(maxsize=4096)
def _dunnett_critical(key: tuple) -> float:
    from scipy import optimize, stats

    lambdas, df, alpha = key
    high = float(stats.t.ppf(1 - alpha / (2 * len(lambdas)), df)) if df < INF_DF else 10.0
    low = float(stats.norm.ppf(1 - alpha / 2))
    f = lambda c: simultaneous_probability(c, lambdas, df) - (1 - alpha)  # noqa: E731
    if f(high) < 0:
        high *= 2
    return float(optimize.brentq(f, low * 0.5, high + 1e-9, xtol=1e-6))


def tukey_p(t_abs: float, k: int, df: float) -> float:
    """Adjusted p of one pairwise comparison among ``k`` configs: the studentized range
    (``scipy.stats.studentized_range``) at q = sqrt(2) |t|."""
    from scipy import stats

    if k <= 2:
        return float(2 * stats.t.sf(t_abs, df)) if df < INF_DF else float(2 * stats.norm.sf(t_abs))
    if not math.isfinite(t_abs):
        return 0.0
    if df < RANGE_MIN_DF:  # few df: the scale's heavy lower tail needs scipy's adaptive integral (few configs: cheap)
        return float(np.clip(stats.studentized_range.sf(math.sqrt(2) * t_abs, k, df), 0.0, 1.0))
    return float(np.clip(1.0 - studentized_range_cdf(math.sqrt(2) * t_abs, k, min(df, INF_DF)), 0.0, 1.0))


def studentized_range_cdf(q: float, k: int, df: float) -> float:
    """P(range of k standard normals / s <= q), s^2 ~ chi2_df / df, by quadrature: Gauss-Legendre
    over the normal (``_RANGE_NODES`` nodes on +-9) and the scale's nodes of :func:`_chi_nodes`.
    ``scipy.stats.studentized_range.cdf`` integrates the same double integral adaptively (nquad):
    60 ms a call, 100 s for the 1,680 comparisons of a 5,040-trial report; this is under a
    millisecond and agrees with it to 0.1% of the tail probability from ``RANGE_MIN_DF`` df on (tested
    from 3 to 1,680 configs, p down to 1e-6); below that the scale's heavy lower tail needs more
    than these nodes. ``df`` of ``INF_DF`` is taken as that many df, as scipy does, not as infinite."""
    from scipy import special

    z, wz = _range_nodes()
    s, ws = _chi_nodes(round(float(min(df, INF_DF - 1)), 3))
    qs = (q * s)[:, None]
    inside = np.clip(special.ndtr(z)[None, :] - special.ndtr(z[None, :] - qs), 0.0, 1.0)
    inner = (wz[None, :] * k * inside ** (k - 1)).sum(axis=1)
    return float(np.clip(ws @ inner, 0.0, 1.0))


_RANGE_NODES = 256
RANGE_MIN_DF = 30  # below this many df tukey_p uses scipy's studentized_range


@functools.lru_cache(maxsize=1)
def _range_nodes() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes on [-9, 9] with the normal density folded into the weights."""
    x, w = np.polynomial.legendre.leggauss(_RANGE_NODES)
    z = 9.0 * x
    return z, 9.0 * w * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)


@functools.lru_cache(maxsize=4096)
def tukey_critical(k: int, df: float, alpha: float) -> float:
    """The |t| at which a pairwise comparison among ``k`` configs is significant (q / sqrt 2)."""
    from scipy import stats

    if k <= 2:
        return float(stats.t.ppf(1 - alpha / 2, df)) if df < INF_DF else float(stats.norm.ppf(1 - alpha / 2))
    return studentized_critical(1 - alpha, k, min(df, INF_DF))


@functools.lru_cache(maxsize=4096)
def studentized_critical(level: float, k: int, df: float) -> float:
    """The Tukey-Kramer multiplier of a contrast's standard error among ``k`` means at
    simultaneous ``level``: ``q(level; k, df) / sqrt(2)`` (``scipy.stats.studentized_range``), for
    every k and df as given (:func:`tukey_critical` adds the two-config and large-df cases)."""
    from scipy import stats

    return float(stats.studentized_range.ppf(level, k, df)) / math.sqrt(2)


# -- power -----------------------------------------------------------------------------------


def power_two_sided(effect_se: float, df: float, critical: float) -> float:
    """P(|T| > critical) when T is noncentral t with ``df`` and noncentrality ``effect_se``
    (scipy.special's noncentral t CDF: the frozen-distribution layer cost 10x more per call)."""
    return float(_power_vector(np.asarray([effect_se], dtype=float), df, critical)[0])


def flag_probability(configs: int = 2) -> float:
    """Chance, under equal variances, that a comparison of ``configs`` configs falls back to its
    own paired differences because one of them was flagged (each is at HETEROGENEITY_ALPHA)."""
    return 1.0 - (1.0 - HETEROGENEITY_ALPHA) ** configs


def _power_vector(effect_se: np.ndarray, df: float, critical: float) -> np.ndarray:
    from scipy import special

    if df >= INF_DF:
        return special.ndtr(effect_se - critical) + special.ndtr(-critical - effect_se)
    upper = 1.0 - special.nctdtr(df, effect_se, critical)
    lower = special.nctdtr(df, effect_se, -critical)
    upper = np.where(np.isfinite(upper), upper, effect_se > 0)
    lower = np.where(np.isfinite(lower), lower, effect_se < 0)
    return np.minimum(1.0, upper + lower)


Scenario = tuple[float, float, float, float]  # (probability, SE, df, critical |t|)


def expected_power(effect: float, scenarios: Sequence[Scenario], *, assurance: bool = True) -> float:
    """Power to detect ``effect`` averaged over ``scenarios`` (the ways the family may test this
    comparison: on the pooled variance, or on its own paired differences when a config is
    flagged) and, with ``assurance``, over the uncertainty of each variance estimate (the true
    SE is SE_hat * sqrt(df / chi2_df)), so that a stated power holds on average over the studies
    that state it, not only when the estimate happens to be right."""
    from scipy import stats

    total = 0.0
    for weight, se, df, critical in scenarios:
        if weight <= 0:
            continue
        if assurance and df < INF_DF:
            scale = np.sqrt(stats.chi2.ppf((np.arange(32) + 0.5) / 32, df) / df)  # SE_hat / SE_true
        else:
            scale = np.ones(1)
        total += weight * float(np.mean(_power_vector(effect / se * scale, df, critical)))
    return total


def mde(scenarios: Sequence[Scenario], *, power: float = 0.8, assurance: bool = True) -> float:
    """Minimum detectable effect: the smallest effect whose :func:`expected_power` is ``power``
    (noncentral t with the family's simultaneous critical values)."""
    good = [s for s in scenarios if s[0] > 0 and math.isfinite(s[1]) and s[1] > 0]
    if not good:
        return math.nan
    unit = good[0][1]
    key = tuple((round(w, 4), round(se / unit, 4), round(min(df, INF_DF), 1), round(c, 4)) for w, se, df, c in good)
    return unit * _mde_factor(key, power, assurance)


@functools.lru_cache(maxsize=4096)
def _mde_factor(key: tuple, power: float, assurance: bool) -> float:
    from scipy import optimize

    def achieved(d: float) -> float:
        return expected_power(d, key, assurance=assurance) - power

    high = max(c for _, _, _, c in key) + 4.0
    for _ in range(20):
        if achieved(high) >= 0:
            break
        high *= 2
    else:
        return math.inf  # the scenarios cannot reach this power (e.g. a fallback that never rejects)
    return float(optimize.brentq(achieved, 0.0, high, xtol=1e-4))


# -- families ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjusted:
    """A comparison's simultaneous p-value and critical |t| within its family."""

    p: float
    critical: float  # |t| beyond which it is significant at the family's alpha (for its interval)
    method: str  # "Dunnett" | "Bonferroni (paired)" | "Tukey" ...


def many_to_one(t_abs: Sequence[float], variances: Sequence[DesignVariance], baseline_mean_var: float, *,
                alpha: float = 0.05) -> list[Adjusted]:
    """Simultaneous p-values of m comparisons with one baseline.

    Comparisons on the pooled variance share one denominator, so their joint law is the
    multivariate t of Dunnett's test with correlations lambda_i lambda_j, lambda_i^2 = Var(baseline
    mean) / Var(delta_i) (exact under the normal model). A comparison that fell back to its own
    paired differences has a denominator of its own, correlated with the others' through the
    baseline: no multivariate t describes that (it was anti-conservative in the calibration:
    0.076 family-wise at 10 repeats, 0.135 at 3, with the baseline's SD twice the others'), so
    those are Bonferroni. The two parts split alpha in proportion to their sizes (m_pooled / m
    and 1 / m each), which keeps the family-wise error at most alpha."""
    from scipy import stats

    m = len(t_abs)
    pooled = [i for i, v in enumerate(variances) if v.source == "pooled"]
    lambdas = [math.sqrt(min(0.999, max(baseline_mean_var, 0.0) / variances[i].var)) for i in pooled]
    out = []
    for i, (t, v) in enumerate(zip(t_abs, variances)):
        if v.source == "pooled":
            share = len(pooled) / m
            p = min(1.0, dunnett_p(t, lambdas, v.df) / share)
            crit = dunnett_critical(lambdas, v.df, alpha * share)
            out.append(Adjusted(p, crit, "Dunnett" if share == 1 else f"Dunnett over {len(pooled)} of {m}"))
        else:
            p_raw = float(2 * stats.t.sf(t, v.df)) if math.isfinite(t) else 0.0
            crit = float(stats.t.ppf(1 - alpha / (2 * m), v.df))
            out.append(Adjusted(min(1.0, p_raw * m), crit, "Bonferroni (paired)"))
    return out


# -- the resolution of an accuracy ----------------------------------------------------------------

MAX_IMAGES = 200_000  # evaluation sets larger than this are not inferred from the values


def infer_images(values: Sequence[float]) -> int | None:
    """The evaluation set size N behind accuracies ``values`` (each k / N, possibly rounded to
    float32 when stored): the smallest N <= :data:`MAX_IMAGES` that puts every value within
    float32 rounding of a multiple of 1 / N. Needs 3 or more distinct values strictly between
    0 and 1 (fewer fit too many N); None when none fits.

    Written by hand: a studies made by hand, or stored as float32 accuracies without the data
    sizes, still have a one-image resolution, and no library infers a common denominator of
    rounded fractions."""
    x = np.unique(np.asarray([v for v in values if v is not None and math.isfinite(v) and 0 < v < 1], dtype=float))
    if len(x) < 3:
        return None
    x = x[:64]
    tol = 2.0 ** -23 * x + 1e-12  # float32's relative step (and a floor for exact doubles)
    n = np.arange(1, MAX_IMAGES + 1, dtype=float)
    for value, t in zip(x, tol):  # the first few values leave few candidates; the rest filter them
        scaled = n * value
        n = n[np.abs(scaled - np.rint(scaled)) <= n * t + 1e-9]
        if not len(n):
            return None
    return int(n[0])


def float32_step(values: Sequence[float]) -> float:
    """The largest float32 spacing among ``values``: differences within two such steps are
    rounding, not a difference."""
    x = np.asarray([abs(v) for v in values if v is not None and math.isfinite(v)], dtype=np.float32)
    return float(2 * np.spacing(x).max()) if len(x) else 0.0


# Rounding slack of the one-image floor: two float32 steps at 1.0. Accuracies stored as float32 put
# a mean difference of exactly one image off 1/N by up to ~1e-7, which made the race call a
# one-image shift significant at 20 seeds (the sign-flip test) in the calibration.
RESOLUTION_SLACK = 2.0 ** -22


def beyond_resolution(delta: float, resolution: float) -> float:
    """How far |delta| lies beyond the one-image resolution (0: within it, rounding included)."""
    if resolution <= 0:
        return abs(delta)
    return max(abs(delta) - resolution * (1 + 1e-9) - RESOLUTION_SLACK, 0.0)
