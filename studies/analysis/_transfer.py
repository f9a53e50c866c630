"""Rank transfer: does a cheap study (e.g. a 128-sample subset) predict an expensive one's ranking?

Seed 000 (Liu et al., §5-6) asks whether trends on small subsets match the full dataset. Here two
studies are compared on the configs they share (at least 3: with 2 there is one pair, and no
ranking to transfer).

**Matching rule.** A config is identified by its Optuna parameter values restricted to the
parameter names *both* studies search (minus ``ignore`` and minus the keys a ``where`` filter
pins). Values are matched by label (``layers=no-BN``, ``model=Res512``), loosely typed (``0.01``
matches ``"0.01"``). Fixed values such as ``dataset``, ``epochs`` or the subset size are not
Optuna parameters in layerlab, so they never prevent a match; ``config_id`` is not used because it
hashes the whole config, dataset included. When one study searches a parameter the other does not
(``dataset`` in a multi-dataset grid), several of its configs share one key: that is refused with a
hint to pin it with ``where_a``/``where_b`` (``--where-a dataset=cifar10``).

Rank correlations are Kendall's tau-b (``scipy.stats.kendalltau``) and Spearman's rho
(``scipy.stats.spearmanr``) of the per-config mean scores.

**The answers that decide** (:mod:`studies._transfer_stats` has the methods): the pairs
each study *settles* (Tukey-Kramer simultaneous intervals of the config x seed model), the
concordance of the pairs settled in both with a one-sided exact binomial bound ("26/26 agree;
concordance >= 0.89"), an interval for Kendall's tau between the studies' TRUE config means (its
lower end from each study's posterior of the means, its upper end the projection of the
simultaneous intervals) and what more repeats would settle ("1 more repeat of 'sub128' (4 per
config) settles 90% of the 19 pairs 'hardall' settles").

Each pair of configs also gets the probability that the two studies order it the same way:
``pA pB + (1 - pA)(1 - pB)``, where ``pA`` is the posterior probability (flat prior, Student t)
that config 1 beats config 2 in study A.

Spearman's rho keeps a percentile bootstrap CI over each study's seeds (jointly across its
configs when they all ran the same seeds, else each config's repeats independently); it brackets
the observed rho and, like any such bootstrap, runs narrow when configs are close.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from scipy import stats

from searchspace.errors import valid_list
from studies.analysis._collect import AnalysisError, StudyTable, collect, parse_assignments, resample_rows, restrict
from studies.analysis._stats import mean_ci, table_bounds
from studies._transfer_stats import (
    NO_NOISE, TAU_DRAWS, Noise, concordance, cost_sentence, cost_to_decide, fit_noise, pair_rows, settled_signs, tau_b,
    tau_interval,
)

MIN_SHARED = 3  # configs both studies must share: with 2 there is one pair and no ranking to transfer
MATRIX_DRAWS = 250  # posterior draws per dataset pair in the rank-transfer matrix (210 pairs in liu-subsets)

METRICS = {"value": "value", "val": "value", "test": "test", "test_accuracy": "test"}


def _key(params: Mapping[str, Any], names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((n, _norm(params[n])) for n in names if n in params)


def _norm(value: Any) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value).strip().lower()
    return repr(f)


def _keyed(table: StudyTable, names: list[str], other_only: list[str]) -> dict[tuple, str]:
    out: dict[tuple, str] = {}
    for group in table.groups:
        key = _key(table.params_of(group), names)
        if key in out:
            hint = (f"; parameters only this study searches: {valid_list(other_only)} - pin them with "
                    f"--where-a/--where-b (e.g. {other_only[0]}=...)") if other_only else ""
            raise AnalysisError(
                f"study {table.study_name!r} has several configs with the same shared parameters "
                f"({table.label_of(out[key])} and {table.label_of(group)}){hint}"
            )
        out[key] = group
    return out


def compare_studies(
    study_a: optuna.Study | StudyTable,
    study_b: optuna.Study | StudyTable,
    *,
    metric: str = "value",
    top_k: int = 3,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ignore: Sequence[str] = (),
    where_a: str | Mapping[str, Any] | None = None,
    where_b: str | Mapping[str, Any] | None = None,
    draws: int = TAU_DRAWS,
) -> dict[str, Any]:
    """The settled pairs and their concordance, Kendall tau with an interval for the true means,
    the cost to decide, Spearman rho (bootstrap CI), top-k agreement and order flips of the
    configs two studies share. ``metric``: ``value`` (the objective, validation accuracy) or
    ``test`` (test accuracy); ``draws``: posterior draws behind the tau interval's lower end."""
    from studies._options import check_options

    check_options(top_k=top_k, bootstrap=n_bootstrap, seed=seed)
    return _compare(study_a, study_b, metric=metric, top_k=top_k, n_bootstrap=n_bootstrap, confidence=confidence,
                    seed=seed, ignore=ignore, where_a=where_a, where_b=where_b, detail=True, draws=draws)


