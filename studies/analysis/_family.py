"""A family of comparisons judged together: the verdicts, intervals and power of the ablation and
of the leaderboard's comparisons with the best, on the error term of the whole design.

Each comparison starts as a paired difference (:func:`studies.analysis._stats.compare`: delta, the
per-seed differences, the evaluation-set variance when per-image outcomes are stored, the one-image
resolution). This module replaces its own S - 1 degrees of freedom by the design's
(:mod:`studies._design`: the seed noise pooled over every config of the study, unless the config
is noisier than the pool), and its separate p-value by a simultaneous one:

- ``kind="baseline"``: every variant against its baseline, Dunnett's many-to-one family;
- ``kind="best"``: every config against the best config, Tukey's all-pairs family (the best is
  picked by the same data, so every pair could have produced a false "worse"); a config is never
  "better" than the best.

Everything printed beside a verdict comes from the same test: the interval is the simultaneous
one (delta +- critical x SE, widened by the one-image resolution, so that it excludes 0 exactly
when the verdict is "better" or "worse"); the unadjusted 95% interval is kept in separate,
labelled columns. The minimum detectable effect and the repeats to decide use the noncentral t
with the family's critical value (:func:`studies._design.mde`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from studies import _design as design
from studies.analysis._collect import StudyTable
from studies.analysis._stats import Comparison

POWER = 0.8
MAX_REPEATS = 1000  # "repeats to decide" beyond this is reported as out of reach


def design_noise(table: StudyTable, metric: str = "value") -> design.SeedNoise | None:
    """The study's seed noise on ``metric`` (per-config variances, flags, pooled variance), over
    every config with 2 or more paired runs; None for unpaired studies and fewer than 3 configs."""
    key = f"noise:{metric}"
    if key in table._cache:
        return table._cache[key]
    noise = None
    if table.pairing != "none":
        pairs = table.column("pair")
        values = {}
        for g in table.groups:
            rows = table.row_numbers(g)
            vals = table.values(g, metric)
            by_key: dict[Hashable, float] = {}
            for key_, v in zip(pairs[rows].tolist(), vals.tolist()):
                if math.isfinite(v) and key_ not in by_key:
                    by_key[key_] = v
            values[g] = by_key
        noise = design.seed_noise(values)
    table._cache[key] = noise
    return noise


@dataclass(frozen=True)
class Judged:
    """One comparison judged within its family."""

    delta: float
    se: float
    df: float
    p_value: float | None  # unadjusted (resolution-aware)
    p_adj: float | None
    method: str  # how p_adj was computed ("Dunnett", "Tukey", "Bonferroni (paired)", ...)
    ci_low: float  # simultaneous, widened by the resolution
    ci_high: float
    ci_low_unadjusted: float
    ci_high_unadjusted: float
    critical: float
    noise_source: str  # "pooled" | "paired" | "unpaired" | "none"
    seed_var: float
    image_var: float
    n: int
    resolution: float
    mde: float
    repeats_needed: int | None
    p_equivalence: float | None = None


def judge(
    table: StudyTable,
    comparisons: Sequence[tuple[str, str, Comparison]],
    *,
    kind: str,
    alpha: float = 0.05,
    maximize: bool = True,
    effect: float | None = None,
    margin: float | None = None,
    metric: str = "value",
    bounds: tuple[float, float] | None = None,
) -> list[Judged | None]:
    """Judge ``comparisons`` (variant group, reference group, paired comparison) as one family.
    None for a comparison that could not be tested (too few runs). ``bounds``: the range of a
    difference (intervals are clipped to it). Comparisons by the Wilcoxon signed-rank test keep
    their own rank p-values (no pooled error term exists for ranks), Holm-adjusted against a
    baseline and Bonferroni over all pairs against the best."""
    if any(cmp.test == "wilcoxon" for _, _, cmp in comparisons):
        return _rank_family(table, comparisons, kind=kind, maximize=maximize)
    noise = design_noise(table, metric)
    parts: list[tuple[int, design.DesignVariance]] = []
    for i, (a, b, cmp) in enumerate(comparisons):
        var = _variance(noise, a, b, cmp)
        if var is not None:
            parts.append((i, var))
    out: list[Judged | None] = [None] * len(comparisons)
    if not parts:
        return out
    t_abs = [_excess(comparisons[i][2]) / math.sqrt(v.var) if v.var > 0 else _degenerate(comparisons[i][2])
             for i, v in parts]
    if kind == "baseline":
        base_var = _baseline_mean_var(noise, [comparisons[i] for i, _ in parts])
        adjusted = design.many_to_one(t_abs, [v for _, v in parts], base_var, alpha=alpha)
    elif kind == "best":
        adjusted = _all_pairs(t_abs, [v for _, v in parts], noise, len(table.groups), alpha)
    else:
        raise ValueError(f"unknown family kind {kind!r}; valid: baseline, best")
    p_eq = _equivalence([comparisons[i][2] for i, _ in parts], [v for _, v in parts], margin)
    family = len(parts) if kind == "baseline" else max(len(table.groups) * (len(table.groups) - 1) // 2, 1)
    for slot, ((i, var), t, adj) in enumerate(zip(parts, t_abs, adjusted)):
        cmp = comparisons[i][2]
        se = math.sqrt(var.var)
        p_raw, p_adj = _raw_p(t, var.df), adj.p
        if se == 0:  # no spread and nothing to pool: the exact sign-flip p of compare(), Bonferroni
            p_raw = float(cmp.p_value)
            p_adj = min(1.0, p_raw * family)
        if kind == "best":  # a runner-up is never "better" than the config chosen as best
            worse = cmp.delta < 0 if maximize else cmp.delta > 0
            if not worse:
                p_adj = 1.0
        half = adj.critical * se + cmp.resolution
        t_half = _t_quantile(var.df) * se
        low, high = _clip(cmp.delta - half, cmp.delta + half, bounds)
        low_u, high_u = _clip(cmp.delta - t_half, cmp.delta + t_half, bounds)
        out[i] = Judged(
            delta=cmp.delta, se=se, df=var.df, p_value=p_raw, p_adj=p_adj, method=adj.method,
            ci_low=low, ci_high=high, ci_low_unadjusted=low_u, ci_high_unadjusted=high_u,
            critical=adj.critical, noise_source=var.source if cmp.design == "paired" else cmp.design,
            seed_var=var.seed_var, image_var=var.image_var, n=cmp.n_pairs or min(cmp.n_a, cmp.n_b),
            resolution=cmp.resolution,
            mde=design.mde(_scenarios(var, adj, cmp.n_pairs, var.seed_var / max(cmp.n_pairs, 1), family, alpha))
            + cmp.resolution if se > 0 else math.nan,
            repeats_needed=_repeats_needed(cmp, var, adj, effect, alpha, family),
            p_equivalence=None if p_eq is None else p_eq[slot],
        )
    return out


def _clip(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    if bounds is None:
        return low, high
    return max(low, bounds[0]), min(high, bounds[1])


def _rank_family(table: StudyTable, comparisons: Sequence[tuple[str, str, Comparison]], *, kind: str,
                 maximize: bool) -> list[Judged | None]:
    from studies.analysis._stats import holm

    raw = [cmp.p_value for _, _, cmp in comparisons]
    if kind == "baseline":
        adjusted, method = holm(raw), "Holm (Wilcoxon)"
    else:
        pairs = max(len(table.groups) * (len(table.groups) - 1) // 2, 1)
        adjusted, method = ([None if p is None else min(1.0, p * pairs) for p in raw],
                            "Bonferroni over all pairs (Wilcoxon)")
    out: list[Judged | None] = []
    for (_, _, cmp), p_adj in zip(comparisons, adjusted):
        if p_adj is None:
            out.append(None)
            continue
        if kind == "best" and not (cmp.delta < 0 if maximize else cmp.delta > 0):
            p_adj = 1.0
        out.append(Judged(cmp.delta, math.nan, math.nan, cmp.p_value, p_adj, method, cmp.ci_low, cmp.ci_high,
                          cmp.ci_low, cmp.ci_high, math.nan, "paired", cmp.seed_var, 0.0, cmp.n_pairs, cmp.resolution,
                          math.nan, None))
    return out


def _variance(noise: design.SeedNoise | None, a: str, b: str, cmp: Comparison) -> design.DesignVariance | None:
    if cmp.p_value is None:
        return None
    if cmp.design == "paired" and cmp.diffs:
        diffs = np.asarray(cmp.diffs, dtype=float)
        return design.comparison_variance(noise, a, b, diffs, image_var=cmp.image_var, n_images=cmp.n_images,
                                          own_seed_var=cmp.seed_var if math.isfinite(cmp.seed_var) else None)
    # unpaired (Welch) or a paired test without stored differences: its own SE and df
    se = (cmp.ci_high - cmp.ci_low) / (2 * _t_quantile(cmp.df if math.isfinite(cmp.df) else 1.0)) \
        if math.isfinite(cmp.ci_high - cmp.ci_low) else math.nan
    if not math.isfinite(se):
        return None
    df = cmp.df if math.isfinite(cmp.df) else float(max(min(cmp.n_a, cmp.n_b) - 1, 1))
    return design.DesignVariance(se * se, df, math.nan, 0.0, df, "paired")


def _excess(cmp: Comparison) -> float:
    """|delta| beyond the one-image resolution (the minimum-effect test of _paired)."""
    return design.beyond_resolution(cmp.delta, cmp.resolution)


def _degenerate(cmp: Comparison) -> float:
    """No spread at all: infinitely significant if the difference exceeds the resolution (the
    family then uses the exact sign-flip p-value through ``cmp.p_value``), else 0."""
    return math.inf if _excess(cmp) > 0 else 0.0


def _raw_p(t: float, df: float) -> float:
    from scipy import special

    if not math.isfinite(t):
        return 0.0
    return float(2 * special.stdtr(df, -t)) if df < design.INF_DF else float(2 * special.ndtr(-t))


def _t_quantile(df: float, confidence: float = 0.95) -> float:
    """Two-sided t quantile (scipy.special: called hundreds of times per report)."""
    from scipy import special

    q = 0.5 + confidence / 2
    return float(special.stdtrit(df, q)) if df < design.INF_DF else float(special.ndtri(q))


def _baseline_mean_var(noise: design.SeedNoise | None, comparisons: Sequence[tuple[str, str, Comparison]]) -> float:
    """Var of the baseline's mean, which every many-to-one contrast shares (its correlations).
    Several baselines (one per level of the other parameters) share nothing across levels, so
    the correlation is set to 0 there: by Sidak's inequality that errs on the safe side."""
    references = {b for _, b, _ in comparisons}
    if noise is None or len(references) != 1 or not noise.pooled:
        return 0.0
    n = min(c.n_pairs for _, _, c in comparisons if c.n_pairs) if any(c.n_pairs for _, _, c in comparisons) else 0
    return noise.pooled_var / n if n else 0.0


