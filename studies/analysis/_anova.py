"""Factorial ANOVA with seed as a block: which parameters move the objective beyond seed noise.

The model is fitted on every completed trial with ``statsmodels`` (``ols`` + ``anova_lm``,
Type II sums of squares, so an unbalanced or irregular design is still tested fairly)::

    value ~ C(seed) + C(a) + C(b) + bs(lr, df=3) + C(a):C(b) + ...

- **seed block.** When the trials carry a seed shared by several configs (layerlab's paired
  design), ``C(seed)`` takes the "lucky seed" variation out of the error term, as a randomised
  complete block design does.
- **terms.** A categorical parameter, or a numeric one with at most ``MAX_FACTOR_LEVELS`` distinct
  values (a grid), is a factor. A numeric parameter with more values (a random or TPE design) is
  a cubic B-spline with 3 degrees of freedom (on the log scale when its distribution is log), so a
  smooth, non-monotone effect such as a learning rate's is still caught.
- **interactions.** On a full factorial grid, the two-way interactions of factors are added,
  smallest first, while the residual keeps at least ``MIN_RESIDUAL_DF`` degrees of freedom.
- **effect size.** Partial eta-squared ``SS / (SS + SS_res)`` and partial omega-squared
  ``(SS - df MS_res) / (SS + (N - df) MS_res)`` (Olejnik & Algina 2003), with a CI for the
  population partial eta-squared (which partial omega-squared estimates) by inverting the
  noncentral F distribution (Steiger 2004): ``lambda / (lambda + df1 + df2 + 1)`` at the
  noncentrality bounds. statsmodels and scipy provide ``ncf`` but not its inversion, so the
  root-finding is here.

:func:`main_effect_statistic` gives the Type II sum of squares of one parameter in the
main-effects model with plain numpy, fast enough to recompute under hundreds of permutations.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

MAX_FACTOR_LEVELS = 6  # a numeric parameter with at most this many values is a factor (a grid)
MIN_RESIDUAL_DF = 10  # interactions are added only while the residual keeps this many df
SPLINE_DF = 3


@dataclass(frozen=True)
class Design:
    """What the ANOVA fits: one row per trial, the parameters' codings and the seed block.

    ``kinds[p]`` is ``"factor"`` or ``"spline"``; ``frame`` has columns ``y``, ``block`` and
    ``x0, x1, ...`` (one per parameter, safe names for the formula); ``config`` maps each row
    to its config index; ``config_values[p]`` holds each config's (transformed) value of ``p``.
    """

    params: tuple[str, ...]
    kinds: dict[str, str]
    frame: pd.DataFrame
    config: np.ndarray
    config_values: dict[str, np.ndarray]
    blocked: bool
    grid: bool

    def column(self, param: str) -> str:
        return f"x{self.params.index(param)}"


def make_design(params: Sequence[str], config_params: Sequence[dict[str, Any]], log_params: set[str],
                config: np.ndarray, values: np.ndarray, block: np.ndarray | None) -> Design:
    """The ANOVA's design from per-config parameter values and per-trial values/blocks."""
    kinds, config_values = {}, {}
    for p in params:
        raw = [c[p] for c in config_params]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
        distinct = len({repr(v) for v in raw})
        if numeric and distinct > MAX_FACTOR_LEVELS:
            x = np.asarray(raw, dtype=float)
            kinds[p] = "spline"
            config_values[p] = np.log(x) if p in log_params and np.all(x > 0) else x
        else:
            kinds[p] = "factor"
            codes = {r: i for i, r in enumerate(dict.fromkeys(repr(v) for v in raw))}
            config_values[p] = np.array([codes[repr(v)] for v in raw])
    frame = pd.DataFrame({"y": values})
    for i, p in enumerate(params):
        frame[f"x{i}"] = config_values[p][config]
    blocked = block is not None and _useful_block(block, config)
    frame["block"] = block if blocked else 0
    n_configs = len(config_params)
    grid = all(k == "factor" for k in kinds.values()) and n_configs == math.prod(
        len(np.unique(config_values[p])) for p in params)
    return Design(tuple(params), kinds, frame, np.asarray(config), config_values, blocked, grid)