def _compare(
    study_a: optuna.Study | StudyTable, study_b: optuna.Study | StudyTable, *, metric: str, top_k: int,
    n_bootstrap: int, confidence: float, seed: int, ignore: Sequence[str], where_a: str | Mapping[str, Any] | None,
    where_b: str | Mapping[str, Any] | None, detail: bool, draws: int = TAU_DRAWS,
) -> dict[str, Any]:
    """:func:`compare_studies`; ``detail=False`` (the rank-transfer matrix, 210 dataset pairs in
    liu-subsets) leaves out the per-config CIs and the per-pair lists, quadratic in the configs,
    and returns the summary numbers only (``n_flips`` for the flips), computed the same way."""
    if metric not in METRICS:
        raise AnalysisError(f"unknown metric {metric!r}; valid: {valid_list(METRICS)}")
    if top_k < 1:
        raise AnalysisError(f"top_k must be >= 1, got {top_k}")
    column = METRICS[metric]
    pins_a, pins_b = parse_assignments(where_a, what="--where-a"), parse_assignments(where_b, what="--where-b")
    a = restrict(collect(study_a), pins_a, what="--where-a")
    b = restrict(collect(study_b), pins_b, what="--where-b")
    if a.direction != b.direction:
        raise AnalysisError(f"studies {a.study_name!r} ({a.direction}) and {b.study_name!r} ({b.direction}) "
                            "optimise in opposite directions")
    names_a, names_b = a.param_names(), b.param_names()
    dropped = set(ignore) | set(pins_a) | set(pins_b)
    shared = [n for n in names_a if n in names_b and n not in dropped]
    if not shared:
        both = [n for n in names_a if n in names_b]
        if both:  # they do share parameters, but the user pinned or ignored every one of them
            how = ", ".join(f"{n} ({'--ignore' if n in ignore else '--where-a/--where-b'})" for n in both)
            raise AnalysisError(
                f"studies {a.study_name!r} and {b.study_name!r} search only {valid_list(both)} in common, and "
                f"{how} takes it out of the matching, so no parameter is left to match configs on; "
                "pin a parameter the studies do not share, or drop that option"
            )
        raise AnalysisError(
            f"studies {a.study_name!r} and {b.study_name!r} share no searched parameter to match configs on "
            f"({a.study_name}: {valid_list(names_a) or 'none'}; {b.study_name}: {valid_list(names_b) or 'none'})"
        )
    keyed_a = _keyed(a, shared, [n for n in names_a if n not in shared and n not in dropped])
    keyed_b = _keyed(b, shared, [n for n in names_b if n not in shared and n not in dropped])
    common = [k for k in keyed_a if k in keyed_b]
    if len(common) < MIN_SHARED:
        found = {0: "no shared configs", 1: "only one shared config"}.get(len(common),
                                                                           f"only {len(common)} shared configs")
        raise AnalysisError(
            f"studies {a.study_name!r} and {b.study_name!r} have {found} (matched on {valid_list(shared)}); "
            f"rank transfer needs {MIN_SHARED} or more"
        )
    vals_a = [_finite(a.values(keyed_a[k], column)) for k in common]
    vals_b = [_finite(b.values(keyed_b[k], column)) for k in common]
    empty = [a.label_of(keyed_a[k]) for k, va, vb in zip(common, vals_a, vals_b) if not len(va) or not len(vb)]
    if empty:
        raise AnalysisError(f"metric {metric!r} is missing for shared config(s) {valid_list(empty, limit=5)}")
    mean_a = np.array([v.mean() for v in vals_a])
    mean_b = np.array([v.mean() for v in vals_b])
    sign = -1.0 if a.maximize else 1.0  # rank 1 = best
    rank_a = stats.rankdata(sign * mean_a, method="min")
    rank_b = stats.rankdata(sign * mean_b, method="min")
    tau, tau_p = _kendall(mean_a, mean_b)
    rho, rho_p = _spearman(mean_a, mean_b)
    groups_a, groups_b = [keyed_a[k] for k in common], [keyed_b[k] for k in common]
    # the bootstrap serves the Spearman CI only, which the summary leaves out
    boot, schemes = _bootstrap(a, groups_a, b, groups_b, column, n_bootstrap if detail else 0, seed)
    noise_a, noise_b = study_noise(a, groups_a, column), study_noise(b, groups_b, column)
    # the matrix (detail=False) shows no cost statement
    answers = transfer_answers(noise_a, noise_b, confidence, seed=seed, draws=draws, cost=detail)
    interval = answers["kendall_ci"]
    if not detail:
        return {"kendall_tau": tau, "kendall_ci_low": interval["low"], "kendall_ci_high": interval["high"],
                "spearman_rho": rho, "n_shared": len(common), "n_flips": int(_flip_mask(mean_a, mean_b)[0].sum()),
                "same_best": bool(int(np.argmin(sign * mean_a)) == int(np.argmin(sign * mean_b))),
                "settled": answers["concordance"]["settled"], "agree": answers["concordance"]["agree"],
                "concordance_low": answers["concordance"]["low"]}
    labels = [", ".join(f"{n}={v}" for n, v in _display(a.params_of(keyed_a[k]), shared)) for k in common]
    k = min(top_k, len(common))
    top_a = set(np.argsort(sign * mean_a, kind="stable")[:k])
    top_b = set(np.argsort(sign * mean_b, kind="stable")[:k])
    configs = []
    for i, label in enumerate(labels):
        ci_a = mean_ci(vals_a[i], confidence, bounds=table_bounds(a, column))
        ci_b = mean_ci(vals_b[i], confidence, bounds=table_bounds(b, column))
        configs.append({
            "config": label, "mean_a": float(mean_a[i]), "mean_b": float(mean_b[i]),
            "ci_low_a": ci_a.low, "ci_high_a": ci_a.high, "ci_low_b": ci_b.low, "ci_high_b": ci_b.high,
            "n_a": len(vals_a[i]), "n_b": len(vals_b[i]), "rank_a": int(rank_a[i]), "rank_b": int(rank_b[i]),
        })
    tail = 100 * (1 - confidence) / 2
    return {
        "study_a": a.study_name,
        "study_b": b.study_name,
        "metric": "validation (objective)" if column == "value" else "test accuracy",
        "matched_on": shared,
        "ignored": sorted(dropped),
        "n_shared": len(common),
        "only_in_a": len(keyed_a) - len(common),
        "only_in_b": len(keyed_b) - len(common),
        "kendall_tau": tau, "kendall_p": tau_p,
        "kendall_ci_low": interval["low"], "kendall_ci_high": interval["high"], "kendall_ci": interval,
        "concordance": answers["concordance"], "cost": answers["cost"],
        "cost_sentence": cost_sentence(answers["cost"], a.study_name, b.study_name),
        "settled_pairs": pair_rows(labels, answers["signs_a"], answers["signs_b"]),
        "spearman_rho": rho, "spearman_p": rho_p,
        "spearman_ci_low": _pct(boot[:, 1], tail), "spearman_ci_high": _pct(boot[:, 1], 100 - tail),
        "bootstrap": {"replicates": len(boot),
                      "resampling": {a.study_name: schemes[0], b.study_name: schemes[1]} if len(boot) else None,
                      "used_for": "the Spearman rho CI",
                      "note": "" if len(boot) else
                              "no config has 2 or more repeats in either study, or bootstrap disabled: no CI"},
        "pairs": same_order_probabilities(labels, mean_a, mean_b, noise_a, noise_b),
        "top_k": k,
        "top_k_overlap": len(top_a & top_b),
        "top_k_agreement": len(top_a & top_b) / k,
        "same_best": bool(int(np.argmin(sign * mean_a)) == int(np.argmin(sign * mean_b))),
        "flips": _flips(labels, mean_a, mean_b),
        "n_pairs": len(common) * (len(common) - 1) // 2,
        "configs": sorted(configs, key=lambda c: c["rank_a"]),
    }


