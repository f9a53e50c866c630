"""Objective-specific metrics: the scalar user attributes an objective declares in ``report_attrs``
(``objectives.interface.objective_report_attrs``), summarised per config, and the pairs of them a reader
compares first (seed 003: CNN-3 against CNN-1), paired within each trial.

Which attributes: the study spec names its objective; the objective class declares them, read
here through the objectives registry's public functions, so a new objective needs no edit here:
``report_attrs`` (the attributes), ``report_pairs`` (``(metric, versus)`` pairs, e.g. the
``skip_layers`` objective's CNN-3 vs CNN-1 accuracy and inference time) and ``report_description``
(what the metrics mean). A hand-made study (no spec) has none unless ``attrs`` / ``pairs`` are passed.

Pairing: ``metric`` and ``versus`` of a pair are measured in the same trial (same seed, same data
split), so each trial gives one difference; the test is the paired t-test over the config's
trials (Wilcoxon with ``test="wilcoxon"``), Holm-corrected over the configs for each pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd

from objectives.interface import objective_report_attrs, objective_report_description, objective_report_pairs
from studies.analysis._collect import StudyTable, collect
from studies.analysis._stats import Comparison, compare, delta_bounds, holm, mean_ci, metric_bounds


def objective_name(table: StudyTable) -> str | None:
    return table.spec.objective if table.spec is not None else None


def objective_attrs(table: StudyTable) -> tuple[str, ...]:
    """The scalar user attributes the study's objective declares for reports (empty if none)."""
    name = objective_name(table)
    return objective_report_attrs(name) if name else ()


def objective_pairs(table: StudyTable) -> tuple[tuple[str, str], ...]:
    """``(metric, versus)`` pairs to compare within each trial: the objective's ``report_pairs``."""
    name = objective_name(table)
    return objective_report_pairs(name) if name else ()


