"""Aggregates over tasks: which config does best across several datasets (or studies), and how sure is that?

The anchor is Agarwal et al. 2021, *Deep RL at the Edge of the Statistical Precipice* (the rliable
library): a few runs per task, many tasks, so the answer is an aggregate over tasks *and* runs with an
interval that counts the run-to-run noise. A task is one dataset of a study whose grid varies
``dataset`` (``over="dataset"``), or one whole study (a study per dataset), or both.

**What is computed, per config** (over the configs present in every task):

- **IQM**: the interquartile mean of the normalised scores of all its runs on all tasks pooled, i.e.
  the 25% trimmed mean (``scipy.stats.trim_mean``, rliable's definition): robust to a task where
  everything fails and to a lucky seed, and less noisy than the median.
- **P(X > Y)**, the probability of improvement of config X over a reference Y: per task, the chance
  that a run of X beats a run of Y (a tie counts half), averaged over tasks with equal weight. Where
  X and Y ran the same seeds on a task (layerlab's repeat r trains every config with seed base + r),
  the runs are *paired by seed*: the share of seeds on which X beat Y; otherwise rliable's
  Mann-Whitney form over every pair of runs (U / (n_x n_y)). The two are the same quantity when the
  seed shares nothing between configs; where it does (a shared lucky seed), pairing removes it.
  Scores are normalised per task before anything else, and a per-task rescaling leaves P(X > Y) as is.
- **Performance profile**: the fraction of all runs (pooled over tasks) whose normalised score exceeds
  each threshold tau, with pointwise bands.

**Intervals: a stratified bootstrap, tasks held fixed.** Seeds are resampled within each task
(jointly across configs where they are paired, so a shared lucky seed stays shared), never across
tasks: the question is "what if these tasks were run again with other seeds", as in rliable's
default. ``scipy.stats.bootstrap`` does the resampling: given several samples it resamples each one
independently, which *is* stratification, so each task's seed positions go in as one sample and the
statistic gathers the scores by those positions. rliable's percentile interval is too short at a few
runs per task: a bootstrap over n runs sees (n - 1) / n of the variance, and its percentiles cannot
reach past the few distinct resamples of 3 runs (measured: 81-90% coverage at 3 seeds for a nominal
95%; benchmarks/calib_aggregate.py). So the interval is the estimate +- t x the bootstrap standard
error, with two small-sample corrections: the variance is scaled back by n / (n - 1), and the t's
degrees of freedom are those of the tasks that carry the variance (Welch-Satterthwaite over each
task's share, from a jackknife within it). scipy gives the resampling, the standard error and the t
quantile; the two corrections are written here because neither scipy nor statsmodels has them for a
stratified design. P(X > Y) intervals are simultaneous over the comparisons in the table (Bonferroni),
so the reading beside each one is the interval's; IQM and profile intervals are pointwise.

**Normalisation** (``normalize``): ``chance`` (the default when it is known) maps accuracy to
``(acc - c) / (1 - c)``, with ``c`` the share of the task's most frequent class (from the test
confusion matrix every classify trial stores): 0 is "no better than always guessing the commonest
class", 1 is perfect. It is fixed per task, so it depends neither on the configs compared nor on the
seeds, and every interval stays valid (it is the analogue of rliable's random/human normalisation).
``none`` keeps accuracies as they are: then a hard task (e.g. accuracy 0.5) and an easy one (0.99)
sit at opposite ends and the trimming drops whole tasks. Min-max per task over configs is not
offered: the normaliser would move whenever a config is added or removed, it is built from the two
noisiest means (the selected extremes), and with two configs it maps every task to {0, 1}.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from scipy import stats

from searchspace.errors import valid_list
from studies._spec import config_label
from studies.analysis._collect import AnalysisError, StudyTable, collect, parse_assignments, same_value, seed_blocks

TRIM = 0.25  # IQM: the 25% trimmed mean (rliable)
NORMALIZATIONS = ("auto", "chance", "none")
METRICS = {"value": "value", "val": "value", "test": "test", "test_accuracy": "test"}
TIE = 1e-7  # relative: two scores closer than this tie (float32 rounding of one accuracy, ~6e-8)
MEMORY = 2e7  # numbers held per bootstrap batch (about 160 MB of float64)


# -- the statistics on plain arrays ------------------------------------------------------------------


@dataclass(frozen=True)
class _Stratum:
    """One resampled unit: a task's seeds (paired: every config's runs, columns aligned by seed) or one
    config's runs on a task (unpaired)."""

    task: int
    rows: tuple[int, ...]  # config indices, one row of ``scores`` each
    scores: np.ndarray  # (len(rows), n)

    @property
    def n(self) -> int:
        return self.scores.shape[1]


