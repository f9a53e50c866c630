"""Which choices mattered in a sampled study (TPE, random search): one effect per choice, from a
model fitted to the samples.

A sampled study has no baseline config to ablate and its configs differ in every parameter at
once, so "each config against the best" says nothing about the choices. Here each config's mean
objective (over its seed repeats) is regressed on its parameters (statsmodels OLS)::

    mean ~ C(optimizer, ref) + C(init, ref) + x_lr + x_lr^2 + x_dropout + x_dropout^2 + ...

- **a categorical parameter** (or a grid's numeric choices: at most ``MAX_FACTOR_LEVELS`` values,
  not sampled from a float or int range) gets
  one effect per level against a reference level: the preset's baseline value when it names one,
  else the level most configs sampled (the most precise reference);
- **a numeric parameter** is scaled to [-1, 1] over its searched range (log10 scale when it is
  sampled on a log scale): its *trend* is the fitted change from the low to the high end of the
  range, and its *curvature* (added while the residual keeps ``MIN_RESIDUAL_DF`` degrees of
  freedom) the fitted middle minus the mean of the two ends: a learning rate with an optimum
  inside its range shows little trend and a positive curvature;
- every effect is adjusted for the others, which is the point: TPE samples the choices together
  (a good optimizer with a good learning rate), so a level's raw mean difference is confounded,
  and the regression removes what the other parameters explain (measured in
  benchmarks/calib_choices.py).

**Config as a group.** Repeats of one config share its parameters, so they are not independent
samples of the parameters' effects; a mixed model with a random intercept per config is the
textbook fit. With the parameters constant within a config, its fixed effects are the OLS fit of
the config means when repeats are balanced (and close to it otherwise), and the residual of the
means holds both the seed noise and what the model does not explain, which is the right error for
an effect of a choice (checked against ``statsmodels`` MixedLM in the tests; the OLS on means is
faster and does not fail to converge on 20 configs).

**Simultaneous verdicts.** Every effect is tested at once: the single-step max-t test (Hothorn,
Bretz & Westfall 2008) over the effects' joint t distribution (their correlation is the fit's
covariance), so the chance that any effect of a study where nothing matters is called "better" or
"worse" is at most alpha, and the interval printed beside each verdict (effect +- critical x SE)
excludes 0 exactly when the verdict does. The max-|t| distribution is drawn by Monte Carlo with a
fixed seed (``DRAWS`` draws; standard error of a p-value near 0.05: 0.0015): scipy's
``multivariate_t.cdf`` integrates a box by randomised quasi-Monte Carlo per call and has no
quantile, and neither scipy nor statsmodels has the max-t adjustment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import FloatDistribution, IntDistribution

from studies import _design as design
from studies.analysis._anova import MAX_FACTOR_LEVELS
from studies.analysis._collect import StudyTable, collect

MIN_RESIDUAL_DF = 10  # curvature terms are added only while the residual keeps this many df
MIN_FIT_DF = 3  # fewer residual df than this: no model (the t quantiles explode)
DRAWS = 20_000  # Monte Carlo draws of the max-|t| null distribution
POWER = 0.8
MAX_CONFIGS = 100_000  # "configs to decide" beyond this is reported as out of reach


def sampled(table: StudyTable) -> bool:
    """Is this a sampled study (TPE, random search) rather than a grid? The preset says so when
    there is one; a study made by hand is sampled when some numeric parameter takes more values
    than a grid would (more than ``MAX_FACTOR_LEVELS``)."""
    if table.spec is not None:
        return table.spec.sampler != "grid"
    for name in table.param_names():
        values = {repr(t.params[name]) for t in table.trials if name in t.params}
        numeric = all(isinstance(t.params.get(name), (int, float)) and not isinstance(t.params.get(name), bool)
                      for t in table.trials if name in t.params)
        if numeric and len(values) > MAX_FACTOR_LEVELS:
            return True
    return False


def choice_effects(study: optuna.Study | StudyTable, *, alpha: float = 0.05, seed: int = 0,
                   reference: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per-choice effects of a sampled study (see the module docstring).

    Returns ``{"available", "reason", "rows" (DataFrame: verdict, parameter, contrast, kind,
    effect, effect_ci_low/high (simultaneous), p_adj, p_value, effect_ci_*_unadjusted, se, mde,
    configs_needed, n_configs), "reference", "left_out", "formula", "n_configs", "residual_df",
    "critical", "correction", "method", "noise", "lines"}``. ``reference``: the level each
    categorical parameter is compared with (default: the preset's baseline, else the level most
    configs sampled)."""
    from studies.analysis._importance import _inputs

    table = collect(study)
    inputs = _inputs(table)
    out: dict[str, Any] = {"available": False, "reason": "", "rows": pd.DataFrame(), "reference": {},
                           "left_out": dict(inputs.left_out), "n_configs": inputs.n_configs,
                           "correction": "max-t", "alpha": alpha, "lines": []}
    if not inputs.evaluated:
        out["reason"] = "no parameter varies across the completed configs"
        out["lines"] = lines(out)
        return out
    means = inputs.means()
    counts = np.bincount(inputs.row_config, minlength=inputs.n_configs)
    base = dict(table.spec.baseline) if table.spec is not None and table.spec.baseline else {}
    base.update(reference or {})
    columns, terms = _columns(inputs, base, out["reference"])
    n = inputs.n_configs
    linear = [t for t in terms if t["kind"] != "curvature"]
    if n - 1 - len(linear) < MIN_FIT_DF:
        out["reason"] = (f"{n} configs for {len(linear)} effects: the model needs at least "
                         f"{len(linear) + 1 + MIN_FIT_DF} configs (sample more configs, or fix some parameters)")
        out["lines"] = lines(out)
        return out
    kept = _estimable(np.column_stack([np.ones(n)] + [columns[t["column"]] for t in linear]))
    dropped = [t for t, ok in zip(linear, kept[1:]) if not ok]
    terms = [t for t in linear if t not in dropped] + [t for t in terms if t["kind"] == "curvature"]
    for t in dropped:
        out["left_out"][f"{t['parameter']} ({t['contrast']})"] = "not estimable: aliased with other parameters' effects"
    terms = _with_curvature(terms, n)
    x = np.column_stack([np.ones(n)] + [columns[t["column"]] for t in terms])
    import statsmodels.api as sm

    fit = sm.OLS(means, x).fit()
    df = float(fit.df_resid)
    cov = np.asarray(fit.cov_params())[1:, 1:]
    scale = np.array([t["scale"] for t in terms])
    effect = np.asarray(fit.params)[1:] * scale
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) * np.abs(scale)
    t_stat = np.divide(effect, se, out=np.zeros_like(effect), where=se > 0)
    p_adj, critical = _max_t(t_stat, cov, df, alpha, seed)
    from scipy import special

    p_raw = 2 * special.stdtr(df, -np.abs(t_stat))
    t_95 = float(special.stdtrit(df, 0.975))
    rows = []
    for i, t in enumerate(terms):
        decided = p_adj[i] < alpha
        rows.append({
            "verdict": _word(t["kind"], effect[i], decided, table.maximize), "parameter": t["parameter"],
            "contrast": t["contrast"], "kind": t["kind"], "effect": float(effect[i]),
            "effect_ci_low": float(effect[i] - critical * se[i]), "effect_ci_high": float(effect[i] + critical * se[i]),
            "p_adj": float(p_adj[i]),
            "configs_needed": None if decided else _configs_needed(effect[i], se[i], df, critical, n, len(terms)),
            "p_value": float(p_raw[i]), "effect_ci_low_unadjusted": float(effect[i] - t_95 * se[i]),
            "effect_ci_high_unadjusted": float(effect[i] + t_95 * se[i]), "se": float(se[i]),
            "mde": design.mde([(1.0, float(se[i]), df, critical)]) if se[i] > 0 else math.nan,
            "n_configs": t["n_configs"],
        })
    frame = pd.DataFrame(rows)
    first = frame.groupby("parameter", sort=False)["p_adj"].transform("min")
    frame = frame.assign(_first=first).sort_values(["_first", "parameter"], kind="stable").drop(columns="_first")
    frame = frame.reset_index(drop=True)
    out.update({
        "available": True, "rows": frame, "residual_df": df, "critical": critical, "n_trials": int(counts.sum()),
        "residual_sd": float(math.sqrt(fit.scale)),
        "formula": "mean objective per config ~ " + " + ".join(dict.fromkeys(t["term"] for t in terms)),
        "method": (f"OLS of each config's mean objective on its parameters ({n} configs, {df:g} residual df); "
                   f"simultaneous over the {len(terms)} effects by the single-step max-t test (Monte Carlo, {DRAWS:,} "
                   "draws)"),
        "noise": _noise_split(table, fit.scale, counts),
    })
    out["lines"] = lines(out, maximize=table.maximize)
    return out