def transfer_race_answer(study_a: Any, study_b: Any) -> dict[str, Any] | None:
    """The answer of the transfer race ``study_a`` ran against ``study_b``
    (``study launch --race-mode transfer``; :func:`studies.engine._race_transfer.race_answer`), or None."""
    if not isinstance(study_a, optuna.Study) or not isinstance(study_b, optuna.Study):
        return None
    from studies.engine._race_transfer import race_answer  # the race reads both studies' trials and specs

    return race_answer(study_a, study_b)


def study_noise(table: StudyTable, groups: list[str], column: str) -> Noise | None:
    """The noise model of ``groups``' finite values of ``column`` (config x seed when the runs are
    paired by seed or repeat, else one-way; :func:`studies._transfer_stats.fit_noise`)."""
    values = table.frame[column].to_numpy(float)
    pairs = table.frame["pair"].to_numpy(object)
    per, blocks = [], []
    for g in groups:
        rows = table.row_numbers(g)
        rows = rows[np.isfinite(values[rows])]
        per.append(values[rows])
        blocks.append(list(pairs[rows]))
    return fit_noise(per, None if table.pairing == "none" else blocks)


def transfer_answers(noise_a: Noise | None, noise_b: Noise | None, confidence: float, *, seed: int = 0,
                     draws: int = TAU_DRAWS, cost: bool = True) -> dict[str, Any]:
    """The settled pairs of each study, their concordance, the tau interval and (``cost``) the
    cost to decide (module docstring of :mod:`studies._transfer_stats`)."""
    level = 1 - (1 - confidence) / 2  # each study's simultaneous level: both hold with probability >= confidence
    signs_a = settled_signs(noise_a, level) if noise_a is not None else None
    signs_b = settled_signs(noise_b, level) if noise_b is not None else None
    if signs_a is None or signs_b is None:
        agreement = {"settled": 0, "agree": 0, "disagree": 0, "low": None, "observed": None, "confidence": confidence,
                     "method": "none", "reason": NO_NOISE}
    else:
        agreement = concordance(signs_a, signs_b, confidence)
    interval = tau_interval(noise_a, noise_b, signs_a, signs_b, confidence, draws=draws, seed=seed)
    if interval["method"] != "none":
        interval["method"] += f" (each study's Tukey-Kramer intervals at {100 * level:g}%)"
    return {"signs_a": signs_a, "signs_b": signs_b, "concordance": agreement, "kendall_ci": interval,
            "cost": cost_to_decide(noise_a, noise_b, signs_a, signs_b, confidence, seed=seed) if cost else None}


