"""Leaderboard over seed repeats and the ablation table against a baseline config.

Selection is on the objective (validation accuracy in layerlab); test accuracy is reported beside
it and never used to rank or to choose the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from studies.analysis._collect import (
    AnalysisError,
    StudyTable,
    check_keys,
    collect,
    format_assignment,
    matching_groups,
    parse_assignments,
    same_value,
)
from studies.analysis._metrics import objective_attrs, recorded_attrs, summarise_attrs
from studies.analysis._family import Judged, as_row, design_noise, judge
from studies.analysis._stats import (
    Comparison,
    compare,
    delta_bounds,
    eval_images,
    eval_size,
    mean_ci,
    table_bounds,
    value_resolution,
)
from searchspace.errors import valid_list

LEADERBOARD_COLUMNS = [
    "rank", "label", "config_id", "n", "val_mean", "val_std", "val_ci_low", "val_ci_high", "ci_method",
    "test_mean", "test_std", "test_ci_low", "test_ci_high", "ci_clipped", "vs_best", "vs_best_p", "noise",
    "model_params", "params", "extra",
]
NOISE_NOTE_IMAGES = ("verdicts and CIs count both seed-to-seed noise and the finite evaluation set "
                     "(per-image correctness stored on the trials; crossed seeds x images model, "
                     "see docs/statistics.md)")
NOISE_NOTE_SEEDS = ("the trials store no per-image correctness (or not on shared images): verdicts and CIs count "
                    "seed-to-seed noise only, not the sampling noise of the finite evaluation set")


def _std(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def leaderboard_table(
    study: optuna.Study | StudyTable,
    *,
    confidence: float = 0.95,
    alpha: float = 0.05,
    test: str = "t",
    attrs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per config, best first: n runs, mean/std/CI of the objective and of test accuracy,
    and ``vs_best``: the verdict of each config against the best one (paired by seed, counting
    the evaluation images when stored, on the design's pooled seed noise; selection-aware:
    Tukey's all-pairs family, since the best is chosen on the same data; see
    :mod:`studies.analysis._family`), its adjusted p in ``vs_best_p``.
    "no detectable difference" there means the ranking between the two is not settled.
    ``noise``: "seeds + images" when the CIs count the finite evaluation set, else "seeds".

    ``extra``: per config, ``{attr: {mean, std, ci_low, ci_high, n, ci_clipped}}`` of the scalar
    user attributes ``attrs`` (default: those the study's objective declares in ``report_attrs``,
    e.g. ``cnn1_test_accuracy`` for ``skip_layers``; only those some trial recorded)."""
    table = collect(study)
    extra = summarise_attrs(table, recorded_attrs(table, objective_attrs(table) if attrs is None else attrs),
                            confidence)
    rows = []
    for group in table.groups:
        val, tst = table.values(group), table.values(group, "test")
        v_img, t_img = _image_rows(table, group, "value"), _image_rows(table, group, "test")
        v_ci = mean_ci(val, confidence, bounds=table_bounds(table, "value"), images=v_img)
        t_ci = mean_ci(tst, confidence, bounds=table_bounds(table, "test"), images=t_img)
        first = int(table.row_numbers(group)[0])
        rows.append({
            "label": table.label_of(group),
            "config_id": None if group.startswith("params:") else group,
            "group": group,
            "n": len(val),
            "val_mean": v_ci.mean, "val_std": _std(val), "val_ci_low": v_ci.low, "val_ci_high": v_ci.high,
            "ci_method": v_ci.method,
            "test_mean": t_ci.mean, "test_std": _std(tst), "test_ci_low": t_ci.low, "test_ci_high": t_ci.high,
            "ci_clipped": v_ci.clipped or t_ci.clipped,
            "noise": "seeds + images" if v_img is not None else "seeds",
            "model_params": table.trials[first].user_attrs.get("params"),  # layerlab: model size
            "params": table.params_of(group),
            "extra": extra[group],
        })
    board = pd.DataFrame(rows).sort_values("val_mean", ascending=not table.maximize, kind="stable", ignore_index=True)
    board.insert(0, "rank", range(1, len(board) + 1))
    best = board.loc[0, "group"]
    others = list(board["group"][1:])
    bounds = delta_bounds(table_bounds(table, "value"), table_bounds(table, "value"))
    judged = dict(zip(others, judge(table,
                                    [(g, best, _compare_groups(table, g, best, test, confidence)) for g in others],
                                    kind="best", alpha=alpha, maximize=table.maximize, bounds=bounds)))
    board["vs_best"] = ["best" if g == best else _verdict(judged[g], alpha, table.maximize) for g in board["group"]]
    board["vs_best_p"] = [None if g == best or judged[g] is None else judged[g].p_adj for g in board["group"]]
    return board[[*LEADERBOARD_COLUMNS, "group"]]


