"""Comparisons that count both sources of noise: training seeds and the finite evaluation set.

A config's validation accuracy varies with the training seed, and it is measured on N images that
are one draw from the images the config will meet. Repeating seeds shrinks only the first part.
When trials store their per-image correctness (``objectives._per_image``), every repeat of every
config is scored on the same images, so a comparison sees an S x N table (seeds x images) of
per-image differences d[s, i] in {-1, 0, 1} (or of 0/1 outcomes for one config's mean).

**Method: crossed random effects, seeds x images** (Searle, Casella & McCulloch 1992, ch. 4;
the variance that Owen's (2007) "pigeonhole bootstrap" estimates by resampling rows and columns
at once). d[s, i] = mu + a_s + b_i + e_si gives

    Var(mean d) = sigma_seed^2 / S + sigma_image^2 / N + sigma_resid^2 / (S N),

estimated as var(per-seed means) / S (the paired t's variance, unbiased for the first and last
terms) plus sigma_image^2 / N from the two-way ANOVA mean squares (method of moments, truncated
at 0), with the seed part's S - 1 degrees of freedom (conservative; see crossed_variance). The
statistic is t = mean / SE with those df. We chose the analytic form over a two-way bootstrap
because (a) the bootstrap of 3 seeds has only 10 distinct resamples and is too narrow (the same
failure as the BCa interval at small n), while the t form keeps the seed part exact under normal
seed noise; (b) it is cheap enough for every row of every report and for the calibration suite. A
pooled McNemar test over images would ignore seed variation altogether; the paired t over seeds
ignores the images; this form reduces to the paired t when the image component is 0 and to a
(seed-averaged) McNemar-like per-image test when the seed component is 0.

**Resolution.** A difference no larger than one image of the evaluation set (|delta| <= 1/N)
cannot be a finding, whatever its seed-to-seed spread. p-values therefore test the interval null
|mu| <= 1/N (a minimum-effect test, Murphy & Myors 1999) whenever N is known (per-image data, or
the ``data_sizes`` attribute of layerlab trials): p = 2 * P(T > (|delta| - 1/N) / SE), capped at
1. So a one-image difference on every seed is never significant, whatever the number of seeds.

**Degenerate spread.** When the estimated SE is 0 and the difference is not (every seed differs
by exactly the same amount and nothing else is known), the t statistic is infinite; the p-value
is then the exact sign-flip randomisation test over seeds (Fisher 1935): 2 / 2**S, never 0.

Power and equivalence: :func:`power_summary` gives the minimum detectable effect at 80% power
(statsmodels ``TTestPower`` for seed-level rows; the same normal/t approximation with the
variance components when the image term is present, whose floor no number of seeds can remove),
and :func:`equivalence` the two one-sided tests (Schuirmann 1987; statsmodels ``ttost_paired`` on
seed-level data).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from studies._design import beyond_resolution

POWER = 0.8  # the power at which minimum detectable effects are given
MAX_REPEATS = 1000  # "repeats needed" beyond this is reported as unreachable


@dataclass(frozen=True)
class Crossed:
    """Mean of an S x N table and its standard error under the crossed seeds x images model."""

    mean: float
    se: float
    df: float
    seed_var: float  # variance of one seed's mean (sigma_seed^2 + sigma_resid^2 / N): shrinks with S
    image_var: float  # sigma_image^2 / N: does not shrink with more seeds
    seeds: int
    images: int


def crossed_variance(table: np.ndarray, *, satterthwaite: bool = False) -> Crossed:
    """Two-way random-effects (seed x image, no replication) variance of the grand mean of ``table``.

    Written by hand: neither scipy nor statsmodels has the crossed two-way random-effects
    variance of a grand mean (statsmodels' MixedLM fits it only with one grouping factor
    nested, and far too slowly for N = 10,000 images).
    """
    x = np.asarray(table, dtype=float)
    s, n = x.shape
    grand = float(x.mean())
    row, col = x.mean(axis=1), x.mean(axis=0)
    ms_seed = n * float(((row - grand) ** 2).sum()) / (s - 1) if s > 1 else 0.0
    ms_image = s * float(((col - grand) ** 2).sum()) / (n - 1) if n > 1 else 0.0
    if s > 1 and n > 1:
        resid = x - row[:, None] - col[None, :] + grand
        ms_resid = float((resid**2).sum()) / ((s - 1) * (n - 1))
    else:
        ms_resid = 0.0
    # The seed part is the variance of the per-seed means, ms_seed / n = sigma_seed^2 + sigma_resid^2 / n,
    # taken whole (the paired t's own variance): truncating sigma_seed^2 at 0 whenever ms_seed < ms_resid
    # made the interval too narrow at 3 seeds (coverage 0.895 in the calibration). The image part,
    # sigma_image^2 = (ms_image - ms_resid) / s, is truncated at 0.
    seed_var = ms_seed / n
    image_var = max(ms_image - ms_resid, 0.0) / s / n
    var = seed_var / s + image_var
    # Degrees of freedom: S - 1, the seed part's, not Satterthwaite's (1946) combination. With 3
    # seeds Satterthwaite's df follows the many image df and the interval covered only 0.90 in
    # the calibration; the smallest component df is the conservative choice (as Welch's lower
    # bound min(n1 - 1, n2 - 1)), and costs little once there are 5-10 seeds.
    df = float(max(s - 1, 1))
    if satterthwaite and s > 1 and n > 1:
        # For one config's mean (leaderboard) the image part dominates and is estimated with many
        # df: Satterthwaite's combination keeps that interval from being needlessly wide (its
        # coverage in the calibration is in docs/statistics.md).
        w_image = 1.0 if ms_image > ms_resid else 0.0
        terms = [(ms_seed, s - 1), (w_image * ms_image, n - 1), (-w_image * ms_resid, (s - 1) * (n - 1))]
        den = sum(t * t / d for t, d in terms)
        df = max(df, sum(t for t, _ in terms) ** 2 / den) if den > 0 else df
    return Crossed(grand, math.sqrt(max(var, 0.0)), max(df, 1.0), seed_var, image_var, s, n)


def seed_level(diffs: np.ndarray) -> Crossed:
    """The same summary from per-seed values alone (no image term): the one-sample t."""
    x = np.asarray(diffs, dtype=float)
    s = len(x)
    var = float(x.var(ddof=1)) if s > 1 else math.nan
    return Crossed(float(x.mean()), math.sqrt(var / s) if s > 1 else math.nan, float(s - 1), var, 0.0, s, 0)


@dataclass(frozen=True)
class PairedResult:
    """``a - b`` over paired seeds: delta, CI, two-sided p and the noise model used."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    df: float
    n_pairs: int
    n_images: int  # 0: seed-level only
    noise: str  # "seeds + images (crossed)" | "seeds" | "seeds (sign-flip: no spread)" ...
    seed_var: float
    image_var: float
    resolution: float  # 1/N when the evaluation set size is known, else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(
    a: Sequence[float],
    b: Sequence[float],
    *,
    images_a: np.ndarray | None = None,
    images_b: np.ndarray | None = None,
    n_images: int | None = None,
    confidence: float = 0.95,
    resolution: float = 0.0,
) -> PairedResult:
    """Paired comparison of ``a`` and ``b`` (one value per shared seed, same order).

    ``images_a`` / ``images_b``: optional S x N 0/1 tables (per seed, per image correctness on
    the same images, rows in the order of ``a`` / ``b``): the comparison then uses the crossed
    seeds x images variance. ``n_images``: the evaluation set size when only the accuracies are
    known (sets the one-image resolution; no image variance term). ``resolution``: the smallest
    difference the values can express when neither is known (e.g. float32 rounding). See the
    module docstring.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError("compare_paired needs two equally long sequences of 2 or more paired values")
    diffs = a - b
    if images_a is not None and images_b is not None:
        table = np.asarray(images_a, dtype=np.int8) - np.asarray(images_b, dtype=np.int8)
        summary, noise = crossed_variance(table), "seeds + images (crossed random effects)"
        resolution = 1.0 / table.shape[1]
        delta = float(diffs.mean())  # the stored accuracies: equal to table.mean() for layerlab
    else:
        summary, noise = seed_level(diffs), "seeds (paired t)"
        resolution = 1.0 / n_images if n_images else float(resolution)
        delta = summary.mean
    return _finish(delta, summary, diffs, noise, resolution, confidence)


def _finish(
    delta: float, s: Crossed, diffs: np.ndarray, noise: str, resolution: float, confidence: float
) -> PairedResult:
    n = len(diffs)
    excess = beyond_resolution(delta, resolution)  # accuracies are k/N in floating point (float32 too)
    if delta == 0 and s.se == 0:
        return PairedResult(delta, delta, delta, 1.0, 0.0, s.df, n, s.images, noise, s.seed_var, s.image_var,
                            resolution)
    if s.se <= 1e-9 * abs(delta) or not math.isfinite(s.se):
        # every seed moved by the same amount and nothing else varies (up to rounding of floats):
        # the exact sign-flip test
        p = min(1.0, 2.0 / 2**n) if excess > 0 else 1.0
        return PairedResult(delta, delta, delta, p, 0.0, s.df, n, s.images,
                            noise.split(" (")[0] + " (sign-flip test: no spread)",
                            s.seed_var, s.image_var, resolution)
    half = stats.t.ppf(0.5 + confidence / 2, s.df) * s.se
    p = min(1.0, 2 * float(stats.t.sf(excess / s.se, s.df)))
    return PairedResult(delta, delta - half, delta + half, p, s.se, s.df, n, s.images, noise, s.seed_var, s.image_var,
                        resolution)


@functools.lru_cache(maxsize=4096)
def detectable_d(n: int, alpha: float, power: float) -> float:
    """Smallest standardised effect (mean / SD of the paired differences) that a two-sided paired
    t-test over ``n`` pairs detects with ``power`` at ``alpha``: statsmodels ``TTestPower``
    (noncentral t), cached because reports and the calibration ask for the same n many times."""
    from statsmodels.stats.power import TTestPower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(np.atleast_1d(d)[0])


def _repeats_needed(effect: float, r: PairedResult, alpha: float, power: float) -> int | None:
    """Fewest seeds whose comparison detects ``effect`` with ``power`` (None: not reachable)."""
    if not (math.isfinite(effect) and effect > 0) or not (r.seed_var > 0 or r.image_var > 0):
        return None
    if r.image_var == 0:
        # detectable_d(n) * SD falls with n: binary search for the first n that reaches effect
        sd = math.sqrt(r.seed_var)
        if detectable_d(MAX_REPEATS, alpha, power) * sd > effect:
            return None
        low, high = 2, MAX_REPEATS
        while low < high:
            mid = (low + high) // 2
            if detectable_d(mid, alpha, power) * sd <= effect:
                high = mid
            else:
                low = mid + 1
        return low
    for s in range(2, MAX_REPEATS + 1):
        se = math.sqrt(r.seed_var / s + r.image_var)
        df = max(s - 1, 1)
        if (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se <= effect:
            return s
    return None


def power_summary(
    r: PairedResult, *, alpha: float = 0.05, power: float = POWER, effect: float | None = None
) -> dict[str, Any]:
    """Minimum detectable effect (two-sided, ``alpha`` before multiplicity correction, ``power``)
    at this comparison's number of seeds and observed noise, and the seeds needed to detect
    ``effect`` (default: the observed |delta|). With an image term, more seeds cannot push the
    detectable effect below (z_alpha/2 + z_power) * sqrt(image_var): the evaluation set is too
    small for anything smaller."""
    out: dict[str, Any] = {"mde": math.nan, "repeats_needed": None, "effect": None, "mde_floor_images": None}
    if not math.isfinite(r.se):
        return out
    if r.se == 0:  # no spread: the sign-flip test, which detects any shift once 2 / 2**S < alpha
        sign_flip_n = math.ceil(math.log2(2 / alpha) + 1e-12)
        out["mde"] = r.resolution if r.n_pairs >= sign_flip_n else math.inf
        # a shift of one image or less stays below the evaluation set's resolution at any n
        within_floor = beyond_resolution(r.delta, r.resolution) == 0
        out["repeats_needed"] = None if within_floor else max(sign_flip_n, r.n_pairs)
        return out
    if r.image_var == 0:
        out["mde"] = detectable_d(r.n_pairs, alpha, power) * math.sqrt(r.seed_var) + r.resolution
    else:
        out["mde"] = (stats.t.ppf(1 - alpha / 2, r.df) + stats.t.ppf(power, r.df)) * r.se + r.resolution
        out["mde_floor_images"] = ((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * math.sqrt(r.image_var)
                                   + r.resolution)
    target = abs(r.delta) if effect is None else float(effect)
    out["effect"] = target
    out["repeats_needed"] = _repeats_needed(target - r.resolution, r, alpha, power)
    return out


def equivalence(r: PairedResult, margin: float, *, diffs: np.ndarray | None = None) -> float:
    """p-value of the two one-sided tests (TOST, Schuirmann 1987) that |mu| < ``margin``.

    Seed-level rows with raw differences use statsmodels' ``ttost_paired``; rows with the image
    term use the same two t tests with the crossed SE and Satterthwaite df. No spread: the exact
    sign-flip test (p = 1 / 2**S when |delta| < margin)."""
    if not margin > 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin!r}")
    if r.se == 0 or not math.isfinite(r.se):
        return min(1.0, 1.0 / 2**r.n_pairs) if abs(r.delta) < margin else 1.0
    if r.image_var == 0 and diffs is not None and len(diffs) == r.n_pairs:
        from statsmodels.stats.weightstats import ttost_paired

        d = np.asarray(diffs, dtype=float)
        return float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])
    p_low = stats.t.sf((r.delta + margin) / r.se, r.df)
    p_high = stats.t.cdf((r.delta - margin) / r.se, r.df)
    return float(max(p_low, p_high))