def _useful_block(block: np.ndarray, config: np.ndarray) -> bool:
    """A seed is a block when there are 2+ seeds and some seed is shared by 2+ configs."""
    seeds = pd.Series(block)
    if seeds.isna().any() or seeds.nunique() < 2:
        return False
    return bool(pd.DataFrame({"b": block, "c": config}).groupby("b")["c"].nunique().max() > 1)


def _term(design: Design, p: str) -> str:
    col = design.column(p)
    return f"C({col})" if design.kinds[p] == "factor" else f"bs({col}, df={SPLINE_DF})"


def _term_df(design: Design, p: str) -> int:
    if design.kinds[p] == "factor":
        return len(np.unique(design.config_values[p])) - 1
    return SPLINE_DF


def factorial_anova(design: Design, *, confidence: float = 0.95) -> dict[str, Any]:
    """The Type II ANOVA table: ``{"terms": [{term, params, df, F, p_value, eta_sq, omega_sq,
    ci_low, ci_high}], "formula", "residual_df", "blocked", "grid", "interactions"}``."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    frame = design.frame
    n = len(frame)
    mains = [_term(design, p) for p in design.params]
    lhs = ["C(block)"] if design.blocked else []
    used = (frame["block"].nunique() - 1 if design.blocked else 0) + sum(_term_df(design, p) for p in design.params)
    interactions: list[tuple[str, str]] = []
    if design.grid:
        pairs = sorted(((a, b) for i, a in enumerate(design.params) for b in design.params[i + 1:]),
                       key=lambda ab: _term_df(design, ab[0]) * _term_df(design, ab[1]))
        for a, b in pairs:
            extra = _term_df(design, a) * _term_df(design, b)
            if n - 1 - used - extra >= MIN_RESIDUAL_DF:
                interactions.append((a, b))
                used += extra
    formula = "y ~ " + " + ".join(lhs + mains + [f"{_term(design, a)}:{_term(design, b)}" for a, b in interactions])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-singular designs: statsmodels warns, the F-tests still stand
        model = smf.ols(formula, data=frame).fit()
        table = anova_lm(model, typ=2)
    resid_df = float(table.loc["Residual", "df"])
    ms_res = float(table.loc["Residual", "sum_sq"]) / resid_df if resid_df > 0 else float("nan")
    names = {_term(design, p): (p,) for p in design.params}
    names.update({f"{_term(design, a)}:{_term(design, b)}": (a, b) for a, b in interactions})
    terms = []
    for term, row in table.iterrows():
        if term not in names:
            continue
        ss, df, f, p = float(row["sum_sq"]), float(row["df"]), float(row["F"]), float(row["PR(>F)"])
        low, high = partial_eta_sq_ci(f, df, resid_df, confidence)
        terms.append({
            "term": " x ".join(names[term]), "params": list(names[term]), "df": df, "F": _clean(f),
            "p_value": _clean(p),
            "eta_sq": ss / (ss + ms_res * resid_df) if ss + ms_res * resid_df > 0 else 0.0,
            "omega_sq": partial_omega_sq(ss, df, ms_res, n), "ci_low": low, "ci_high": high,
        })
    return {
        "terms": terms, "residual_df": resid_df, "n": n,
        "formula": re.sub(r"\bx(\d+)\b", lambda m: design.params[int(m.group(1))],
                          formula.replace("C(block)", "C(seed)")),
        "blocked": design.blocked, "grid": design.grid, "interactions": [f"{a} x {b}" for a, b in interactions],
        "kinds": dict(design.kinds),  # parameter -> "factor" | "spline"
    }


def _clean(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def partial_omega_sq(ss: float, df: float, ms_res: float, n: int) -> float:
    """Partial omega-squared (Olejnik & Algina 2003), clipped at 0."""
    if not math.isfinite(ms_res):
        return float("nan")
    denom = ss + (n - df) * ms_res
    return max(0.0, (ss - df * ms_res) / denom) if denom > 0 else 0.0


def partial_eta_sq_ci(f: float, df1: float, df2: float, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """CI of the population partial eta-squared by noncentral-F inversion (Steiger 2004): the
    noncentralities at which the observed F sits at the upper and lower tail quantiles, mapped
    by ``lambda / (lambda + df1 + df2 + 1)``."""
    if not (math.isfinite(f) and df1 > 0 and df2 > 0):
        return None, None
    tail = (1 - confidence) / 2
    n = df1 + df2 + 1

    def bound(q: float) -> float:
        # cdf(F; lambda) falls as lambda grows; find lambda with cdf = q (0 when even lambda=0 is below q)
        def g(lam: float) -> float:
            return float(stats.ncf.cdf(f, df1, df2, lam)) - q

        if g(0.0) <= 0:
            return 0.0
        hi = max(10.0, f * df1 * 2)
        while g(hi) > 0 and hi < 1e7:
            hi *= 4
        return optimize.brentq(g, 0.0, hi, xtol=1e-8) if g(hi) <= 0 else hi

    lam_low, lam_high = bound(1 - tail), bound(tail)
    return lam_low / (lam_low + n), lam_high / (lam_high + n)


class MainEffects:
    """Type II sums of squares of the main-effects model (block + every parameter), in numpy,
    for the permutation null: permuting parameter ``p`` across configs changes only its own
    columns, so the other columns' projection is computed once per parameter."""

    def __init__(self, design: Design):
        self.design = design
        self.y = design.frame["y"].to_numpy(float)
        n = len(self.y)
        base = [np.ones((n, 1))]
        if design.blocked:
            codes = pd.factorize(design.frame["block"])[0]
            base.append(np.eye(codes.max() + 1)[codes][:, 1:])
        self.base = np.hstack(base)
        # each parameter's per-config columns; a row's columns are looked up by its config
        self.config_columns = {p: _columns(design, p) for p in design.params}
        self._others: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}

    def _other_basis(self, p: str) -> tuple[np.ndarray, np.ndarray, float]:
        if p not in self._others:
            cols = [self.base] + [self.config_columns[q][self.design.config] for q in self.design.params if q != p]
            q_basis = _orthonormal(np.hstack(cols))
            resid = self.y - q_basis @ (q_basis.T @ self.y)
            self._others[p] = (q_basis, resid, float(resid @ resid))
        return self._others[p]

    def statistic(self, p: str, permutation: np.ndarray | None = None) -> float:
        """Partial eta-squared of ``p`` given the block and the other parameters (Type II), with
        ``p``'s values moved between configs by ``permutation`` (config index -> config index)."""
        q_basis, resid, rss_others = self._other_basis(p)
        cols = self.config_columns[p]
        if permutation is not None:
            cols = cols[permutation]
        x = cols[self.design.config]
        x = x - q_basis @ (q_basis.T @ x)
        # SS of the projection of the residual on span(x): a d x d solve, d = p's columns
        xty = x.T @ resid
        ss = float(xty @ (np.linalg.pinv(x.T @ x) @ xty)) if x.shape[1] else 0.0
        return ss / rss_others if rss_others > 0 else 0.0


def _columns(design: Design, p: str) -> np.ndarray:
    """Per-config model columns of ``p``: treatment dummies, or a cubic B-spline basis."""
    values = design.config_values[p]
    if design.kinds[p] == "factor":
        codes = pd.factorize(values)[0]
        return np.eye(codes.max() + 1)[codes][:, 1:]
    from patsy import dmatrix

    return np.asarray(dmatrix(f"bs(x, df={SPLINE_DF}) - 1", {"x": values}))


def _orthonormal(x: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis of the column space of ``x`` (rank-revealing via SVD)."""
    if x.shape[1] == 0:
        return x
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, s > tol * max(s.max(), 1e-300)]
