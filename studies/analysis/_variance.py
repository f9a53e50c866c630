"""Sources of variance: how much of a config's run-to-run spread each source of randomness makes.

A study launched with ``--vary`` (a variance design, ``objectives._seeding``) runs, for every
config, one block of repeats per source (``init``, ``order``, ``augment``, ``dropout``, ``split``)
in which that source alone changes and the others stay at a reference seed, as Bouthillier et al.
(2021, *Accounting for Variance in Machine Learning Benchmarks*) measure them. Each trial records
its block (user attribute ``seeds``, ``source``).

Per source ``s``, the runs of block ``s`` give a one-way ANOVA ``y ~ config``; its residual mean
square ``MS_s`` (``df_s`` degrees of freedom) estimates ``sigma_s^2``, the variance one config's
score has when only ``s`` changes, pooled over configs (statsmodels'
``ols("y ~ C(config)").fit().mse_resid``; tests/studies/analysis/test_variance.py checks the two
agree). The share of source ``s`` is ``sigma_s^2 / sum_t sigma_t^2``.

Intervals: the SD's is the chi-square interval. The shares' are generalized confidence
intervals (Weerahandi 1993, *Generalized confidence intervals*, JASA 88): under normal runs
``df_s MS_s / sigma_s^2 ~ chi2(df_s)``, independently across
blocks, so ``R_s = df_s MS_s / U_s`` with ``U_s ~ chi2(df_s)`` is a generalized pivotal quantity for
``sigma_s^2``, and the quantiles of ``R_s / sum_t R_t`` over draws of ``U`` bound the share. For two
sources this is exactly the F interval of the variance ratio. Neither scipy nor statsmodels has
it, so the draws (``scipy.stats.chi2``) and their quantiles are done here. Both use degrees of
freedom adjusted for the runs' kurtosis (:func:`components`), so heavy-tailed runs widen them.
``benchmarks/calib_variance.py`` measures the coverage with known components, also under heavy
tails, per-image noise and configs that differ in their spread.

A ``joint`` block (every source varied at once: a plain repeat whose split moves too); the ratio
of the summed single-source variances to it says whether the sources add up (Bouthillier et al.
found that they need not: one source alone can produce most of the joint spread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from scipy import stats

from objectives.interface import JOINT, SOURCES
from studies.analysis._collect import AnalysisError, StudyTable, collect

# How a source reads in text ("init 45% [30, 60], data order 30% [..]").
SOURCE_NAMES = {"init": "init", "order": "data order", "augment": "augmentation", "dropout": "dropout masks",
                "split": "data split", JOINT: "all together"}
METRICS = {"value": "val", "test": "test"}  # StudyTable column -> column prefix in the table
N_DRAWS = 20_000  # generalized pivotal draws per interval: Monte Carlo error of a 2.5% quantile ~0.1 point


def pooled_variance(groups: Sequence[np.ndarray]) -> tuple[float, int]:
    """Residual mean square and degrees of freedom of the one-way ANOVA ``y ~ config`` over
    ``groups`` (one array of runs per config): the within-config variance pooled over configs.
    Written out because the calibration evaluates it 10^5 times; statsmodels gives the same."""
    ss, df = 0.0, 0
    for g in groups:
        g = _finite(g)
        if len(g) > 1:
            ss += float(((g - g.mean()) ** 2).sum())
            df += len(g) - 1
    return (ss / df if df else float("nan")), df


def _finite(values: Any) -> np.ndarray:
    g = np.asarray(values, dtype=float)
    return g[np.isfinite(g)]


@dataclass(frozen=True)
class Components:
    """Per source: pooled variance ``ms``, its degrees of freedom ``df`` and the kurtosis-adjusted
    ``df_eff`` the intervals use; ``kurtosis``: the pooled excess kurtosis estimate (>= 0)."""

    sources: tuple[str, ...]
    ms: np.ndarray
    df: np.ndarray
    df_eff: np.ndarray
    kurtosis: float


def components(blocks: Mapping[str, Sequence[Any]]) -> Components:
    """``blocks``: source -> one array of runs per config. The pooled variance of each source, and
    degrees of freedom adjusted for the runs' kurtosis.

    Why the adjustment: a variance estimate over ``n`` runs has ``Var(s^2) = sigma^4 (2 / (n - 1) +
    kappa / n)`` for excess kurtosis ``kappa``; the chi-square intervals assume ``kappa = 0`` and
    undercover under heavy tails (t3 runs: 66% at 10 runs, benchmarks/calib_variance.py). Matching
    that variance with a scaled chi-square gives ``df_eff = 2 / (Var(MS) / sigma^4)`` (Bonett 2006's
    idea for one SD, pooled here over configs). ``kappa`` is estimated once from every block's
    within-config residuals (each source scaled by its own variance: one shape for all), unbiased
    for the residuals' reduced kurtosis, and floored at 0, so normal runs keep about their ``df``.
    No library estimates it this way, so it is written here."""
    sources = tuple(blocks)
    cells = [(i, _finite(g)) for i, s in enumerate(sources) for g in blocks[s]]
    cells = [(i, g) for i, g in cells if len(g) > 1]
    fits = [pooled_variance(blocks[s]) for s in sources]
    ms, df = np.array([f[0] for f in fits], dtype=float), np.array([f[1] for f in fits], dtype=float)
    observed, slope, offset = 0.0, 0.0, 0.0
    for i, g in cells:
        n = len(g)
        if ms[i] > 0:
            observed += float((((g - g.mean()) ** 2 / ms[i]) ** 2).sum())
            # E[sum (e / sigma)^4] over a cell = (n - 1) ((n^2 - 3n + 3) beta + 3 (2n - 3)) / n^2
            slope += (n - 1) * (n * n - 3 * n + 3) / n**2
            offset += 3 * (n - 1) * (2 * n - 3) / n**2
    kurtosis = max((observed - offset) / slope - 3.0, 0.0) if slope > 0 else 0.0
    df_eff = np.full(len(sources), np.nan)
    for i in range(len(sources)):
        sizes = np.array([len(g) for j, g in cells if j == i], dtype=float)
        if len(sizes):
            var = (2 * (sizes - 1) + kurtosis * (sizes - 1) ** 2 / sizes).sum() / (sizes - 1).sum() ** 2
            df_eff[i] = 2 / var
    return Components(sources, ms, df, df_eff, kurtosis)


def share_intervals(ms: np.ndarray, df: np.ndarray, *, alpha: float = 0.05, n_draws: int = N_DRAWS,
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimates and generalized confidence intervals of the variance shares.

    ``ms``: mean squares, shape ``(S,)``; ``df``: their (effective) degrees of freedom. Returns
    ``(share, low, high)``, each of shape ``(S,)``."""
    rng = np.random.default_rng(0) if rng is None else rng
    ms, df = np.asarray(ms, dtype=float), np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = ms / ms.sum()
        u = stats.chi2.rvs(df, size=(n_draws, len(df)), random_state=rng)
        r = df * ms / u  # the generalized pivotal quantity of each sigma^2
        pivots = r / r.sum(-1, keepdims=True)
    return share, np.quantile(pivots, alpha / 2, axis=0), np.quantile(pivots, 1 - alpha / 2, axis=0)


