"""Small statistics over seed repeats: confidence intervals, paired tests, Holm, variance split.

Choices, and why:

- **CI of a mean.** Student-t interval at every n, computed at the guarded level
  ``1 - SKEW_GUARD * (1 - confidence)`` (96.5% for a requested 95%). The BCa bootstrap this module
  used from n = 10 on covered only 89.6% at n = 10 (calibration, docs/statistics.md): a
  bootstrap over few values is too narrow. The plain 95% t interval is exact under normal seed
  noise but covers 93.1-94% under moderately skewed noise (skewness 1, measured at n = 3..20;
  20,000 replicates); the guard restores >= 94.8% there at ~6% more width under normal noise. With
  per-image correctness stored on the trials, the interval is the crossed seeds x images one
  (:mod:`studies.analysis._paired`), so it also covers the finite evaluation set.
- **Paired test.** :func:`compare_paired` (``_paired``): the paired t over seeds, with the
  evaluation-set (image) variance added when trials store per-image correctness, a one-image
  resolution floor, and the exact sign-flip test when nothing varies. The Wilcoxon signed-rank
  test cannot reject at all with few pairs: its smallest two-sided p-value is 2 / 2**n (0.25 with
  3 seeds, 0.0625 with 5); ``test="wilcoxon"`` is available for studies with many seeds. Without a
  shared seed, Welch's t-test (``ttest_ind(equal_var=False)``).
- **Bounded metrics.** Accuracies and fractions lie in [0, 1] (their differences in [-1, 1]), but
  a t interval over 2-3 runs near 1 can reach past 1. Such intervals are clipped to the range
  (``bounds``; :func:`metric_bounds` knows layerlab's metric names) and flagged ``clipped``; the
  coverage of a clipped interval is no lower than the unclipped one's, since the true mean lies in
  the range anyway.
- **Multiple comparisons.** Holm's step-down correction against an explicit baseline.
  Comparisons with the *best* config are selection-aware (:func:`vs_best_adjust`): the best is
  picked by the same data, so a false "worse" can involve any pair of configs; Bonferroni over
  all k(k-1)/2 pairs bounds that family-wise (a conservative stand-in for Tukey's range /
  Hsu's MCB that stays valid for paired, unequal-variance comparisons).
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from studies.analysis._collect import AnalysisError, StudyTable
from studies.analysis._paired import (  # noqa: F401 (re-exported: the paired comparison others reuse)
    PairedResult,
    compare_paired,
    crossed_variance,
    equivalence,
    power_summary,
)

SKEW_GUARD = 0.7  # a mean's t interval is computed at 1 - 0.7 * (1 - confidence): see the docstring
TESTS = ("t", "wilcoxon")
UNIT = (0.0, 1.0)  # range of accuracies, error rates and fractions
SIGNED_UNIT = (-1.0, 1.0)  # range of a difference of two of them
NONNEGATIVE = (0.0, math.inf)
# Metric names (trial user attributes) whose values are known to be bounded; anything else is
# treated as unbounded. The patterns match whole-name endings, e.g. cnn3_test_accuracy.
_UNIT_NAME = re.compile(r"(accuracy|error|fraction|share|rate)$")
_NONNEGATIVE_NAME = re.compile(
    r"(seconds|per_image|per_second|params|flops|images|dropped|epochs|epoch|epochs_run|loss)$"
)

Bounds = tuple[float, float] | None


def metric_bounds(name: str) -> Bounds:
    """The range a metric called ``name`` is known to lie in (None: unknown / unbounded)."""
    if _UNIT_NAME.search(name):
        return UNIT
    if _NONNEGATIVE_NAME.search(name):
        return NONNEGATIVE
    return None


def table_bounds(table: StudyTable, metric: str) -> Bounds:
    """Range of a column of ``table.frame`` (``value``: the objective, ``test``: test accuracy)
    or of a trial user attribute called ``metric``."""
    if metric == "value":
        return table.value_bounds
    if metric == "test":
        return UNIT
    return metric_bounds(metric)


def delta_bounds(a: Bounds, b: Bounds) -> Bounds:
    """The range of ``a - b`` for values in ``a`` and ``b`` (None when it is unbounded on both sides)."""
    if a is None or b is None:
        return None
    low, high = a[0] - b[1], a[1] - b[0]
    return None if math.isinf(low) and math.isinf(high) else (low, high)


def clip(low: float, high: float, bounds: Bounds) -> tuple[float, float, bool]:
    """``(low, high)`` clipped to ``bounds``, and whether clipping changed anything."""
    if bounds is None or not (math.isfinite(low) and math.isfinite(high)):
        return low, high, False
    new_low, new_high = max(low, bounds[0]), min(high, bounds[1])
    return new_low, new_high, (new_low, new_high) != (low, high)


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int
    method: str  # "t" | "bootstrap-bca" | "none (n=1)" | "exact (no spread)"
    clipped: bool = False  # the interval reached past the metric's range and was cut to it


def mean_ci(
    values: Sequence[float], confidence: float = 0.95, *, seed: int = 0, bounds: Bounds = None,
    images: np.ndarray | None = None,
) -> Interval:
    """Mean of ``values`` with a ``confidence`` interval (guarded Student t; the crossed seeds x
    images interval when ``images``, an S x N 0/1 table aligned with ``values``, is given),
    clipped to ``bounds`` (e.g. :data:`UNIT` for an accuracy) when given. ``seed`` is unused
    (kept for callers of the former bootstrap interval)."""
    ci = _mean_ci(values, confidence, images)
    low, high, clipped = clip(ci.low, ci.high, bounds)
    return Interval(ci.mean, low, high, ci.n, ci.method, clipped) if clipped else ci


def _guarded(confidence: float) -> float:
    return 1 - SKEW_GUARD * (1 - confidence)


def _mean_ci(values: Sequence[float], confidence: float, images: np.ndarray | None = None) -> Interval:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "none (no values)")
    mean = float(x.mean())
    level = _guarded(confidence)
    if images is not None and len(images) == n and n >= 2:
        c = crossed_variance(images, satterthwaite=True)
        if c.se > 0:
            half = stats.t.ppf(0.5 + level / 2, c.df) * c.se
            return Interval(mean, mean - half, mean + half, n, "t (seeds + images)")
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, "none (n=1)")
    if np.ptp(x) == 0:
        return Interval(mean, mean, mean, n, "exact (no spread)")
    half = _t_quantile(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, "t")


@functools.lru_cache(maxsize=1024)
def _t_quantile(q: float, df: int) -> float:
    """``stats.t.ppf(q, df)``, once per (q, df): a report asks it for every config with the same few df."""
    return float(stats.t.ppf(q, df))


@dataclass(frozen=True)
class Comparison:
    """``a`` minus ``b``: mean difference, its CI, and a two-sided p-value (None when untested)."""

    delta: float
    ci_low: float
    ci_high: float
    n_a: int
    n_b: int
    n_pairs: int
    design: str  # "paired" | "unpaired" | "none"
    test: str  # "paired t" | "wilcoxon" | "welch t" | "none"
    p_value: float | None
    note: str = ""
    clipped: bool = False  # the CI reached past the range of the difference and was cut to it
    se: float = math.nan  # standard error of delta (paired: seeds, or seeds + images)
    df: float = math.nan
    noise: str = ""  # the noise model of a paired comparison (see _paired.compare_paired)
    n_images: int = 0  # evaluation images in the crossed model (0: seed-level only)
    seed_var: float = math.nan  # per-seed variance of the difference (shrinks with more seeds)
    image_var: float = 0.0  # evaluation-set variance of the difference (does not shrink with seeds)
    resolution: float = 0.0  # one image of the evaluation set (1/N) when known
    diffs: tuple[float, ...] = ()  # per-seed differences of a paired comparison

    def paired(self) -> PairedResult | None:
        """The :class:`PairedResult` of a paired comparison (None otherwise)."""
        if self.design != "paired" or self.p_value is None:
            return None
        return PairedResult(self.delta, self.ci_low, self.ci_high, self.p_value, self.se, self.df, self.n_pairs,
                            self.n_images, self.noise, self.seed_var, self.image_var, self.resolution)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    pairs_a: Sequence[Any] | None = None,
    pairs_b: Sequence[Any] | None = None,
    test: str = "t",
    confidence: float = 0.95,
    bounds: Bounds = None,
    images_a: Mapping[Any, np.ndarray] | None = None,
    images_b: Mapping[Any, np.ndarray] | None = None,
    n_images: int | None = None,
    resolution: float = 0.0,
) -> Comparison:
    """Compare runs ``a`` with runs ``b``, paired by key where both carry the same keys.

    Pairs are the keys present in both (``seed`` in layerlab: repeat r of every config trains with
    seed base + r). With two or more pairs the design is paired (:func:`compare_paired`; with
    ``images_a`` / ``images_b``, per pairing key the 0/1 correctness on the same evaluation
    images, it also counts the evaluation-set noise); otherwise Welch's unpaired t-test when each
    side has two or more runs; otherwise no test (the row says so). ``bounds``: the range of the
    difference (e.g. :data:`SIGNED_UNIT` for accuracies); the CI is clipped to it. ``n_images``:
    the evaluation set size, when known without per-image data (one-image resolution);
    ``resolution``: the smallest expressible difference otherwise.
    """
    if test not in TESTS:
        raise AnalysisError(f"unknown test {test!r}; valid: {', '.join(TESTS)}")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if pairs_a is not None and pairs_b is not None and None not in pairs_a and None not in pairs_b:
        by_a = _by_key(a, pairs_a)
        by_b = _by_key(b, pairs_b)
        shared = [k for k in by_a if k in by_b]
        if len(shared) >= 2:
            diffs = np.array([by_a[k] - by_b[k] for k in shared])
            if test == "wilcoxon":
                ci = mean_ci(diffs, confidence, bounds=bounds)
                return Comparison(ci.mean, ci.low, ci.high, len(a), len(b), len(shared), "paired",
                                  "wilcoxon", _paired_p(diffs, test), clipped=ci.clipped, diffs=tuple(diffs))
            ia = _image_table(images_a, shared)
            ib = _image_table(images_b, shared)
            aligned = ia is not None and ib is not None and ia.shape == ib.shape
            r = compare_paired([by_a[k] for k in shared], [by_b[k] for k in shared],
                               images_a=ia if aligned else None, images_b=ib if aligned else None,
                               n_images=n_images, confidence=confidence, resolution=resolution)
            low, high, clipped = clip(r.ci_low, r.ci_high, bounds)
            return Comparison(r.delta, low, high, len(a), len(b), len(shared), "paired", "paired t", r.p_value,
                              clipped=clipped, se=r.se, df=r.df, noise=r.noise, n_images=r.n_images,
                              seed_var=r.seed_var, image_var=r.image_var, resolution=r.resolution, diffs=tuple(diffs))
    delta = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return Comparison(delta, math.nan, math.nan, len(a), len(b), 0, "none", "none", None,
                          f"too few runs for a test ({len(a)} vs {len(b)}; needs 2 or more each)")
    low, high, clipped = clip(*_welch_ci(a, b, confidence), bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
    if not math.isfinite(p) or (np.ptp(a) == 0 and np.ptp(b) == 0):
        # no spread on either side: the exact permutation test's smallest p, never 0
        p = 1.0 if delta == 0 else min(1.0, 2.0 / math.comb(len(a) + len(b), len(a)))
    return Comparison(delta, low, high, len(a), len(b), 0, "unpaired", "welch t", p,
                      "no shared seeds: unpaired comparison", clipped)


def _image_table(images: Mapping[Any, np.ndarray] | None, keys: Sequence[Any]) -> np.ndarray | None:
    """S x N table of per-image outcomes for ``keys`` (None unless every key has one, equally long)."""
    if not images or any(k not in images for k in keys):
        return None
    rows = [np.asarray(images[k]) for k in keys]
    return np.vstack(rows) if len({len(r) for r in rows}) == 1 else None


def _by_key(values: np.ndarray, keys: Sequence[Any]) -> dict[Any, float]:
    """Value per pairing key (several runs with one key are averaged)."""
    acc: dict[Any, list[float]] = {}
    for v, k in zip(values, keys):
        acc.setdefault(k, []).append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _paired_p(diffs: np.ndarray, test: str) -> float:
    if np.all(diffs == 0):
        return 1.0
    if np.ptp(diffs) == 0:  # a constant shift: the exact sign-flip test, never 0
        return min(1.0, 2.0 / 2 ** len(diffs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "wilcoxon":
            p = stats.wilcoxon(diffs).pvalue
        else:
            p = stats.ttest_1samp(diffs, 0.0).pvalue  # = ttest_rel(a, b) on the paired runs
    return _clean_p(p, float(np.mean(diffs)))


def _clean_p(p: float, delta: float) -> float:
    """A NaN p-value arises only from zero spread: equal -> 1, a constant shift -> 0."""
    if p is None or not math.isfinite(p):
        return 1.0 if delta == 0 else 0.0
    return float(p)


def _welch_ci(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float]:
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    delta = float(a.mean() - b.mean())
    if se == 0:
        return delta, delta
    # Welch-Satterthwaite degrees of freedom
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return delta - half, delta + half


def vs_best_adjust(p_values: Sequence[float | None], k: int) -> list[float | None]:
    """Selection-aware adjustment of the comparisons of each config with the best of ``k``.

    The best is chosen by the same data, so under the null (all configs equal) a "worse" verdict
    is false whichever pair produced it: the family is every pair of the k configs. Bonferroni
    over those k(k-1)/2 pairs bounds the family-wise rate of false "worse" verdicts at alpha,
    for any correlation and unequal variances of the paired differences (a conservative stand-in
    for Tukey's studentized range / Hsu's multiple comparisons with the best, whose exact
    critical values assume a pooled, equal variance that paired seed differences lack).
    """
    m = max(k * (k - 1) // 2, 1)
    return [None if p is None else min(1.0, m * float(p)) for p in p_values]


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None entries stay None and do not count).

    Written by hand: scipy has only Benjamini-Hochberg and statsmodels is not a dependency.
    Sort the m p-values ascending; the i-th (0-based) gets (m - i) * p, kept monotone and <= 1.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        out[i] = running
    return out


def verdict(comparison: Comparison, p_adjusted: float | None, *, alpha: float, maximize: bool) -> str:
    """Plain words: better / worse / no detectable difference (or why there was no test)."""
    if p_adjusted is None:
        return f"not tested: {comparison.note or 'too few runs'}"
    if p_adjusted >= alpha:
        return "no detectable difference"
    higher = comparison.delta > 0
    return "better" if higher == maximize else "worse"


# -- variance split ------------------------------------------------------------------------------


def variance_components(groups: Sequence[Sequence[float]], confidence: float = 0.95) -> dict[str, Any]:
    """One-way random-effects ANOVA of values grouped by config.

    Between-config variance sigma_b^2 = (MSB - MSW) / n0 (truncated at 0), within-config (seed)
    variance sigma_w^2 = MSW, n0 the average group size corrected for imbalance. The config share
    sigma_b^2 / (sigma_b^2 + sigma_w^2) is ICC(1). Its CI is the F-based interval of Shrout & Fleiss
    (1979) / McGraw & Wong (1996), exact for balanced designs, approximate otherwise; no scipy
    function computes it, hence written here. The F test is ``scipy.stats.f_oneway``.
    """
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    k = len(arrays)
    sizes = np.array([len(g) for g in arrays])
    n_total = int(sizes.sum())
    out: dict[str, Any] = {"n_configs": k, "n_trials": n_total}
    if k < 2:
        return {**out, "available": False, "reason": f"needs 2 or more configs (the study has {k})"}
    if n_total - k < 1:
        return {**out, "available": False,
                "reason": "every config has a single run: seed noise cannot be separated from config effects"}
    grand = np.concatenate(arrays).mean()
    means = np.array([g.mean() for g in arrays])
    ss_between = float((sizes * (means - grand) ** 2).sum())
    ss_within = float(sum(((g - g.mean()) ** 2).sum() for g in arrays))
    df_b, df_w = k - 1, n_total - k
    msb, msw = ss_between / df_b, ss_within / df_w
    n0 = (n_total - (sizes**2).sum() / n_total) / df_b
    sigma_b2 = max(0.0, (msb - msw) / n0)
    total = sigma_b2 + msw
    share = sigma_b2 / total if total > 0 else math.nan
    if msw == 0:
        f_stat, p, low, high = (math.inf if msb > 0 else math.nan), (0.0 if msb > 0 else 1.0), share, share
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f_stat, p = (float(v) for v in stats.f_oneway(*arrays))
        alpha = 1 - confidence
        f_low = f_stat / stats.f.ppf(1 - alpha / 2, df_b, df_w)
        f_high = f_stat * stats.f.ppf(1 - alpha / 2, df_w, df_b)
        low = min(1.0, max(0.0, (f_low - 1) / (f_low + n0 - 1)))
        high = min(1.0, max(0.0, (f_high - 1) / (f_high + n0 - 1)))
    return {
        **out,
        "available": True,
        "between_config_variance": sigma_b2,
        "within_config_variance": msw,
        "config_share": share,
        "config_share_ci_low": low,
        "config_share_ci_high": high,
        "seed_noise_sd": math.sqrt(msw),
        "between_config_sd": math.sqrt(sigma_b2),
        "f_statistic": f_stat,
        "p_value": p,
        "method": "one-way random-effects ANOVA; config share = ICC(1) with F-based CI",
    }


def blocked_components(matrix: np.ndarray) -> dict[str, Any]:
    """Two-way ANOVA without replication of a complete (configs x seeds) table.

    Repeat r of every layerlab config trains with the same seed, so part of the seed noise is
    shared by all configs (a lucky split or initialisation lifts them all); paired tests cancel
    that part. Components (random effects, truncated at 0): config, seed (shared), and residual
    (the config-by-seed interaction, the noise a paired comparison still sees).
    """
    k, s = matrix.shape
    if k < 2 or s < 2:
        return {"available": False, "reason": "needs 2 or more configs and 2 or more shared seeds"}
    grand = matrix.mean()
    row, col = matrix.mean(axis=1), matrix.mean(axis=0)
    ss_config = s * float(((row - grand) ** 2).sum())
    ss_seed = k * float(((col - grand) ** 2).sum())
    ss_resid = float(((matrix - row[:, None] - col[None, :] + grand) ** 2).sum())
    ms_config, ms_seed = ss_config / (k - 1), ss_seed / (s - 1)
    ms_resid = ss_resid / ((k - 1) * (s - 1))
    config_var = max(0.0, (ms_config - ms_resid) / s)
    seed_var = max(0.0, (ms_seed - ms_resid) / k)
    total = config_var + seed_var + ms_resid
    share = (lambda v: v / total if total > 0 else math.nan)
    return {
        "available": True,
        "configs": k,
        "seeds": s,
        "config_variance": config_var,
        "shared_seed_variance": seed_var,
        "residual_variance": ms_resid,
        "config_share": share(config_var),
        "shared_seed_share": share(seed_var),
        "residual_share": share(ms_resid),
        "paired_noise_sd": math.sqrt(ms_resid),
        "method": "two-way ANOVA without replication (config x seed), random-effects components",
    }


# -- per-image data of a study -------------------------------------------------------------------


def eval_images(table: StudyTable, group: str, metric: str = "value") -> tuple[dict[Any, np.ndarray], str] | None:
    """Per pairing key, the 0/1 per-image correctness of ``group``'s trials on the images behind
    ``metric`` (``value``: validation, ``test``: test), and the key that says which images they
    are; None when any trial lacks it or its accuracy does not match the stored metric (then
    the metric is not an accuracy over those images)."""
    from objectives.interface import PER_IMAGE_ATTRS, unpack_correct

    attr = PER_IMAGE_ATTRS.get(metric)
    if attr is None or table.pairing == "none" or not table.any_trial_has(attr):
        return None
    rows = table.row_numbers(group)
    out: dict[Any, np.ndarray] = {}
    keys = set()
    for idx, pair, value in zip(rows.tolist(), table.column("pair")[rows].tolist(),
                                table.values(group, metric).tolist()):
        got = unpack_correct(table.trials[idx].user_attrs.get(attr))
        if got is None or pair in out or not math.isfinite(value) or abs(float(got[0].mean()) - value) > 1e-6:
            return None
        out[pair], key = got
        keys.add(key)
    return (out, keys.pop()) if len(keys) == 1 else None


def eval_size(table: StudyTable, group: str, metric: str = "value") -> int | None:
    """The number of evaluation images behind ``metric`` (layerlab's ``data_sizes``), when known."""
    split = {"value": "val", "test": "test"}.get(metric)
    if split is None or (metric == "value" and table.value_bounds != UNIT):
        return None
    sizes = {(table.trials[i].user_attrs.get("data_sizes") or {}).get(split) for i in table.row_numbers(group)}
    size = sizes.pop() if len(sizes) == 1 else None
    if isinstance(size, int) and size > 0:
        return int(size)
    if sizes or size is not None:
        return None  # configs scored on different sets: no common resolution
    return inferred_size(table, metric)


def inferred_size(table: StudyTable, metric: str = "value") -> int | None:
    """The evaluation set size inferred from the stored accuracies of the whole study (each is
    k / N; :func:`studies._design.infer_images`), once per table; None when they fit no N."""
    from studies._design import infer_images

    key = f"inferred_size:{metric}"
    if key not in table._cache:
        column = "value" if metric == "value" else "test"
        table._cache[key] = infer_images(table.frame[column].to_numpy(dtype=float).tolist())
    return table._cache[key]


def value_resolution(table: StudyTable, metric: str = "value") -> float:
    """The smallest difference an accuracy column can express when its set size is unknown: two
    float32 steps (accuracies stored as float32 differ by rounding even when equal)."""
    from studies._design import float32_step

    if table_bounds(table, metric) != UNIT:
        return 0.0
    key = f"value_resolution:{metric}"  # once per table: it was a pass over every trial per comparison
    if key not in table._cache:
        column = "value" if metric == "value" else "test"
        table._cache[key] = float32_step(table.frame[column].to_numpy(dtype=float).tolist())
    return table._cache[key]