def _beats(noise: Noise | None) -> np.ndarray | None:
    """Posterior probability (flat prior, Student t) that config i's true mean beats j's."""
    if noise is None:
        return None
    se = noise.pair_se()
    d = noise.effects[:, None] - noise.effects[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, d / np.where(se > 0, se, 1), np.sign(d) * np.inf)
    return np.where(d == 0, 0.5, stats.t.cdf(z, noise.df))


def same_order_probabilities(labels: list[str], mean_a: np.ndarray, mean_b: np.ndarray, noise_a: Noise | None,
                             noise_b: Noise | None) -> list[dict[str, Any]]:
    """For each pair of configs, the probability that the two studies order it the same way
    (None without repeats), most doubtful first."""
    pa, pb = _beats(noise_a), _beats(noise_b)
    out = []
    for i, j in itertools.combinations(range(len(labels)), 2):
        prob = None if pa is None or pb is None else float(pa[i, j] * pb[i, j] + (1 - pa[i, j]) * (1 - pb[i, j]))
        out.append({"config_1": labels[i], "config_2": labels[j], "delta_a": float(mean_a[i] - mean_a[j]),
                    "delta_b": float(mean_b[i] - mean_b[j]), "same_order_probability": prob})
    return sorted(out, key=lambda r: 2.0 if r["same_order_probability"] is None else r["same_order_probability"])