def ratio_interval(ms_sum: np.ndarray, df_sum: np.ndarray, ms_joint: float, df_joint: float, *, alpha: float = 0.05,
                   n_draws: int = N_DRAWS, rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """(point, low, high) of ``sum_s sigma_s^2 / sigma_joint^2``, by the same generalized pivots."""
    rng = np.random.default_rng(1) if rng is None else rng
    ms_sum, df_sum = np.asarray(ms_sum, dtype=float), np.asarray(df_sum, dtype=float)
    u = stats.chi2.rvs(df_sum, size=(n_draws, len(df_sum)), random_state=rng)
    u_joint = stats.chi2.rvs(df_joint, size=n_draws, random_state=rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        pivots = (df_sum * ms_sum / u).sum(-1) / (df_joint * ms_joint / u_joint)
        point = ms_sum.sum() / ms_joint
    return float(point), float(np.quantile(pivots, alpha / 2)), float(np.quantile(pivots, 1 - alpha / 2))


def sd_interval(ms: float, df: float, alpha: float = 0.05) -> tuple[float, float]:
    """Chi-square interval of an SD from a mean square with (effective) ``df`` degrees of freedom."""
    if not df or not np.isfinite(ms) or not np.isfinite(df):
        return float("nan"), float("nan")
    return (float(np.sqrt(df * ms / stats.chi2.ppf(1 - alpha / 2, df))),
            float(np.sqrt(df * ms / stats.chi2.ppf(alpha / 2, df))))


@dataclass
class VarianceSources:
    """The variance of a config's score that each source makes alone, and its share of their sum."""

    study_name: str
    design: dict[str, Any]  # vary (blocks run) and per_source (largest block per config)
    rows: pd.DataFrame  # one row per source (see variance_sources)
    joint: dict[str, Any] | None  # the joint block, and the sum / joint ratio with its interval
    alpha: float
    notes: list[str] = field(default_factory=list)

    def text(self, metric: str = "value") -> str:
        """``init 45% [30, 62], data order 30% [15, 51], ...`` (percent of the summed variance)."""
        prefix = METRICS[metric]
        parts = []
        for _, row in self.rows.iterrows():
            share = row[f"{prefix}_share"]
            if not np.isfinite(share):
                parts.append(f"{SOURCE_NAMES[row['source']]} -")
                continue
            parts.append(f"{SOURCE_NAMES[row['source']]} {100 * share:.0f}% "
                         f"[{100 * row[f'{prefix}_share_ci_low']:.0f}, {100 * row[f'{prefix}_share_ci_high']:.0f}]")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "alpha": self.alpha, "sources": self.rows.to_dict("records"),
                "joint": self.joint, "notes": self.notes, "text": {m: self.text(m) for m in METRICS}}


def _blocks(table: StudyTable) -> dict[str, dict[str, dict[str, list[float]]]]:
    """source -> config group -> metric -> runs, from the trials' recorded seeds."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    values, tests, groups = table.column("value"), table.column("test"), table.column("group")
    for i, trial in enumerate(table.trials):
        seeds = trial.user_attrs.get("seeds")
        source = seeds.get("source") if isinstance(seeds, Mapping) else None
        if source not in (*SOURCES, JOINT):
            continue
        runs = out.setdefault(source, {}).setdefault(str(groups[i]), {"value": [], "test": []})
        runs["value"].append(float(values[i]))
        runs["test"].append(float(tests[i]))
    return out


def variance_sources(study: optuna.Study | StudyTable, *, alpha: float = 0.05, n_draws: int = N_DRAWS,
                     seed: int = 0) -> VarianceSources:
    """The sources of variance of a study launched with ``--vary`` (AnalysisError for any other).

    Per source (rows in design order): ``runs``, ``configs``, ``df`` and, per metric (``val_`` the
    objective, ``test_`` the test accuracy), ``df_eff`` (kurtosis-adjusted, see :func:`components`),
    ``sd`` with its chi-square CI, ``share`` of the summed variance with its generalized CI
    (``share_ci_low``/``high``); ``identical``: every run of a config in the block scored the same
    (the source changes nothing for these configs, e.g. dropout in a model without dropout)."""
    table = collect(study)
    blocks = _blocks(table)
    sources = [s for s in SOURCES if s in blocks]
    if not sources:
        raise AnalysisError(f"study {table.study_name!r} has no variance design (no trial records a varied source): "
                            "launch one with --vary, e.g. --vary all --repeats 5")
    rng = np.random.default_rng(seed)
    rows = [{"source": s, "runs": sum(len(r["value"]) for r in blocks[s].values()), "configs": len(blocks[s])}
            for s in sources]
    notes: list[str] = []
    joint: dict[str, Any] | None = {"runs": sum(len(r["value"]) for r in blocks[JOINT].values())} if JOINT in blocks \
        else None
    for metric, prefix in METRICS.items():
        comp = components({s: [r[metric] for r in blocks[s].values()] for s in [*sources, *([JOINT] * bool(joint))]})
        ms, df, df_eff = comp.ms[:len(sources)], comp.df[:len(sources)], comp.df_eff[:len(sources)]
        share = low = high = np.full(len(sources), np.nan)
        if (df > 0).all() and np.isfinite(ms).all() and ms.sum() > 0:
            share, low, high = share_intervals(ms, df_eff, alpha=alpha, n_draws=n_draws, rng=rng)
        elif metric == "value":
            notes.append("no shares: " + ("a source has no block with two runs of one config"
                                          if not (df > 0).all() else "no source changed any score"))
        for row, m, d, de, sh, lo, hi in zip(rows, ms, df, df_eff, share, low, high):
            sd_low, sd_high = sd_interval(m, de, alpha)
            row.update({"df": int(d), f"{prefix}_df_eff": float(de),
                        f"{prefix}_sd": float(np.sqrt(m)) if np.isfinite(m) else np.nan,
                        f"{prefix}_sd_ci_low": sd_low, f"{prefix}_sd_ci_high": sd_high, f"{prefix}_share": float(sh),
                        f"{prefix}_share_ci_low": float(lo), f"{prefix}_share_ci_high": float(hi)})
            if metric == "value":
                row["identical"] = bool(d > 0 and m == 0)
        if joint is not None:
            joint.update(_joint(comp, len(sources), prefix, alpha, n_draws, rng))
    frame = pd.DataFrame(rows)
    for _, row in frame.iterrows():
        if row["identical"]:
            notes.append(f"{SOURCE_NAMES[row['source']]}: every run of a config scored the same, so this source "
                         "changes nothing here (no such randomness in these configs, or a seed it does not read)")
    per_source = max((len(r["value"]) for s in blocks.values() for r in s.values()), default=0)
    design = {"vary": [*sources, *([JOINT] if joint else [])], "per_source": per_source}
    return VarianceSources(table.study_name, design, frame, joint, alpha, notes)


def _joint(comp: Components, n_sources: int, prefix: str, alpha: float, n_draws: int,
           rng: np.random.Generator) -> dict[str, Any]:
    """The joint block's SD and the ratio (sum of the single-source variances) / joint variance."""
    ms_joint, df_joint = comp.ms[n_sources], comp.df_eff[n_sources]
    ms, df = comp.ms[:n_sources], comp.df_eff[:n_sources]
    out: dict[str, Any] = {f"{prefix}_sd": float(np.sqrt(ms_joint)) if np.isfinite(ms_joint) else np.nan}
    out[f"{prefix}_sd_ci_low"], out[f"{prefix}_sd_ci_high"] = sd_interval(ms_joint, df_joint, alpha)
    ratio = (np.nan, np.nan, np.nan)
    if np.isfinite(df_joint) and np.isfinite(df).all() and ms_joint > 0:
        ratio = ratio_interval(ms, df, ms_joint, df_joint, alpha=alpha, n_draws=n_draws, rng=rng)
    out[f"{prefix}_sum_over_joint"], out[f"{prefix}_sum_over_joint_ci_low"], \
        out[f"{prefix}_sum_over_joint_ci_high"] = ratio
    return out


def variance_section(study: optuna.Study | StudyTable, *, alpha: float = 0.05, seed: int = 0):
    """(JSON data, report Section) for a study with a variance design; None for any other."""
    from studies.analysis._format import fmt_interval, fmt_number
    from studies.analysis._sections import Section

    table = collect(study)
    if not table.any_trial_has("seeds") or not _blocks(table):
        return None
    result = variance_sources(table, alpha=alpha, seed=seed)
    pct = 100 * (1 - alpha)
    paras = [
        f"Each source of randomness varied alone, the others held at a reference seed (Bouthillier et al. 2021), "
        f"{result.design['per_source']} runs per source and config. SD: the spread of one config's score "
        f"when only that source changes, pooled over configs (one-way ANOVA residual, {pct:.0f}% chi-square CI). "
        f"Share: that variance as a part of the sum over the sources, with a {pct:.0f}% generalized CI "
        "(exact for two sources). Both assume normal runs and that a source moves every config alike; "
        "benchmarks/calib_variance.py measures the coverage, also when they do not hold (docs/statistics.md).",
        f"Validation accuracy: {result.text('value')}.",
        f"Test accuracy: {result.text('test')}.",
    ]
    if result.joint is not None:
        j = result.joint
        paras.append(
            f"All sources together (joint block, {j['runs']} runs): validation SD {fmt_number(j['val_sd'])}; "
            f"the single sources' variances sum to {fmt_number(j['val_sum_over_joint'])} "
            f"{fmt_interval(j['val_sum_over_joint_ci_low'], j['val_sum_over_joint_ci_high'])} times the joint variance "
            "(1: they add up; below 1: they overlap, each source alone makes much of the spread).")
    paras.append("The leaderboard and verdicts above pool the runs of every block. Each holds all sources but one at "
                 "the reference, so their spread is smaller than plain repeats' (the joint block, when run, measures "
                 "those); the runs stay paired across configs by repeat.")
    paras.extend(f"Note: {n}." for n in result.notes)
    shown = result.rows.drop(columns=["source"])
    shown.insert(0, "varied", [SOURCE_NAMES[s] for s in result.rows["source"]])
    return result.to_dict(), Section("Sources of variance", paras, [shown])