def _verdict(judged: Judged | None, alpha: float, maximize: bool, note: str = "too few runs") -> str:
    """Plain words for a judged comparison: better / worse / no detectable difference."""
    if judged is None or judged.p_adj is None:
        return f"not tested: {note}"
    if judged.p_adj >= alpha:
        return "no detectable difference"
    return "better" if (judged.delta > 0) == maximize else "worse"


def _image_rows(table: StudyTable, group: str, metric: str) -> np.ndarray | None:
    """S x N per-image table of ``group`` in the row order of ``table.values(group, metric)``."""
    got = eval_images(table, group, metric)
    if got is None:
        return None
    by_pair, _ = got
    return np.vstack([by_pair[p] for p in table.column("pair")[table.row_numbers(group)]])


def noise_note(table: StudyTable) -> str:
    """One sentence: which noise the verdicts count (per-image data present for every config?)."""
    keys = {(got[1] if (got := eval_images(table, g)) else None) for g in table.groups}
    return NOISE_NOTE_IMAGES if None not in keys and len(keys) == 1 else NOISE_NOTE_SEEDS


def _compare_groups(
    table: StudyTable, a: str, b: str, test: str, confidence: float, metric: str = "value"
) -> Comparison:
    """``a`` minus ``b`` on ``metric``, paired by seed; with per-image data on the same images
    (same alignment key) the comparison also counts the evaluation set (:func:`compare_paired`)."""
    va, vb = table.values(a, metric), table.values(b, metric)  # arrays: a DataFrame per call cost more than the test
    pa, pb = table.column("pair")[table.row_numbers(a)], table.column("pair")[table.row_numbers(b)]
    keep_a, keep_b = np.isfinite(va), np.isfinite(vb)
    img_a, img_b = eval_images(table, a, metric), eval_images(table, b, metric)
    same_images = img_a is not None and img_b is not None and img_a[1] == img_b[1]
    size_a, size_b = eval_size(table, a, metric), eval_size(table, b, metric)
    return compare(
        va[keep_a], vb[keep_b], pairs_a=pa[keep_a].tolist(), pairs_b=pb[keep_b].tolist(),
        test=test, confidence=confidence, bounds=delta_bounds(table_bounds(table, metric), table_bounds(table, metric)),
        images_a=img_a[0] if same_images else None, images_b=img_b[0] if same_images else None,
        n_images=size_a if size_a == size_b else None, resolution=value_resolution(table, metric),
    )


@dataclass(frozen=True)
class Ablation:
    """Each variant against its baseline config: delta (variant - baseline), its simultaneous CI,
    adjusted p (``p_adj``; ``correction`` names the method), verdict."""

    baseline: dict[str, Any]
    baseline_source: str  # "--baseline" | "study spec" | "best config (no baseline given)"
    baseline_labels: list[str]
    rows: pd.DataFrame
    alpha: float
    test: str
    notes: list[str] = field(default_factory=list)
    baseline_groups: list[str] = field(default_factory=list)  # config groups of the baseline (StudyTable.groups)
    correction: str = "Dunnett (many-to-one)"  # how p_adj was computed (see _correction_name)
    margin: float | None = None  # equivalence margin (TOST over every row, Holm)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "baseline_source": self.baseline_source,
            "baseline_configs": self.baseline_labels,
            "alpha": self.alpha,
            "test": self.test,
            "correction": self.correction,
            "margin": self.margin,
            "rows": self.rows.to_dict(orient="records"),
            "notes": self.notes,
        }