def _display(params: Mapping[str, Any], names: Sequence[str]) -> list[tuple[str, Any]]:
    return [(n, params[n]) for n in names if n in params]


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _kendall(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input -> NaN, reported as None
        res = stats.kendalltau(x, y)
    return _num(res.statistic), _num(res.pvalue)


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two points: rho is +-1 and has no p-value (NaN -> None)
        res = stats.spearmanr(x, y)
    return _num(res.statistic), _num(res.pvalue)


def _num(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _bootstrap(
    a: StudyTable, groups_a: list[str], b: StudyTable, groups_b: list[str], column: str, n: int, seed: int
) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, 2) array of Kendall tau-b and Spearman rho over bootstrap replicates of the two
    studies' config means (each study resampled on its own, seeds jointly when paired)."""
    if n <= 0 or (not any(len(a.values(g, column)) > 1 for g in groups_a)
                  and not any(len(b.values(g, column)) > 1 for g in groups_b)):
        return np.empty((0, 2)), ("", "")
    rng = np.random.default_rng(seed)
    ma, scheme_a = _replicate_means(a, groups_a, column, rng, n)
    mb, scheme_b = _replicate_means(b, groups_b, column, rng, n)
    return np.column_stack([tau_b(ma, mb), spearman_rows(ma, mb)]), (scheme_a, scheme_b)


def _replicate_means(
    table: StudyTable, groups: list[str], column: str, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, str]:
    values = table.frame[column].to_numpy(float)
    plan, scheme = resample_rows(table, rng, n, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a replicate drawing only missing (NaN) test values
        means = np.array([[np.nanmean(values[rows]) for rows in replicate] for replicate in plan])
    return means.reshape(n, len(groups)), scheme


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair: Pearson correlation of average ranks (as scipy)."""
    rx = stats.rankdata(x, axis=1) - (x.shape[1] + 1) / 2
    ry = stats.rankdata(y, axis=1) - (y.shape[1] + 1) / 2
    denom = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rx * ry).sum(axis=1) / denom, np.nan)


def _pct(x: np.ndarray, q: float) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, q)) if len(x) else None


def _flip_mask(mean_a: np.ndarray, mean_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Over the pairs i < j (row-major, as ``itertools.combinations``): whether A and B order the
    pair oppositely (ties in either are not flips), the pairs' indices and the differences."""
    i, j = np.triu_indices(len(mean_a), k=1)
    da, db = mean_a[i] - mean_a[j], mean_b[i] - mean_b[j]
    return da * db < 0, np.column_stack([i, j]), da, db


def _flips(labels: list[str], mean_a: np.ndarray, mean_b: np.ndarray) -> list[dict[str, Any]]:
    """Pairs ordered one way in A and the other way in B (ties in either are not flips)."""
    flipped, ij, da, db = _flip_mask(mean_a, mean_b)
    out = []
    for (i, j), gap in zip(ij[flipped].tolist(), (np.abs(da) + np.abs(db))[flipped].tolist()):
        out.append({
            "config_1": labels[i], "config_2": labels[j],
            "a": [float(mean_a[i]), float(mean_a[j])], "b": [float(mean_b[i]), float(mean_b[j])],
            "gap": float(gap),
        })
    return sorted(out, key=lambda f: -f["gap"])


def rank_transfer_matrix(
    study: optuna.Study | StudyTable, *, by: str = "dataset", metric: str = "value", n_bootstrap: int = 200,
    seed: int = 0
) -> dict[str, Any]:
    """Kendall tau between the config rankings at every pair of values of parameter ``by`` within
    one study: which subset (``mnist:hard2:128``, ``mnist:hard2:all``, ...) ranks the configs as
    the full dataset does. ``pairs`` lists each comparison; a pair with fewer than 3 shared configs
    has ``tau`` None and the reason."""
    table = collect(study)
    if by not in table.param_names():
        raise AnalysisError(f"{by!r} is not a parameter of study {table.study_name!r}; "
                            f"its parameters: {valid_list(table.param_names())}")
    values = list(dict.fromkeys(table.params_of(g)[by] for g in table.groups if by in table.params_of(g)))
    pairs = []
    for va, vb in itertools.combinations(values, 2):
        try:
            res = _compare(table, table, metric=metric, top_k=3, n_bootstrap=n_bootstrap, confidence=0.95, seed=seed,
                           ignore=(), where_a={by: va}, where_b={by: vb}, detail=False, draws=MATRIX_DRAWS)
        except AnalysisError as exc:
            pairs.append({"a": va, "b": vb, "tau": None, "reason": str(exc)})
            continue
        pairs.append({"a": va, "b": vb, "tau": res["kendall_tau"], "tau_ci_low": res["kendall_ci_low"],
                      "tau_ci_high": res["kendall_ci_high"],
                      "rho": res["spearman_rho"], "n_shared": res["n_shared"], "flips": res["n_flips"],
                      "same_best": res["same_best"],
                      "settled": res["settled"], "agree": res["agree"], "concordance_low": res["concordance_low"]})
    return {"by": by, "values": values, "pairs": pairs}