def _wins(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 where x beats y, 1/2 for a tie (within float32 rounding), 0 otherwise."""
    d = x - y
    tie = np.abs(d) <= TIE * np.maximum(np.abs(x), np.abs(y))
    return np.where(tie, 0.5, (d > 0).astype(float))


class _Statistic:
    """Every aggregate at once, as ``scipy.stats.bootstrap`` calls a vectorised statistic: one index
    array per resampled stratum (seed positions, shape (batch, n) or (n,)) -> (outputs, batch).
    Outputs: the IQM of each config, its P(X > reference), then the profile of each profiled config
    at every threshold."""

    def __init__(self, strata: list[_Stratum], n_configs: int, n_tasks: int, reference: int | None,
                 thresholds: np.ndarray, profiled: Sequence[int]) -> None:
        self.strata, self.k, self.m, self.reference = strata, n_configs, n_tasks, reference
        self.thresholds, self.profiled = thresholds, list(profiled)
        self.where = {(c, s.task): (i, r) for i, s in enumerate(strata) for r, c in enumerate(s.rows)}
        self.resampled = [i for i, s in enumerate(strata) if s.n >= 2]  # a single run cannot be resampled
        self.n_outputs = 2 * n_configs + len(self.profiled) * len(thresholds)
        single = {i for i, s in enumerate(strata) if s.n < 2}
        self.single = [any(self.where[(c, t)][0] in single for t in range(n_tasks)) for c in range(n_configs)]

    def full(self, batch: int = 1) -> list[np.ndarray]:
        return [np.broadcast_to(np.arange(self.strata[i].n), (batch, self.strata[i].n)) for i in self.resampled]

    def __call__(self, *indices: np.ndarray, axis: int = -1) -> np.ndarray:
        flat = np.ndim(indices[0]) == 1 if indices else True
        picks = [np.atleast_2d(np.asarray(i)).astype(np.intp) for i in indices]
        batch = picks[0].shape[0] if picks else 1
        chosen = dict(zip(self.resampled, picks))
        runs = [s.scores[:, chosen[i]] if i in chosen
                else np.broadcast_to(s.scores[:, None, :], (len(s.rows), batch, s.n))
                for i, s in enumerate(self.strata)]  # each (rows, batch, n)
        out = np.full((self.n_outputs, batch), np.nan)
        pooled = [self._pooled(runs, c) for c in range(self.k)]
        for size in {p.shape[-1] for p in pooled}:  # one call per run count: scipy's per-call overhead is ~1 ms
            same = [c for c in range(self.k) if pooled[c].shape[-1] == size]
            out[same] = stats.trim_mean(np.stack([pooled[c] for c in same]), TRIM, axis=-1)
        if self.reference is not None:
            out[self.k:2 * self.k] = sum(self._improvement(runs, t) for t in range(self.m)) / self.m
        base = 2 * self.k
        for j, c in enumerate(self.profiled):
            above = (pooled[c][:, :, None] > self.thresholds).mean(axis=1)  # (batch, T)
            out[base + j * len(self.thresholds): base + (j + 1) * len(self.thresholds)] = above.T
        return out[:, 0] if flat else out

    def _runs(self, runs: list[np.ndarray], c: int, t: int) -> tuple[np.ndarray, int]:
        i, r = self.where[(c, t)]
        return runs[i][r], i

    def _pooled(self, runs: list[np.ndarray], c: int) -> np.ndarray:
        return np.concatenate([self._runs(runs, c, t)[0] for t in range(self.m)], axis=-1)

    def _improvement(self, runs: list[np.ndarray], t: int) -> np.ndarray:
        """Every config's P(X > reference) on task t: (configs, batch)."""
        y, sy = self._runs(runs, self.reference, t)
        if len(self.strata[sy].rows) == self.k:  # a paired task: one stratum, every config, aligned by seed
            return _wins(runs[sy], y[None]).mean(axis=-1)
        out = []
        for c in range(self.k):
            x, _ = self._runs(runs, c, t)
            out.append(_wins(x[:, :, None], y[:, None, :]).mean(axis=(1, 2)))  # Mann-Whitney: U / (n_x n_y)
        return np.stack(out)

    def depends_on_fixed(self, output: int) -> bool:
        """Whether an output uses a stratum of a single run (no interval for it)."""
        if output < 2 * self.k:
            c = output % self.k
            configs = [c] if output < self.k else [c, self.reference]
        else:
            configs = [self.profiled[(output - 2 * self.k) // len(self.thresholds)]]
        return any(self.single[c] for c in configs if c is not None)


def _jackknife_shares(statistic: _Statistic) -> tuple[np.ndarray, np.ndarray]:
    """Per output and resampled stratum: the stratum's share of the variance (delete-one jackknife
    within the stratum, the others held whole), and the stratum sizes."""
    shares, sizes = [], []
    full = {i: np.arange(statistic.strata[i].n) for i in statistic.resampled}
    for i in statistic.resampled:
        n = statistic.strata[i].n
        picks = [np.array([np.delete(full[j], d) for d in range(n)]) if j == i
                 else np.broadcast_to(full[j], (n, full[j].size)) for j in statistic.resampled]
        theta = statistic(*picks)  # (outputs, n)
        shares.append((n - 1) / n * np.sum((theta - theta.mean(axis=1, keepdims=True)) ** 2, axis=1))
        sizes.append(n)
    return np.array(shares).T, np.array(sizes, dtype=float)  # (outputs, strata), (strata,)


def _intervals(estimate: np.ndarray, se: np.ndarray, shares: np.ndarray, sizes: np.ndarray,
               alphas: np.ndarray, bounds: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """estimate +- t(df) x se x sqrt(n / (n - 1)), per output (see the module docstring); also the df."""
    total = shares.sum(axis=1)
    deficit = np.where(total > 0, (shares * ((sizes - 1) / sizes)).sum(axis=1) / np.where(total > 0, total, 1),
                       np.min((sizes - 1) / sizes))  # the bootstrap's share of the true variance
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(total > 0, total ** 2 / (shares ** 2 / (sizes - 1)).sum(axis=1), np.sum(sizes - 1))
    half = stats.t.ppf(1 - alphas / 2, np.maximum(df, 1.0)) * se / np.sqrt(deficit)
    low, high = estimate - half, estimate + half
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    return np.clip(low, lo, hi), np.clip(high, lo, hi), df


def _wilson_floor(statistic: _Statistic, arrays: list[dict[str, np.ndarray]], configs: list[str], estimate: np.ndarray,
                  low: np.ndarray, high: np.ndarray, alphas: np.ndarray,
                  se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where no resample varies a proportion (P(X > Y) or a profile's fraction: every seed on every task
    agrees, e.g. X won them all), the bootstrap interval is a point, but 12 wins of 12 do not prove
    P(X > Y) = 1: there the interval is the Wilson score interval of the pooled count (``statsmodels``'
    ``proportion_confint``; 12 of 12 gives [0.76, 1]). The count is over pairs of runs (paired tasks:
    seeds; unpaired: the smaller side). Applied to every interval instead, it only widened them: coverage
    0.993 -> 0.997 at P = 0.92 and 5% wider (calib_aggregate's poi_coverage(10, 3, "normal", 2.0), 300
    studies), and the profile's band at the median covered 100% of 300 (99% without it)."""
    from statsmodels.stats.proportion import proportion_confint

    k, ref = len(configs), statistic.reference
    nobs = np.full(statistic.n_outputs, np.nan)
    if ref is not None:
        for c in range(k):
            nobs[k + c] = sum(min(task[configs[c]].size, task[configs[ref]].size) for task in arrays)
    t = statistic.thresholds.size
    for j, c in enumerate(statistic.profiled):
        nobs[2 * k + j * t: 2 * k + (j + 1) * t] = sum(task[configs[c]].size for task in arrays)
    use = np.isfinite(nobs) & np.isfinite(low) & np.isfinite(high) & (se <= 1e-12)
    if use.any():
        wl, wh = proportion_confint(estimate[use] * nobs[use], nobs[use], alpha=alphas[use], method="wilson")
        low, high = low.copy(), high.copy()
        low[use], high[use] = np.minimum(low[use], wl), np.maximum(high[use], wh)
    return low, high


def aggregate_scores(
    tasks: Sequence[Mapping[str, Sequence[float]]],
    *,
    paired: bool | Sequence[bool] = True,
    reference: str | None = None,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    thresholds: int | Sequence[float] | None = 101,
    profile: Sequence[str] | None = None,
    bounds: tuple[float, float] = (-math.inf, math.inf),
    task_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """IQM, P(X > ``reference``) and performance profiles of configs over tasks, with intervals.

    ``tasks[m][config]``: the (normalised, higher-is-better) scores of ``config``'s runs on task m;
    every config must appear in every task. ``paired`` (per task or for all): whether the configs'
    runs on that task line up by seed (position r = the same seed for every config). ``reference``
    defaults to the config with the highest IQM. ``thresholds``: the profile's tau values, or how many
    between the lowest and highest score (None: no profile); ``profile``: the configs to profile
    (default all). ``bounds``: the range of a score (an IQM interval is clipped to it).
    Returns ``iqm`` and ``improvement`` frames, ``profiles`` and the method's ``notes``."""
    if len(tasks) < 2:
        raise AnalysisError(f"an aggregate needs at least 2 tasks, got {len(tasks)}")
    configs = list(tasks[0])
    missing = [(m, c) for m, task in enumerate(tasks) for c in configs if c not in task]
    if missing or any(set(task) != set(configs) for task in tasks):
        where = f" ({missing[0][1]} has none on task {missing[0][0]})" if missing else ""
        raise AnalysisError(f"every config must have runs on every task{where}")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 2:
        raise AnalysisError(f"n_bootstrap must be >= 2, got {n_bootstrap}")
    names = list(task_names) if task_names is not None else [f"task {m}" for m in range(len(tasks))]
    pairs = [paired] * len(tasks) if isinstance(paired, bool) else list(paired)
    if len(pairs) != len(tasks):
        raise AnalysisError(f"paired has {len(pairs)} entries for {len(tasks)} tasks")
    arrays = [{c: np.asarray(task[c], dtype=float).ravel() for c in configs} for task in tasks]
    for m, task in enumerate(arrays):
        empty = [c for c in configs if task[c].size == 0 or not np.all(np.isfinite(task[c]))]
        if empty:
            raise AnalysisError(f"config {empty[0]} has no runs or a non-finite score on {names[m]}")
        if pairs[m] and len({task[c].size for c in configs}) != 1:
            pairs[m] = False  # unequal runs cannot line up by seed
    strata: list[_Stratum] = []
    for m, task in enumerate(arrays):
        if pairs[m]:
            strata.append(_Stratum(m, tuple(range(len(configs))), np.stack([task[c] for c in configs])))
        else:
            strata.extend(_Stratum(m, (k,), task[c][None, :]) for k, c in enumerate(configs))

    k = len(configs)
    iqm_point = np.array([stats.trim_mean(np.concatenate([task[c] for task in arrays]), TRIM) for c in configs])
    if reference is not None and reference not in configs:
        raise AnalysisError(f"reference {reference!r} is not one of the configs: {valid_list(configs)}")
    ref = configs.index(reference) if reference is not None else int(np.argmax(iqm_point))
    every = np.concatenate([task[c] for task in arrays for c in configs])
    if thresholds is None:
        taus = np.empty(0)
    elif isinstance(thresholds, int):
        taus = np.linspace(every.min(), every.max(), max(thresholds, 2))
    else:
        taus = np.asarray(thresholds, dtype=float)
    profiled = [] if taus.size == 0 else [configs.index(c) for c in (profile if profile is not None else configs)]
    statistic = _Statistic(strata, k, len(tasks), ref if k > 1 else None, taus, profiled)
    estimate = statistic(*[f[0] for f in statistic.full()])
    n_comparisons = max(k - 1, 1)
    alphas = np.full(statistic.n_outputs, 1 - confidence)
    alphas[k:2 * k] = (1 - confidence) / n_comparisons  # P(X > Y): simultaneous over the table (Bonferroni)
    out_bounds = [bounds] * k + [(0.0, 1.0)] * (statistic.n_outputs - k)
    low, high, df = (np.full(statistic.n_outputs, np.nan) for _ in range(3))
    notes: list[str] = []
    if statistic.resampled:
        per_resample = (sum(s.scores.size for s in strata) * (2 + max(1, k))
                        + len(profiled) * every.size * max(1, taus.size))
        with warnings.catch_warnings():  # scipy's own interval (unused) of an undefined output (NaN) warns
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            res = stats.bootstrap([np.arange(strata[i].n, dtype=float) for i in statistic.resampled], statistic,
                                  n_resamples=n_bootstrap, vectorized=True, method="percentile",
                                  confidence_level=confidence, rng=np.random.default_rng(seed),
                                  batch=int(max(1, min(n_bootstrap, MEMORY // max(per_resample, 1)))))
        shares, sizes = _jackknife_shares(statistic)
        low, high, df = _intervals(estimate, np.asarray(res.standard_error), shares, sizes, alphas, out_bounds)
        se = np.asarray(res.standard_error)
        low, high = _wilson_floor(statistic, arrays, configs, estimate, low, high, alphas, se)
        fixed = [o for o in range(statistic.n_outputs) if statistic.depends_on_fixed(o)]
        low[fixed], high[fixed] = np.nan, np.nan
        if fixed:
            notes.append("no interval where a config has a single run on some task (one run cannot be resampled)")
    else:
        notes.append("no intervals: every config has a single run on every task")

    runs = [sum(task[c].size for task in arrays) for c in configs]
    iqm = pd.DataFrame({
        "config": configs, "iqm": iqm_point, "iqm_ci_low": low[:k], "iqm_ci_high": high[:k],
        "mean": [np.mean([task[c].mean() for task in arrays]) for c in configs], "runs": runs,
    }).sort_values("iqm", ascending=False, kind="stable").reset_index(drop=True)
    iqm.insert(0, "rank", np.arange(1, k + 1))
    rows = []
    for c in range(k):
        if c == ref or k < 2:
            continue
        p, lo, hi = estimate[k + c], low[k + c], high[k + c]
        reading = ("undecided" if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0.5 <= hi
                   else ("better than the reference" if lo > 0.5 else "worse than the reference"))
        rows.append({"config": configs[c], "reference": configs[ref], "p_improvement": p, "p_improvement_ci_low": lo,
                     "p_improvement_ci_high": hi, "reading": reading,
                     "tasks_paired": sum(1 for m in range(len(tasks)) if pairs[m])})
    improvement = pd.DataFrame(rows, columns=["config", "reference", "p_improvement", "p_improvement_ci_low",
                                              "p_improvement_ci_high", "reading", "tasks_paired"])
    if not improvement.empty:
        improvement = improvement.sort_values("p_improvement", ascending=False, kind="stable").reset_index(drop=True)
    profiles = {}
    base, t = 2 * k, taus.size
    for j, c in enumerate(profiled):
        cut = slice(base + j * t, base + (j + 1) * t)
        profiles[configs[c]] = {"fraction": estimate[cut].tolist(), "low": low[cut].tolist(),
                                "high": high[cut].tolist()}
    sizes_all = sorted({s.n for s in strata})
    return {
        "configs": configs, "reference": configs[ref] if k > 1 else None, "iqm": iqm, "improvement": improvement,
        "profiles": {"thresholds": taus.tolist(), "by_config": profiles},
        "tasks": [{"task": names[m], "paired": bool(pairs[m]), "runs": {c: int(arrays[m][c].size) for c in configs}}
                  for m in range(len(tasks))],
        "confidence": confidence, "n_bootstrap": n_bootstrap, "comparisons": n_comparisons if k > 1 else 0,
        "df": {"iqm": df[:k].tolist(), "improvement": df[k:2 * k].tolist()},
        "runs_per_stratum": sizes_all, "notes": notes,
    }


# -- from studies to tasks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    name: str
    table: StudyTable
    groups: dict[tuple, str]  # config key -> the study's config group on this task


def _key(params: Mapping[str, Any], names: Sequence[str]) -> tuple:
    """A config's identity across tasks: its values of the shared parameters, loosely typed (0.01 matches
    "0.01", as :func:`studies.analysis._collect.same_value` does)."""
    def norm(value: Any) -> str:
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            return str(value).strip().lower()

    return tuple((n, norm(params[n])) for n in names if n in params)


def _tasks(tables: list[StudyTable], over: str | None) -> tuple[list[_Task], list[str]]:
    for table in tables:
        if over is not None and over not in table.param_names():
            raise AnalysisError(f"study {table.study_name!r} does not search {over!r}, so it cannot be split into "
                                f"tasks by it; its parameters: {valid_list(table.param_names()) or 'none'}")
    names = [n for n in tables[0].param_names() if n != over and all(n in t.param_names() for t in tables[1:])]
    if not names:
        studies = ", ".join(repr(t.study_name) for t in tables)
        raise AnalysisError(f"studies {studies} share no searched parameter (besides {over!r}) to match configs on"
                            if over else f"studies {studies} share no searched parameter to match configs on")
    tasks: list[_Task] = []
    for table in tables:
        split: dict[str, list[str]] = {}
        for group in table.groups:
            value = table.params_of(group).get(over) if over else None
            split.setdefault("" if over is None else str(value), []).append(group)
        for value, groups in split.items():
            name = (table.study_name if over is None
                    else value if len(tables) == 1 else f"{table.study_name}/{over}={value}")
            keyed: dict[tuple, str] = {}
            for group in groups:
                key = _key(table.params_of(group), names)
                if key in keyed:
                    others = [n for n in table.param_names() if n not in names and n != over]
                    hint = (f"; it also searches {valid_list(others)}, which the matching leaves out: split the "
                            f"studies into tasks by it (--over {others[0]}) or aggregate this study alone"
                            if others else "")
                    raise AnalysisError(f"task {name!r} has two configs with the same shared parameters "
                                        f"({table.label_of(keyed[key])} and {table.label_of(group)}){hint}")
                keyed[key] = group
            tasks.append(_Task(name, table, keyed))
    return tasks, names


def _chance(table: StudyTable, groups: Sequence[str]) -> float | None:
    """The share of the most frequent class among the task's test images (rows of the stored test
    confusion matrix), when every trial of the task stores the same class counts; else None."""
    counts = None
    for group in groups:
        for row in table.row_numbers(group).tolist():
            matrix = table.trials[row].user_attrs.get("confusion")
            try:
                these = np.asarray(matrix, dtype=float).sum(axis=1)
            except (TypeError, ValueError):
                return None
            if these.ndim != 1 or these.size < 2 or these.sum() <= 0:
                return None
            if counts is None:
                counts = these
            elif counts.shape != these.shape or not np.array_equal(counts, these):
                return None
    return None if counts is None else float(counts.max() / counts.sum())


def _task_runs(task: _Task, keys: Sequence[tuple], column: str) -> tuple[dict[tuple, np.ndarray], bool]:
    """Each shared config's scores on the task, lined up by seed (paired) when every config ran the
    same seeds once each with a finite score."""
    groups = [task.groups[k] for k in keys]
    values = task.table.frame[column].to_numpy(dtype=float)
    blocks = seed_blocks(task.table, groups)
    if blocks is not None and all(np.all(np.isfinite(values[b])) for b in blocks):
        return {k: values[b] for k, b in zip(keys, blocks)}, True
    out = {}
    for k, g in zip(keys, groups):
        v = task.table.values(g, column)
        out[k] = v[np.isfinite(v)]
    return out, False


def aggregate_studies(
    studies: Sequence[optuna.Study | StudyTable],
    *,
    over: str | None = None,
    metric: str = "value",
    normalize: str = "auto",
    baseline: str | Mapping[str, Any] | None = None,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    profile_points: int = 101,
    max_profiles: int | None = 10,
) -> dict[str, Any]:
    """IQM, probability of improvement and performance profiles of the configs shared by several tasks.

    A task is a study, or with ``over`` (e.g. ``"dataset"``) each value of that parameter in each study;
    one study alone is split by ``dataset`` when it searches it. Configs are matched across tasks on the
    parameters every study searches (fixed values such as the dataset are not Optuna parameters, so they
    never block a match); only configs present in every task are aggregated. ``metric``: ``value`` (the
    objective, validation accuracy) or ``test``. ``normalize``: ``chance``, ``none`` or ``auto`` (chance
    when every task's class balance is stored). ``baseline`` (``key=value[,...]``) names the reference
    of P(X > Y); default: the preset's baseline when it names one shared config, else the best IQM.
    ``max_profiles``: profile only the best that many by IQM (and the reference).

    Raises AnalysisError (one line) for fewer than 2 tasks, no config shared by every task, studies
    given twice or optimising in opposite directions, and an unknown ``metric``/``normalize``/baseline.
    """
    if metric not in METRICS:
        raise AnalysisError(f"unknown metric {metric!r}; valid: {valid_list(METRICS)}")
    if normalize not in NORMALIZATIONS:
        raise AnalysisError(f"unknown normalize {normalize!r}; valid: {valid_list(NORMALIZATIONS)}")
    if not studies:
        raise AnalysisError("an aggregate needs at least one study")
    tables = [collect(s) for s in studies]
    seen = [t.study_name for t in tables]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise AnalysisError(f"study {twice[0]!r} is given more than once; each study is a task (or, with --over, "
                            "a set of tasks)")
    if len({t.direction for t in tables}) > 1 and METRICS[metric] == "value":
        raise AnalysisError("the studies optimise in opposite directions: "
                            + ", ".join(f"{t.study_name!r} {t.direction}s" for t in tables))
    if over is None and len(tables) == 1:
        if "dataset" not in tables[0].param_names():
            raise AnalysisError(f"an aggregate needs at least 2 tasks, and study {tables[0].study_name!r} is one task "
                                "(it does not search 'dataset'); give more studies or a parameter to split it by "
                                "(--over PARAM)")
        over = "dataset"
    column = METRICS[metric]
    tasks, names = _tasks(tables, over)
    if len(tasks) < 2:
        raise AnalysisError(f"an aggregate needs at least 2 tasks, got 1 ({tasks[0].name!r}: the only value of "
                            f"{over!r} in study {tables[0].study_name!r}); give more studies or another --over "
                            "parameter")
    keys = [k for k in tasks[0].groups if all(k in t.groups for t in tasks[1:])]
    notes: list[str] = []
    if not keys:
        raise AnalysisError(f"no config is in every task ({len(tasks)} tasks: {valid_list([t.name for t in tasks])}); "
                            f"configs are matched on {valid_list(names)}, so an aggregate needs studies with the same "
                            "configs")
    runs, paired = [], []
    for task in tasks:
        got, is_paired = _task_runs(task, keys, column)
        runs.append(got)
        paired.append(is_paired)
    empty = {k for got in runs for k, v in got.items() if v.size == 0}
    if empty:
        keys = [k for k in keys if k not in empty]
        notes.append(f"{len(empty)} config(s) left out: no finite {metric} score on some task")
        if not keys:
            raise AnalysisError(f"no config has a finite {metric} score on every task")
    dropped = len({k for t in tasks for k in t.groups}) - len(keys)
    if dropped:
        notes.append(f"{dropped} config(s) not in every task are left out: an aggregate compares configs on the same "
                     "tasks")

    higher = column == "test" or tables[0].maximize
    accuracy = column == "test" or all(t.value_bounds == (0.0, 1.0) for t in tables)
    chances = [_chance(t.table, list(t.groups.values())) if accuracy else None for t in tasks]
    if normalize == "chance" and not accuracy:
        raise AnalysisError("normalize=chance needs accuracies; these studies' objective is not an accuracy (use none)")
    if normalize == "chance" and any(c is None for c in chances):
        lacking = [t.name for t, c in zip(tasks, chances) if c is None]
        raise AnalysisError(f"normalize=chance needs each task's class balance (the trials' test confusion matrix), "
                            f"which {valid_list(lacking)} lack; use --normalize none")
    known = all(c is not None for c in chances)
    method = "chance" if normalize == "chance" or (normalize == "auto" and known) else "none"
    if normalize == "auto" and method == "none":
        notes.append("scores are not normalised: " + ("the objective is not an accuracy" if not accuracy
                                                      else "some task's class balance is not stored on its trials"))

    def scale(values: np.ndarray, chance: float | None) -> np.ndarray:
        out = (values - chance) / (1.0 - chance) if method == "chance" else values
        return out if higher else -out  # the aggregates compare "higher is better"

    first = tasks[0]
    labels = {k: config_label({n: v for n, v in first.table.params_of(first.groups[k]).items() if n in names})
              for k in keys}
    reference = _reference(tables, tasks[0], keys, names, labels, baseline, over)
    task_scores = [{labels[k]: scale(got[k], c) for k in keys} for got, c in zip(runs, chances)]
    bounds = ((-math.inf, 1.0) if method == "chance" else (0.0, 1.0)) if accuracy and higher else (-math.inf, math.inf)
    profile = None
    if max_profiles is not None:
        point = [stats.trim_mean(np.concatenate([t[labels[k]] for t in task_scores]), TRIM) for k in keys]
        order = [labels[keys[i]] for i in np.argsort(point)[::-1]]
        profile = list(dict.fromkeys(order[:max_profiles] + ([reference[0]] if reference else [])))
    result = aggregate_scores(task_scores, paired=paired, reference=reference[0] if reference else None,
                              n_bootstrap=n_bootstrap, confidence=confidence, seed=seed, thresholds=profile_points,
                              profile=profile, bounds=bounds, task_names=[t.name for t in tasks])
    if not higher:  # back to the objective's own sign for what is shown
        for col in ("iqm", "iqm_ci_low", "iqm_ci_high", "mean"):
            result["iqm"][col] = -result["iqm"][col]
        result["iqm"][["iqm_ci_low", "iqm_ci_high"]] = result["iqm"][["iqm_ci_high", "iqm_ci_low"]].to_numpy()
        result["profiles"]["thresholds"] = [-t for t in result["profiles"]["thresholds"]]
    for info, task, chance in zip(result["tasks"], tasks, chances):
        info.update(study=task.table.study_name, chance=chance)
    result.update(
        studies=[t.study_name for t in tables], over=over, matched_on=names, metric=metric, higher_is_better=higher,
        normalization=method, reference_source=reference[1] if reference else None,
        notes=[*notes, *result["notes"]],
    )
    return result


def _reference(tables: list[StudyTable], first: _Task, keys: list[tuple], names: list[str], labels: dict[tuple, str],
               baseline: str | Mapping[str, Any] | None, over: str | None) -> tuple[str, str] | None:
    """The reference config of P(X > Y) and where it came from; None: the best IQM (decided later)."""
    if len(keys) < 2:
        return None
    if baseline is not None:
        wanted, source = parse_assignments(baseline), "--baseline"
    else:
        spec = next((t.spec for t in tables if t.spec is not None and t.spec.baseline), None)
        if spec is None:
            return None
        wanted, source = dict(spec.baseline), "study spec"
    wanted = {k: v for k, v in wanted.items() if k != over}
    unknown = [k for k in wanted if k not in names]
    params = {k: first.table.params_of(first.groups[k]) for k in keys}
    hits = [k for k in keys if all(n in params[k] and same_value(params[k][n], v) for n, v in wanted.items())]
    if source == "study spec":
        return (labels[hits[0]], source) if len(hits) == 1 and not unknown else None
    if unknown:
        raise AnalysisError(f"baseline key(s) {valid_list(unknown)} are not parameters the configs are matched on; "
                            f"valid: {valid_list(names)}")
    if len(hits) != 1:
        what = "matches no shared config" if not hits else f"matches {len(hits)} shared configs, not one"
        raise AnalysisError(f"baseline {baseline} {what}; shared configs: "
                            f"{valid_list([labels[k] for k in keys])}")
    return labels[hits[0]], source