def resolve_baseline(
    table: StudyTable, baseline: str | Mapping[str, Any] | None
) -> tuple[dict[str, Any], str, list[str]]:
    """The baseline assignment, where it came from, and the config groups it matches."""
    if baseline is not None and (not isinstance(baseline, str) or baseline.strip()):
        assignment, source = parse_assignments(baseline), "--baseline"
    elif table.spec is not None and table.spec.baseline:
        assignment, source = dict(table.spec.baseline), "study spec"
        # The preset's baseline may not apply after --set pinned its key or the grid was cut:
        # then fall back to the best config instead of refusing a report nobody asked to break.
        if any(k not in table.param_names() for k in assignment) or not matching_groups(table, assignment):
            best = str(leaderboard_table(table).loc[0, "group"])
            return (table.params_of(best), f"best config (the preset's baseline {format_assignment(assignment)} "
                    "is not among the completed configs)", [best])
    else:
        board = leaderboard_table(table)
        best = str(board.loc[0, "group"])
        return table.params_of(best), "best config (no baseline given)", [best]
    check_keys(table, assignment, "baseline")
    groups = matching_groups(table, assignment)
    if not groups:
        configs = valid_list(sorted({table.label_of(g) for g in table.groups}), limit=20)
        raise AnalysisError(
            f"baseline {format_assignment(assignment)} matches no completed config of study "
            f"{table.study_name!r}; configs: {configs}"
        )
    return assignment, source, groups


def _partner(table: StudyTable, variant: str, baselines: list[str], keys: set[str]) -> str | None:
    """The baseline config that agrees with ``variant`` on every parameter outside the baseline
    keys that both carry: the one-factor-changed comparison an ablation means."""
    params = table.params_of(variant)
    for b in baselines:
        other = table.params_of(b)
        if all(same_value(params[k], other[k]) for k in set(params) & set(other) - keys):
            return b
    return None