def _number(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return math.nan


def attr_values(table: StudyTable, group: str, attr: str) -> tuple[np.ndarray, list[int]]:
    """Finite values of user attribute ``attr`` over the trials of ``group``, and their trial numbers."""
    rows = np.flatnonzero(table.frame["group"].to_numpy() == group)
    pairs = [(_number(table.trials[r].user_attrs.get(attr)), table.trials[r].number) for r in rows]
    pairs = [(v, n) for v, n in pairs if math.isfinite(v)]
    return np.array([v for v, _ in pairs], dtype=float), [n for _, n in pairs]


def recorded_attrs(table: StudyTable, attrs: Sequence[str]) -> list[str]:
    """The attributes of ``attrs`` that some completed trial carries as a number."""
    return [a for a in attrs if any(math.isfinite(_number(t.user_attrs.get(a))) for t in table.trials)]


def _sd(values: np.ndarray) -> float:
    if len(values) < 2:
        return math.nan
    return 0.0 if np.ptp(values) == 0 else float(values.std(ddof=1))  # no 1e-16 from rounding the mean


def summarise_attrs(
    table: StudyTable, attrs: Sequence[str], confidence: float = 0.95
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per config group: ``{attr: {mean, std, ci_low, ci_high, n, ci_clipped}}`` over its trials
    (CI as for the leaderboard, clipped to the attribute's known range)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group in table.groups:
        entry = {}
        for attr in attrs:
            values, _ = attr_values(table, group, attr)
            ci = mean_ci(values, confidence, bounds=metric_bounds(attr))
            entry[attr] = {
                "mean": ci.mean, "std": _sd(values),
                "ci_low": ci.low, "ci_high": ci.high, "n": ci.n, "ci_clipped": ci.clipped,
            }
        out[group] = entry
    return out


def paired_metrics(
    table: StudyTable,
    pairs: Sequence[tuple[str, str]],
    order: Sequence[str] | None = None,
    *,
    confidence: float = 0.95,
    alpha: float = 0.05,
    test: str = "t",
) -> pd.DataFrame:
    """One row per config and pair: ``metric`` minus ``versus`` paired within each trial, CI,
    p-value, Holm over the configs of that pair, and a verdict (higher / lower / no detectable
    difference / not tested: too few runs)."""
    order = list(order) if order is not None else table.groups
    rows = []
    for metric, versus in pairs:
        block = []
        for rank, group in enumerate(order, start=1):
            a, n_a = attr_values(table, group, metric)
            b, n_b = attr_values(table, group, versus)
            if not len(a) and not len(b):
                continue
            shared = sorted(set(n_a) & set(n_b))
            if len(shared) >= 2:
                cmp = compare(a, b, pairs_a=n_a, pairs_b=n_b, test=test, confidence=confidence,
                              bounds=delta_bounds(metric_bounds(metric), metric_bounds(versus)))
            else:  # pairs are within one trial: fewer than 2 trials carrying both cannot be tested
                by_a, by_b = dict(zip(n_a, a)), dict(zip(n_b, b))
                delta = float(np.mean([by_a[n] - by_b[n] for n in shared])) if shared else math.nan
                cmp = Comparison(delta, math.nan, math.nan, len(a), len(b), len(shared), "none", "none", None,
                                 f"too few runs (n={len(shared)})")
            block.append((cmp, {
                "rank": rank, "config": table.label_of(group), "metric": metric, "versus": versus,
                "n_pairs": cmp.n_pairs, "metric_mean": float(a.mean()) if len(a) else math.nan,
                "versus_mean": float(b.mean()) if len(b) else math.nan,
                "delta": cmp.delta, "delta_ci_low": cmp.ci_low, "delta_ci_high": cmp.ci_high, "ci_clipped": cmp.clipped,
                "test": cmp.test, "p_value": cmp.p_value,
            }))
        for (cmp, row), p_adj in zip(block, holm([c.p_value for c, _ in block])):
            row["p_holm"] = p_adj
            if p_adj is None:
                row["verdict"] = f"not tested: {cmp.note}"
            elif p_adj >= alpha:
                row["verdict"] = "no detectable difference"
            else:
                row["verdict"] = "higher" if cmp.delta > 0 else "lower"
            rows.append(row)
    return pd.DataFrame(rows)


def objective_metrics(
    study: optuna.Study | StudyTable,
    *,
    attrs: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    order: Sequence[str] | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
    test: str = "t",
) -> dict[str, Any]:
    """The objective's own metrics: ``{"objective", "attrs", "by_config": {group: {attr: {...}}},
    "pairs": DataFrame, "notes"}``. ``attrs`` / ``pairs`` default to what the study's objective
    declares; ``order`` is the config order of the pair rows (default: first seen)."""
    table = collect(study)
    declared = tuple(attrs) if attrs is not None else objective_attrs(table)
    wanted_pairs = tuple(pairs) if pairs is not None else objective_pairs(table)
    present = recorded_attrs(table, dict.fromkeys([*declared, *(m for p in wanted_pairs for m in p)]))
    notes = []
    missing = [a for a in declared if a not in present]
    if missing:
        notes.append("declared by the objective but recorded as a number on no completed trial: " + ", ".join(missing))
    usable = [p for p in wanted_pairs if p[0] in present and p[1] in present]
    for p in wanted_pairs:
        if p not in usable:
            notes.append(f"{p[0]} vs {p[1]}: not compared (not recorded on the trials)")
    shown = [a for a in declared if a in present] or [a for a in present]
    return {
        "objective": objective_name(table),
        "attrs": shown,
        "by_config": summarise_attrs(table, shown, confidence),
        "pairs": (paired_metrics(table, usable, order, confidence=confidence, alpha=alpha, test=test) if usable
                  else pd.DataFrame()),
        "alpha": alpha,
        "notes": notes,
        "description": objective_report_description(objective_name(table) or ""),
    }