def _columns(inputs, base: Mapping[str, Any], reference: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Model columns per config and one term per effect: level dummies, trend (x in [-1, 1]),
    curvature (x^2, centred)."""
    columns: dict[str, np.ndarray] = {}
    terms: list[dict[str, Any]] = []
    for p in inputs.evaluated:
        raw = [c[p] for c in inputs.config_params]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
        levels = list(dict.fromkeys(repr(v) for v in raw))
        dist = inputs.distributions.get(p)
        sampled_number = isinstance(dist, (FloatDistribution, IntDistribution)) and len(levels) >= 3
        if numeric and (sampled_number or len(levels) > MAX_FACTOR_LEVELS):
            x, span = _scaled(np.asarray(raw, dtype=float), inputs.distributions.get(p))
            columns[f"{p}:trend"] = x
            columns[f"{p}:curvature"] = x**2 - np.mean(x**2)
            terms.append({"parameter": p, "contrast": f"trend over {span}", "kind": "trend", "column": f"{p}:trend",
                          "term": f"{p} (trend)", "scale": 2.0, "n_configs": len(raw)})  # high end minus low end
            terms.append({"parameter": p, "contrast": "middle minus ends", "kind": "curvature",
                          "column": f"{p}:curvature", "term": f"{p} (curvature)", "scale": -1.0, "n_configs": len(raw)})
            continue
        by_level = {r: v for r, v in zip((repr(v) for v in raw), raw)}
        ordered = _level_order(p, list(by_level.values()), inputs.distributions.get(p))
        counts = {repr(v): sum(repr(w) == repr(v) for w in raw) for v in ordered}
        wanted = [v for v in ordered if p in base and _same(v, base[p])]
        ref = wanted[0] if wanted else max(ordered, key=lambda v: counts[repr(v)])  # max: first of the most sampled
        reference[p] = ref
        for v in ordered:
            if repr(v) == repr(ref):
                continue
            name = f"{p}={v!r}"
            columns[name] = np.array([1.0 if repr(w) == repr(v) else 0.0 for w in raw])
            terms.append({"parameter": p, "contrast": f"{_show(v)} vs {_show(ref)}", "kind": "level", "column": name,
                          "term": f"C({p}, ref={_show(ref)})", "scale": 1.0, "n_configs": counts[repr(v)]})
    return columns, terms


def _level_order(p: str, values: list[Any], dist: Any) -> list[Any]:
    choices = getattr(dist, "choices", None)
    if choices is not None:
        index = {repr(c): i for i, c in enumerate(choices)}
        return sorted(values, key=lambda v: index.get(repr(v), len(index)))
    try:
        return sorted(values)
    except TypeError:
        return values


def _same(a: Any, b: Any) -> bool:
    from studies.analysis._collect import same_value

    return same_value(a, b)


def _show(value: Any) -> str:
    from studies.analysis._format import fmt_value

    return fmt_value(value)


def _scaled(x: np.ndarray, dist: Any) -> tuple[np.ndarray, str]:
    """``x`` mapped to [-1, 1] over its searched range (the distribution's, else the sampled one;
    log10 when sampled on a log scale) and the range in words."""
    low, high = (getattr(dist, "low", None), getattr(dist, "high", None)) if dist is not None else (None, None)
    if low is None or high is None or not high > low:
        low, high = float(np.min(x)), float(np.max(x))
    log = bool(getattr(dist, "log", False)) and low > 0 and bool(np.all(x > 0))
    f = np.log10 if log else (lambda v: v)
    lo, hi = float(f(low)), float(f(high))
    if hi <= lo:
        return np.zeros_like(x), f"{_show(low)}"
    span = f"{_show(float(low))} to {_show(float(high))}" + (" (log scale)" if log else "")
    return 2 * (f(x) - lo) / (hi - lo) - 1, span


def _estimable(x: np.ndarray) -> list[bool]:
    """Which columns add rank, in order (an aliased effect cannot be estimated)."""
    kept: list[bool] = []
    basis = np.zeros((x.shape[0], 0))
    for j in range(x.shape[1]):
        trial = np.column_stack([basis, x[:, j]])
        ok = np.linalg.matrix_rank(trial, tol=1e-8 * max(1.0, float(np.abs(trial).max()))) > basis.shape[1]
        kept.append(bool(ok))
        if ok:
            basis = trial
    return kept


def _with_curvature(terms: list[dict], n: int) -> list[dict]:
    """The linear terms, plus each curvature term while the residual keeps MIN_RESIDUAL_DF df."""
    out = [t for t in terms if t["kind"] != "curvature"]
    for t in terms:
        if t["kind"] == "curvature" and n - 1 - (len(out) + 1) >= MIN_RESIDUAL_DF:
            at = max(i for i, s in enumerate(out) if s["parameter"] == t["parameter"]) + 1
            out.insert(at, t)
    return out


def _max_t(t_stat: np.ndarray, cov: np.ndarray, df: float, alpha: float, seed: int) -> tuple[np.ndarray, float]:
    """Single-step max-t adjusted p-values and the simultaneous critical |t|: ``p_adj < alpha``
    exactly when ``|t| > critical``."""
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = cov / np.outer(sd, sd)
    w, v = np.linalg.eigh((corr + corr.T) / 2)
    root = v * np.sqrt(np.clip(w, 0, None))
    rng = np.random.default_rng(20_261_205 + seed)
    z = rng.standard_normal((DRAWS, len(t_stat))) @ root.T
    s = np.sqrt(rng.chisquare(df, DRAWS) / df) if df < design.INF_DF else np.ones(DRAWS)
    m = np.sort(np.abs(z).max(axis=1) / s)[::-1]  # descending
    beaten = np.searchsorted(-m, -np.abs(t_stat), side="right")  # draws with max|T| >= |t|
    p_adj = (beaten + 1) / (DRAWS + 1)
    # (#{M >= |t|} + 1) / (N + 1) < alpha  <=>  #{M >= |t|} <= K  <=>  |t| > M_(K) (0-based, descending)
    k = math.ceil(alpha * (DRAWS + 1)) - 2
    return np.minimum(p_adj, 1.0), float(m[max(k, 0)])


def _configs_needed(effect: float, se: float, df: float, critical: float, n: int, k: int) -> int | None:
    """Sampled configs (at the current repeats each) at which this effect would be detected with
    80% power, if it is the true one: the SE shrinks as 1 / sqrt(configs) and the critical value
    follows the t quantile at the new df. A plug-in guide, like the ablation's repeats to decide."""
    from scipy import special

    if not (se > 0 and abs(effect) > 0 and math.isfinite(effect)):
        return None

    def power(m: int) -> float:
        df_m = m - 1 - k
        crit = critical * float(special.stdtrit(df_m, 0.975)) / float(special.stdtrit(df, 0.975))
        return design.power_two_sided(abs(effect) / (se * math.sqrt(n / m)), df_m, crit)

    low, high = n + 1, MAX_CONFIGS
    if power(high) < POWER:
        return None
    while low < high:
        mid = (low + high) // 2
        if power(mid) >= POWER:
            high = mid
        else:
            low = mid + 1
    return low


def _word(kind: str, effect: float, decided: bool, maximize: bool) -> str:
    if not decided:
        return "no detectable effect"
    good = (effect > 0) == maximize
    if kind == "level":
        return "better" if good else "worse"
    if kind == "trend":
        return "better higher" if good else "better lower"
    return "better in the middle" if good else "better at the ends"


def _noise_split(table: StudyTable, residual_var: float, counts: np.ndarray) -> dict[str, Any]:
    """How much of the residual variance of the config means is seed noise (more repeats shrink
    it) and how much the model leaves unexplained (only more configs help)."""
    from studies.analysis._family import design_noise

    noise = design_noise(table)
    if noise is not None and noise.pooled:
        seed_var = noise.pooled_var
    else:
        groups = [table.values(g) for g in table.groups]
        dof = sum(len(v) - 1 for v in groups if len(v) > 1)
        seed_var = sum(float(np.var(v, ddof=1)) * (len(v) - 1) for v in groups if len(v) > 1) / dof if dof else math.nan
    if not math.isfinite(seed_var) or residual_var <= 0:
        return {"available": False}
    per_mean = seed_var * float(np.mean(1.0 / counts))
    share = min(1.0, per_mean / residual_var)
    return {"available": True, "seed_share": share, "seed_var_per_mean": per_mean, "residual_var": residual_var}


def lines(result: Mapping[str, Any], *, maximize: bool = True) -> list[str]:
    """Sentences for the report and the terminal: what mattered, what is undecided."""
    from studies.analysis._format import fmt_interval, fmt_number, fmt_p

    if not result.get("available"):
        return [f"No per-choice effects: {result.get('reason')}."]
    rows = result["rows"]
    decided = rows[rows["verdict"] != "no detectable effect"]
    out = []

    def effect(r) -> str:
        sign = "+" if r["effect"] > 0 else ""
        return (f"{r['parameter']} {r['contrast']}: {sign}{fmt_number(r['effect'])} "
                f"{fmt_interval(r['effect_ci_low'], r['effect_ci_high'])}, p (max-t) {fmt_p(r['p_adj'])}")

    if len(decided):
        out.append(f"Choices that mattered ({len(decided)} of {len(rows)} effects, simultaneous at alpha = "
                   f"{result['alpha']}): " + "; ".join(f"{effect(r)}: {r['verdict']}" for _, r in decided.iterrows())
                   + ".")
    else:
        out.append(f"No choice had a detectable effect ({len(rows)} effects, simultaneous at alpha = "
                   f"{result['alpha']}).")
    quiet = rows[rows["verdict"] == "no detectable effect"]
    if len(quiet):
        parts = []
        for name, group in quiet.groupby("parameter", sort=False):
            every = len(group) == int((rows["parameter"] == name).sum())
            parts.append(name if every else "; ".join(f"{name} {c}" for c in group["contrast"]))
        out.append("Undecided (no detectable effect, which is not evidence of none): " + "; ".join(parts) + ".")
    return out