def ablation_table(
    study: optuna.Study | StudyTable,
    baseline: str | Mapping[str, Any] | None = None,
    *,
    alpha: float = 0.05,
    test: str = "t",
    confidence: float = 0.95,
    margin: float | None = None,
    effect: float | None = None,
) -> Ablation:
    """Every config against the baseline (``baseline`` mapping or ``"key=value,..."``; default:
    the study spec's ``baseline``; else the best config).

    When the baseline names only some parameters (``layers=full`` in a grid that also varies the
    optimizer), each variant is compared with the baseline config that shares its other
    parameters. Differences are variant minus baseline on the objective, paired by seed, with the
    seed noise pooled over the whole study (:mod:`studies.analysis._family`); test accuracy deltas
    are reported beside. The rows form one family: Dunnett's many-to-one test against an explicit
    baseline; when the baseline is the best config (no baseline given), Tukey's all-pairs test
    (selection-aware) and no variant can be "better". ``p_adj`` is the adjusted p-value and
    ``correction`` names the method; ``delta_ci_low/high`` is the simultaneous interval that made
    the verdict, ``delta_ci_*_unadjusted`` the plain 95% one.

    Every row carries ``mde`` (the minimum detectable effect at 80% power in this family, its
    seeds and noise) and ``repeats_needed`` (seeds to detect ``effect``, default the row's
    |delta|; None: more seeds cannot, e.g. the evaluation set is too small). ``margin``: every
    row is also tested for equivalence (TOST, Holm over all rows); a row without a detectable
    difference becomes "equivalent within +-margin" or "undecided".
    """
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha!r}")
    if margin is not None and not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise AnalysisError(f"margin must be a positive number (the equivalence bound, e.g. 0.01), got {margin!r}")
    table = collect(study)
    assignment, source, base_groups = resolve_baseline(table, baseline)
    keys = set(assignment)
    notes: list[str] = []
    rows, comparisons = [], []
    for group in table.groups:
        if group in base_groups:
            continue
        partner = _partner(table, group, base_groups, keys)
        if partner is None:
            notes.append(f"{table.label_of(group)}: no baseline config shares its other parameters; not compared")
            continue
        cmp = _compare_groups(table, group, partner, test, confidence)
        test_cmp = _compare_groups(table, group, partner, test, confidence, metric="test")
        params, base_params = table.params_of(group), table.params_of(partner)
        changed = {k: v for k, v in params.items() if k not in base_params or not same_value(v, base_params[k])}
        comparisons.append((group, partner, cmp))
        rows.append({
            "variant": table.label_of(group),
            "baseline": table.label_of(partner),
            "changed": changed,
            "n_variant": cmp.n_a, "n_baseline": cmp.n_b, "n_pairs": cmp.n_pairs,
            "design": cmp.design, "test": cmp.test,
            "variant_mean": float(np.mean(table.values(group))),
            "baseline_mean": float(np.mean(table.values(partner))),
            "delta": cmp.delta, "delta_ci_low": cmp.ci_low, "delta_ci_high": cmp.ci_high,
            "test_delta": test_cmp.delta, "test_delta_ci_low": test_cmp.ci_low, "test_delta_ci_high": test_cmp.ci_high,
            "p_value": cmp.p_value, "ci_clipped": cmp.clipped or test_cmp.clipped,
            "_note": cmp.note or "too few runs", "_noise": cmp.noise or cmp.test,
        })
    fallback = source.startswith("best config")
    judged = judge(table, comparisons, kind="best" if fallback else "baseline", alpha=alpha, maximize=table.maximize,
                   effect=effect, margin=margin,
                   bounds=delta_bounds(table_bounds(table, "value"), table_bounds(table, "value")))
    methods = set()
    for row, j in zip(rows, judged):
        row.update(as_row(j))
        row["verdict"] = _verdict(j, alpha, table.maximize, note=row.pop("_note"))
        row["noise"] = row.pop("_noise")
        if j is not None:
            methods.add(j.method)
        if margin is not None and j is not None and j.p_equivalence is not None:
            row["p_equivalence"] = j.p_equivalence
            if row["verdict"] == "no detectable difference":
                row["verdict"] = f"equivalent within +-{margin:g}" if j.p_equivalence < alpha else "undecided"
    noise = design_noise(table)
    if noise is not None and noise.flagged:
        notes.append("noisier than the pool (own paired differences used): "
                     + ", ".join(table.label_of(g) for g in noise.flagged))
    if not rows:
        notes.append("no variant to compare: the study has only the baseline config")
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values("delta", ascending=not table.maximize, kind="stable", ignore_index=True)
    return Ablation(
        baseline=assignment, baseline_source=source, baseline_labels=[table.label_of(g) for g in base_groups],
        rows=frame, alpha=alpha, test=test, notes=notes, baseline_groups=list(base_groups),
        correction=_correction_name(methods, fallback), margin=margin,
    )


def _correction_name(methods: set[str], fallback: bool) -> str:
    """How the table's p-values were adjusted, in words for its column header and text."""
    if not methods:
        return "none"
    family = "Tukey (all pairs; the baseline is the best config)" if fallback else "Dunnett (many-to-one)"
    if len(methods) == 1 and "Wilcoxon" in next(iter(methods)):
        return next(iter(methods))
    if methods <= {"Dunnett", "Tukey"}:
        return family
    return family + " with Bonferroni for configs noisier than the pool"