def _all_pairs(t_abs: Sequence[float], variances: Sequence[design.DesignVariance], noise: design.SeedNoise | None,
               k: int, alpha: float) -> list[design.Adjusted]:
    """Tukey's studentized range for comparisons on the pooled variance, Bonferroni over all
    k(k - 1)/2 pairs for those on their own paired differences; alpha split by their shares of
    the pairs (as in :func:`studies._design.many_to_one`)."""
    flagged = len(noise.flagged) if noise is not None else k
    unflagged = max(k - flagged, 2)
    pairs_all = max(k * (k - 1) // 2, 1)
    pairs_pooled = unflagged * (unflagged - 1) // 2 if noise is not None and noise.pooled else 0
    share = pairs_pooled / pairs_all
    out = []
    for t, v in zip(t_abs, variances):
        if v.source == "pooled" and share > 0:
            p = min(1.0, design.tukey_p(t, unflagged, v.df) / share)
            crit = design.tukey_critical(unflagged, round(v.df, 2), alpha * share)
            out.append(design.Adjusted(p, crit, "Tukey" if share == 1 else f"Tukey over {unflagged} of {k} configs"))
        else:
            p = min(1.0, _raw_p(t, v.df) * pairs_all)
            crit = float(stats.t.ppf(1 - alpha / (2 * pairs_all), v.df))
            out.append(design.Adjusted(p, crit, "Bonferroni over all pairs (paired)"))
    return out


def _equivalence(comparisons: Sequence[Comparison], variances: Sequence[design.DesignVariance],
                 margin: float | None) -> list[float] | None:
    """TOST (Schuirmann 1987) of |mu| < margin on every row, Holm over all of them: the family is
    every row tested, fixed before the data (testing only the rows without a detectable
    difference chose the family after looking, and let 7.8% of studies with every row truly
    1.05 x margin away call one "equivalent")."""
    if margin is None:
        return None
    from studies.analysis._stats import holm

    p = []
    for cmp, v in zip(comparisons, variances):
        se = math.sqrt(v.var)
        if se == 0:
            p.append(min(1.0, 1.0 / 2 ** max(cmp.n_pairs, 1)) if abs(cmp.delta) < margin else 1.0)
            continue
        low = stats.t.sf((cmp.delta + margin) / se, v.df)
        high = stats.t.cdf((cmp.delta - margin) / se, v.df)
        p.append(float(max(low, high)))
    return [float(x) for x in holm(p)]


def _scenarios(var: design.DesignVariance, adj: design.Adjusted, n: int, seed_part: float, family: int,
               alpha: float, *, seed_df: float | None = None, critical: float | None = None) -> list[design.Scenario]:
    """How the family may test this comparison in a study like this one: on the pooled variance,
    or (when one of its two configs is flagged, :func:`studies._design.flag_probability`) on its
    own paired differences with n - 1 df and a Bonferroni critical value. A power statement that
    ignored the fallback promised 80% and delivered 68% in the calibration."""
    image_df = var.df if var.image_var else 1.0
    se = math.sqrt(seed_part + var.image_var)
    df = design.satterthwaite([(seed_part, var.seed_df if seed_df is None else seed_df), (var.image_var, image_df)])
    crit = adj.critical if critical is None else critical
    if var.source != "pooled":
        return [(1.0, se, df, crit)]
    q = design.flag_probability(2)
    paired_df = design.satterthwaite([(seed_part, float(max(n - 1, 1))), (var.image_var, image_df)])
    paired_crit = _t_quantile(paired_df, 1 - alpha / family)
    return [(1.0 - q, se, df, crit), (q, se, paired_df, paired_crit)]


def _repeats_needed(cmp: Comparison, var: design.DesignVariance, adj: design.Adjusted, effect: float | None,
                    alpha: float, family: int) -> int | None:
    """Seeds per config at which this comparison detects ``effect`` (default: the observed
    |delta|) with 80% power, in the same family at that many seeds (a plug-in estimate: its median
    over studies is the truth, measured in benchmarks/calib_design.py); None when no number of
    seeds can (the effect is within the resolution, or the evaluation set's own noise is too
    large)."""
    target = abs(cmp.delta) if effect is None else float(effect)
    target -= cmp.resolution
    n_now = cmp.n_pairs or min(cmp.n_a, cmp.n_b)
    if not (math.isfinite(target) and target > 0 and n_now >= 2 and math.isfinite(var.seed_var)):
        return None
    if var.seed_var <= 0 and var.image_var <= 0:
        return None

    def power_at(n: int) -> float:
        seed_df = var.seed_df * (n - 1) / (n_now - 1) if var.source == "pooled" else float(n - 1)
        df_now = var.df
        df_new = design.satterthwaite([(var.seed_var / n, seed_df), (var.image_var, var.df if var.image_var else 1.0)])
        # the family's critical value at n seeds: rescaled with the t quantile at the new df
        crit = adj.critical * _t_quantile(df_new, 1 - alpha) / _t_quantile(df_now, 1 - alpha)
        scenarios = _scenarios(var, adj, n, var.seed_var / n, family, alpha, seed_df=seed_df, critical=crit)
        return design.expected_power(target, scenarios, assurance=False)

    if power_at(MAX_REPEATS) < POWER:
        return None
    low, high = 2, MAX_REPEATS
    while low < high:
        mid = (low + high) // 2
        if power_at(mid) >= POWER:
            high = mid
        else:
            low = mid + 1
    return low


def as_row(j: Judged | None) -> dict[str, Any]:
    """The columns a judged comparison adds to a table row."""
    if j is None:
        return {"p_adj": None, "correction": "not tested", "mde": math.nan, "repeats_needed": None}
    return {
        "delta_ci_low": j.ci_low, "delta_ci_high": j.ci_high,
        "delta_ci_low_unadjusted": j.ci_low_unadjusted, "delta_ci_high_unadjusted": j.ci_high_unadjusted,
        "p_value": j.p_value, "p_adj": j.p_adj, "correction": j.method, "df": j.df, "se": j.se,
        "noise_source": j.noise_source, "mde": j.mde, "repeats_needed": j.repeats_needed,
    }
