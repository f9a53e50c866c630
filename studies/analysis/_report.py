"""One self-contained HTML report per study (plotly.js inlined, opens offline), its numbers as
JSON, and the upload of the report to the study as an Optuna artifact (the dashboard links it)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from studies._artifacts import artifact_dir_of, default_artifact_dir  # noqa: F401 (one default, re-exported)
from studies.analysis._collect import AnalysisError, StudyTable, collect
from studies.analysis._datasets import MEDMNIST_GROUPS, best_per_dataset, config_value, describe_datasets, study_datasets
from studies.analysis._datasets import selection_labels
from studies.analysis._epoch_test import per_epoch_test_section
from studies.analysis._format import fmt_cell, fmt_interval, fmt_number, round_floats, table_html
from studies.analysis._headline import headline, headline_count, headline_table
from studies.analysis._importance import EVALUATORS, importance_with_ci, variance_split
from studies.analysis._leaderboard import ablation_table, leaderboard_table, noise_note
from studies.analysis._metrics import objective_metrics
from studies.analysis._summary import summary_facts, summary_sentences
from studies.analysis._race import race_section
from studies.analysis._transfer import compare_studies, rank_transfer_matrix

PRIMARY_EVALUATOR = "anova"  # the default headline evaluator (importance_with_ci's "headline" decides)
# Evaluators that get the permutation null in a report: each shuffle refits the evaluator, cheap
# for the ANOVA, about 0.2 s a fit for fANOVA (importance_with_ci(permute=None) runs it for all).
REPORT_PERMUTE = ("anova",)


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)  # plain text (escaped when rendered)
    tables: list[pd.DataFrame] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)  # plotly figures


@dataclass
class Report:
    """The numbers (``data``, JSON-ready) and the sections of the HTML page."""

    study_name: str
    data: dict[str, Any]
    sections: list[Section]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(jsonable(self.data), **kwargs)

    def to_html(self, *, plotly: str = "inline") -> str:
        return render_html(self, plotly=plotly)


def jsonable(value: Any) -> Any:
    """Plain JSON: NaN/inf -> None, numpy scalars -> Python numbers, frames -> records."""
    if isinstance(value, pd.DataFrame):
        return jsonable(value.to_dict(orient="records"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


# One BLAS thread: the report's matrices are small (an ANOVA design of a few thousand rows), and
# OpenBLAS's threads spin while waiting: on a busy 2-core machine they cost 5-10x the CPU of the work.
@threadpool_limits.wrap(limits=1, user_api="blas")
def build_report(
    study: optuna.Study,
    *,
    baseline: str | Mapping[str, Any] | None = None,
    compare_with: optuna.Study | None = None,
    alpha: float = 0.05,
    test: str = "t",
    n_bootstrap: int = 100,
    seed: int = 0,
    top_k: int = 3,
    evaluators: Sequence[str] = EVALUATORS,
    data_dir: str | Path | None = None,
    datasets: str = "embedded",
    progress: bool = False,
    margin: float | None = None,
) -> Report:
    """Every analysis of ``study`` (and the rank transfer to ``compare_with``), as numbers and
    figures. Raises AnalysisError for what cannot be analysed at all (no completed trials, an
    unknown baseline, no shared configs); anything narrower degrades to a note in the report.

    ``datasets``: which of the study's datasets to load for their entropies: ``embedded`` (the
    default: only those shipped in installed packages, never a download), ``all`` or ``none``."""
    from studies.analysis import _figures as figs

    table = collect(study)
    board = leaderboard_table(table, alpha=alpha, test=test)
    ablation = ablation_table(table, baseline, alpha=alpha, test=test, margin=margin)
    transfer = compare_studies(table, collect(compare_with), top_k=top_k, seed=seed) if compare_with is not None else None
    importance = importance_with_ci(table, evaluators=evaluators, n_bootstrap=n_bootstrap, seed=seed, progress=progress,
                                    permute=[e for e in REPORT_PERMUTE if e in evaluators])
    split = variance_split(table, alpha=alpha, test=test)
    extra = objective_metrics(table, order=list(board["group"]), alpha=alpha, test=test)
    notes = [*table.notes, noise_note(table)]
    single = bool((board["n"] == 1).all())
    if single:
        notes.append("every config has a single run: no confidence intervals, no paired tests "
                     "(CIs and tests need 2 or more seed repeats per config)")
    elif (board["n"] == 1).any():
        notes.append(f"{int((board['n'] == 1).sum())} config(s) have a single run: no CI for them")
    clipped = int(board["ci_clipped"].sum()) + (int(ablation.rows["ci_clipped"].sum()) if not ablation.rows.empty else 0)
    if clipped:
        notes.append(f"{clipped} row(s) have a confidence interval clipped to its metric's range (ci_clipped): accuracies "
                     "and fractions to [0, 1], differences of them to [-1, 1]; a t interval over few runs ignores the bound")
    if not importance["available"]:
        notes.append(f"no importance: {importance['reason']}")
    else:
        if not importance["bootstrap"]["available"]:
            notes.append(f"importance without CI: {importance['bootstrap']['reason']}")
        for name, reason in importance["left_out"].items():
            notes.append(f"importance left out {name}: {reason}")
        notes.extend(importance["notes"])

    datasets_info: dict[str, Any] = {}
    medmnist = pd.DataFrame()
    names = study_datasets(table)
    if datasets != "none" and names:
        datasets_info = describe_datasets(names, data_dir, load=datasets)
    if "dataset" in table.param_names() and any(config_value(table, g, "family") for g in table.groups):
        medmnist = best_per_dataset(table, datasets=datasets_info or None)
    by_dataset = None
    if "dataset" in table.param_names() and len(table.param_names()) > 1:
        by_dataset = rank_transfer_matrix(table, by="dataset", n_bootstrap=min(n_bootstrap, 200), seed=seed)
        if not any(p["tau"] is not None for p in by_dataset["pairs"]):
            by_dataset = None

    primary = importance["headline"]["params"]  # evaluated parameters only: never a left-out one
    data: dict[str, Any] = {
        "study": {
            "name": table.study_name, "direction": table.direction, "states": dict(table.state_counts),
            "completed_configs": len(board), "completed_trials": len(table.trials),
            "grouping": table.grouping, "pairing": table.pairing,
            "preset": table.spec.name if table.spec else None,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
        "leaderboard": board.drop(columns=["group"]),
        "ablation": ablation.to_dict(),
        "importance": primary,
        "importance_evaluator": importance["headline"]["evaluator"],
        "importance_detail": importance,
        "variance_split": split,
        "notes": notes,
    }
    facts = summary_facts(table, board, ablation, split)
    data["summary"] = {"facts": facts, "sentences": summary_sentences(facts)}
    if extra["attrs"]:
        data["objective_metrics"] = {k: v for k, v in extra.items() if k != "by_config"}  # per config: leaderboard "extra"
    if transfer is not None:
        data["compare"] = transfer
    if datasets_info:
        data["datasets"] = datasets_info
    if not medmnist.empty:
        data["best_per_dataset"] = medmnist
    if by_dataset is not None:
        data["rank_transfer_by_dataset"] = by_dataset

    verdict = headline(ablation.rows, board, alpha=alpha)
    data["verdict"] = verdict
    sections = [Section("Verdict: what mattered", [headline_count(verdict)] + _verdict_how(verdict, ablation),
                        [] if not (verdict["mattered"] or verdict["undecided"] or verdict["no_effect"]) else [headline_table(verdict)]),
                _summary_section(table, data["summary"]["sentences"], notes)]
    sections.append(Section("Leaderboard", [
        "Configs grouped across seed repeats, ranked by the mean objective (validation accuracy: the selection metric); "
        "test accuracy is reported beside it and never used to rank. 95% CI: Student t at every n (computed at 96.5% to stay "
        "honest under skewed seed noise; over seeds and evaluation images when the trials store per-image results, see "
        "noise); intervals of accuracies are clipped to [0, 1] (ci_clipped). vs_best: paired comparison with the best "
        "config, Bonferroni over all pairs of configs because the best is picked by the same data (vs_best_p).",
        *(["No CI: every config has a single run."] if single else []),
        *_pruned_paragraphs(data, study),  # configs pruned as a whole: listed, never silently absent
    ], [_fmt_board(board)], [figs.leaderboard_figure(board)]))
    if extra["attrs"]:
        sections.append(_objective_metrics_section(extra, board))
    sections.append(_ablation_section(ablation, figs.ablation_figure(ablation)))
    race = race_section(study)  # a raced study: repeats per config, when and why each was decided
    if race is not None:
        data["race"], section = race
        sections.append(section)
    sections.append(_importance_section(importance, figs.importance_figure(importance)))
    optuna_figs, optuna_notes = figs.optuna_figures(study, table)
    for title, fig in optuna_figs:
        sections.append(Section(title, [], [], [fig]))
    if optuna_notes:
        sections.append(Section("Plots not drawn", optuna_notes))
    curves_section, curves_shown = _curves_section(table, board, ablation, figs)
    sections.append(curves_section)
    test_curves = per_epoch_test_section(table, board, figs, Section)  # only with eval_test_every_epoch
    if test_curves is not None:
        sections.append(test_curves)
        data["best_test_over_epochs"] = test_curves.tables[0].to_dict("records")
    confusion_section, confusion_shown = _confusion_section(table, board, ablation, figs)
    sections.append(confusion_section)
    data["figures"] = {"learning_curves": curves_shown, "confusion": confusion_shown}
    if transfer is not None:
        sections.append(_transfer_section(transfer, figs.transfer_figure(transfer)))
    if by_dataset is not None:
        sections.append(Section("Rank transfer between datasets", [
            "Kendall tau between the config rankings (mean objective) on every pair of dataset values of this study, "
            "matched on the other parameters; CI for the tau of the true config means (Tukey-Kramer simultaneous intervals, "
            "projected onto the pairs both datasets can order; see docs/importance.md). High tau: the cheaper dataset "
            "ranks the configs as the other does.",
        ], [_fmt(pd.DataFrame(by_dataset["pairs"]))], [figs.transfer_matrix_figure(by_dataset)]))
    if datasets_info:
        sections.append(_datasets_section(datasets_info))
    if not medmnist.empty:
        sections.append(Section("Best model per dataset (seed 000, Table 3 layout)", [
            "Per dataset, the best config by mean validation accuracy among " + "; ".join(f"{k}: families {', '.join(v)}" for k, v in MEDMNIST_GROUPS.items())
            + ". Test accuracy beside. The entropies are defined in the Datasets section; seed 000's own Entropy column is "
            "unexplained in the paper (and often negative) and is not reproduced.",
            "Columns: '<group> best' is chosen by 'val acc (selects)'; 'test acc (reported, not used to select)' is "
            "that config's test accuracy, the number the paper's Table 3 reports.",
        ], [_fmt(selection_labels(medmnist))]))
    return Report(table.study_name, data, sections)


def _pruned_paragraphs(data: dict[str, Any], study: Any) -> list[str]:
    """Configs pruned as a whole (studies._prune), which the ranked leaderboard cannot hold: one
    line each, also stored as ``data["pruned_configs"]``."""
    from studies._prune import pruned_configs
    from studies._results import config_label

    if not isinstance(study, optuna.Study):
        return []
    pruned = [{"label": config_label(p["params"]), **p} for p in pruned_configs(study)]
    if not pruned:
        return []
    data["pruned_configs"] = pruned
    return ["Pruned configs (not ranked; the pruner stopped every repeat of them): "
            + "; ".join(f"{p['label']} pruned at epoch {p['pruned_at_epoch']} ({p['n_pruned']} trial(s))" for p in pruned) + "."]


def _verdict_how(verdict: dict[str, Any], ablation) -> list[str]:
    if verdict["source"] == "ablation":
        base = ", ".join(f"{k}={v}" for k, v in ablation.baseline.items())
        return [f"Each variant against the baseline {base} ({ablation.baseline_source}); details in the ablation section."]
    if verdict["source"] == "leaderboard":
        return ["No ablation baseline to compare with: each config against the best one (leaderboard's verdict)."]
    return []


def _summary_section(table: StudyTable, sentences: list[str], notes: list[str]) -> Section:
    states = ", ".join(f"{n} {s.lower()}" for s, n in table.state_counts.items() if n)
    paras = [f"Study {table.study_name!r} ({table.direction}): {states}."]
    if table.spec is not None:
        paras.append(f"layerlab preset {table.spec.name!r}: {table.spec.description}")
    paras.append(" ".join(sentences))  # studies.analysis._summary: generated from the tables' numbers
    return Section("Summary", paras + [f"Note: {n}" for n in notes])


def _ci_text(mean: Any, low: Any, high: Any, sd: Any = None) -> str:
    if not _number(mean):
        return "—"
    text = fmt_number(mean)
    if _number(sd):
        text += f" ± {fmt_number(sd, 2)}"
    if _number(low) and _number(high):
        text += f" {fmt_interval(low, high)}"
    return text


def _objective_metrics_section(extra: dict[str, Any], board: pd.DataFrame) -> Section:
    """The objective's own metrics: its paired comparisons first, then every declared attribute."""
    name = extra["objective"] or "this objective"
    paras = [extra["description"]] if extra["description"] else []
    tables = []
    pairs = extra["pairs"]
    if not pairs.empty:
        paras.append(
            f"Per config, metric minus versus, both measured in the same trial (same seed and split): mean delta with 95% CI, "
            f"paired t-test over the config's runs, p-values Holm-corrected over the configs of each pair, verdict at "
            f"alpha = {extra['alpha']}. Configs in leaderboard order; fewer than 2 runs: not tested."
        )
        tables.append(pd.DataFrame({
            "rank": pairs["rank"], "config": pairs["config"], "comparison": pairs["metric"] + " vs " + pairs["versus"],
            "n": pairs["n_pairs"], "metric": pairs["metric_mean"].map(_fmt_cell), "versus": pairs["versus_mean"].map(_fmt_cell),
            "delta [95% CI]": [_ci_text(d, lo, hi) for d, lo, hi in zip(pairs["delta"], pairs["delta_ci_low"], pairs["delta_ci_high"])],
            "p": pairs["p_value"].map(_fmt_cell), "p (Holm)": pairs["p_holm"].map(_fmt_cell), "verdict": pairs["verdict"],
        }))
    paras.append(f"Every scalar metric {name} records, per config: mean ± SD [95% CI] over its runs (CIs of accuracies and "
                 "fractions clipped to [0, 1]); JSON: the extra mapping of each leaderboard row.")
    wide = []
    for _, row in board.iterrows():
        cells = {"rank": row["rank"], "config": row["label"], "n": row["n"]}
        for attr in extra["attrs"]:
            e = row["extra"][attr]
            cells[attr] = _ci_text(e["mean"], e["ci_low"], e["ci_high"], e["std"])
        wide.append(cells)
    tables.append(pd.DataFrame(wide))
    paras.extend(f"Note: {n}." for n in extra["notes"])
    return Section(f"Objective metrics ({name})", paras, tables)


def _curves_section(table: StudyTable, board: pd.DataFrame, ablation, figs) -> tuple[Section, dict[str, list[str]]]:
    baseline = [g for g in ablation.baseline_groups if g != board.loc[0, "group"]]
    fig, shown = figs.learning_curves_figure(table, board, highlight=baseline)
    if fig is None:
        return Section("Learning curves", ["no per-epoch history or intermediate values stored on the trials"]), shown
    paras = [f"Every config's validation accuracy per epoch (#rank in the legend). Drawn: {', '.join(shown['visible'])}."]
    if shown["hidden"]:
        paras.append(f"{len(shown['hidden'])} more config(s) start hidden to keep the figure readable; click their legend "
                     f"entries to show them: {', '.join(shown['hidden'])}.")
    if shown["left_out"]:
        paras.append(f"Left out (more than {figs.MAX_CURVE_CONFIGS} configs): {', '.join(shown['left_out'])}.")
    if shown["no_curve"]:
        paras.append(f"No per-epoch values stored: {', '.join(shown['no_curve'])}.")
    return Section("Learning curves", paras, [], [fig]), shown


def _confusion_section(table: StudyTable, board: pd.DataFrame, ablation, figs) -> tuple[Section, dict[str, Any]]:
    """The best config's confusion matrix, the baseline's when it is another config, and a
    dropdown over every config that has one."""
    best = str(board.loc[0, "group"])
    rank = {g: i for i, g in enumerate(board["group"])}
    others = sorted((g for g in ablation.baseline_groups if g != best), key=rank.get)
    baseline = others[0] if others and best not in ablation.baseline_groups else None
    paras, figures = [], []
    shown: dict[str, Any] = {"best": table.label_of(best), "baseline": None}
    fig = figs.confusion_figure(table, best, "best config")
    if fig is None:
        paras.append("no confusion matrix stored on the best config's trials")
    else:
        figures.append(fig)
    if baseline is not None:
        fig = figs.confusion_figure(table, baseline, "ablation baseline")
        if fig is None:
            paras.append(f"no confusion matrix stored on the baseline's trials ({table.label_of(baseline)})")
        else:
            figures.append(fig)
            shown["baseline"] = table.label_of(baseline)
    elif best in ablation.baseline_groups or not ablation.baseline_groups:
        paras.append("The best config is the ablation baseline (or one of its configs).")
    browser, listed = figs.confusion_browser_figure(table, list(board["group"]))
    shown.update(listed)
    if browser is not None:
        paras.append("Every config's confusion matrix (choose in the dropdown, configs in leaderboard order)"
                     + (f"; left out to keep the page small: {', '.join(listed['left_out'])}" if listed["left_out"] else "") + ".")
        figures.append(browser)
    return Section("Confusion matrices (test set, summed over repeats; rows: true class)", paras, [], figures), shown


def _ablation_section(ablation, fig) -> Section:
    base = ", ".join(f"{k}={v}" for k, v in ablation.baseline.items())
    paras = [
        f"Baseline: {base} ({ablation.baseline_source}); configs: {', '.join(ablation.baseline_labels)}. "
        f"delta = variant minus baseline on the objective, paired by seed where repeats share seeds "
        f"({'Wilcoxon signed-rank test' if ablation.test == 'wilcoxon' else 'paired t-test'}; "
        f"Welch's t-test when unpaired), p-values {'Holm-corrected over all rows' if ablation.correction == 'holm' else 'Bonferroni over all pairs of configs (the baseline is the best config, picked by the same data)'}, verdict at alpha = {ablation.alpha}. "
        "mde: the smallest difference the test detects with 80% power at its seeds and noise; repeats_needed: seeds to detect "
        "a difference of the row's size. "
        "Test deltas are reported beside and not tested.",
        *ablation.notes,
    ]
    tables = [] if ablation.rows.empty else [_fmt(ablation.rows)]
    return Section("Ablation against the baseline", paras, tables, [fig] if fig is not None else [])


def _importance_section(importance: dict[str, Any], fig) -> Section:
    if not importance["available"]:
        return Section("Parameter importance", [f"No importance: {importance['reason']}."])
    boot = importance["bootstrap"]
    paras = [
        "Evaluators: " + "; ".join(importance["evaluators"].values()) + ". Optuna's evaluators are normalised to sum to 1; "
        "the ANOVA's value is partial omega-squared (share of variance net of the other parameters and the seed), "
        "its CI by noncentral-F inversion and p_f its F-test.",
        f"Optuna evaluators' CI: {boot['interval']} over {boot['replicates']} bootstrap replicates ({boot['resampling']})."
        if boot["available"] else f"No bootstrap CI: {boot['reason']}.",
        *([f"Permutation null ({', '.join(importance['permutation']['evaluators'])}): {importance['permutation']['method']}. "
           "above_noise marks a parameter that matters beyond seed noise; the others are not distinguishable from noise."]
          if importance.get("permutation", {}).get("evaluators") else []),
        "Evaluated: " + (", ".join(importance["evaluated"]) or "none") + ".",
    ]
    for name, reason in importance["left_out"].items():
        paras.append(f"Left out of fANOVA/MDI: {name} ({reason}).")
    paras.extend(f"Note: {n}." for n in importance["notes"])
    for name, entry in importance["conditional"].items():
        ped = entry.get("ped_anova")
        within = entry.get("fanova_within_active")
        text = f"Conditional {name}: {entry['presence']}"
        if ped:
            text += f"; PED-ANOVA importance {ped['value']:.3f}"
        if within:
            text += f"; fANOVA within the trials where it is active: {within.get(name, 0.0):.3f}"
        paras.append(text + ".")
    rows = [
        {"evaluator": ev, "parameter": p, "importance": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
         "p_value": r.get("p_value"), "p_holm": r.get("p_holm"), "above_noise": r.get("above_noise")}
        for ev, res in importance["by_evaluator"].items() for p, r in res.items()
    ]
    tables = [_fmt(pd.DataFrame(rows))]
    if importance.get("anova", {}).get("terms"):
        anova = importance["anova"]
        paras.append(f"ANOVA ({anova['formula']}; {'full grid' if anova['grid'] else 'not a full grid'}, "
                     f"residual df {anova['residual_df']:g}): main effects" + (" and two-way interactions" if anova["interactions"] else "") + ".")
        tables.append(_fmt(pd.DataFrame([{k: v for k, v in t.items() if k != "params"} for t in anova["terms"]])))
    return Section("Parameter importance", paras, tables, [fig] if fig is not None else [])


def _transfer_section(result: dict[str, Any], fig) -> Section:
    def ci(low, high):
        return "no CI" if low is None else f"95% CI {low:.2f} to {high:.2f}"

    tau, rho = result["kendall_tau"], result["spearman_rho"]
    paras = [
        f"{result['n_shared']} configs shared by {result['study_a']!r} and {result['study_b']!r}, matched on the searched "
        f"parameters {', '.join(result['matched_on'])} (metric: mean {result['metric']}).",
        f"Kendall tau = {tau if tau is None else f'{tau:.3f}'} ({ci(result['kendall_ci_low'], result['kendall_ci_high'])}, p = {result['kendall_p']}); "
        f"Spearman rho = {rho if rho is None else f'{rho:.3f}'} ({ci(result['spearman_ci_low'], result['spearman_ci_high'])}).",
        f"Top-{result['top_k']} agreement: {result['top_k_overlap']}/{result['top_k']}; same best config: {result['same_best']}; "
        f"{len(result['flips'])} of {result['n_pairs']} pairs flip order.",
    ]
    if result.get("kendall_ci", {}).get("method", "none") != "none":
        paras.append(f"The Kendall CI is for tau between the true config means ({result['kendall_ci']['method']}; "
                     f"{result['kendall_ci']['settled_pairs']} of {result['n_pairs']} pairs ordered beyond noise in both studies); "
                     "same_order_probability: the chance that both studies order a pair the same way, most doubtful first.")
    tables = [_fmt(pd.DataFrame(result["configs"]))]
    if result["flips"]:
        tables.append(_fmt(pd.DataFrame(result["flips"])))
    if result.get("pairs") and result["pairs"][0]["same_order_probability"] is not None:
        tables.append(_fmt(pd.DataFrame(result["pairs"][:20])))
    return Section("Rank transfer", paras, tables, [fig])


def _datasets_section(info: dict[str, Any]) -> Section:
    rows = []
    for name, d in info.items():
        if "error" in d:
            rows.append({"dataset": name, "note": f"not available: {d['error']}"})
            continue
        rows.append({
            "dataset": name, "images": d["images"], "size": f"{d['height']}x{d['width']}x{d['channels']}",
            "classes": d["num_classes"], "imbalance (max/min)": d["imbalance_ratio"],
            "label entropy (bits)": d["label_entropy_bits"], "label entropy / log2 K": d["label_entropy_normalized"],
            "mean intensity entropy (bits)": d["intensity_entropy_bits_mean"], "intensity entropy SD": d["intensity_entropy_bits_std"],
        })
    return Section("Datasets", [
        "Label entropy: Shannon entropy (bits) of the class distribution, log2 K when balanced. Mean intensity entropy: "
        "Shannon entropy (bits, 0-8) of each image's 256-bin grey-level histogram, averaged over images; RGB is converted "
        "to grey with ITU-R 601-2 luma (0.2989 R + 0.587 G + 0.114 B, torchvision's rgb_to_grayscale). Both over the official train + test images.",
    ], [_fmt(pd.DataFrame(rows))])


# -- HTML -----------------------------------------------------------------------------------------


def _fmt_cell(value: Any) -> str:
    return fmt_cell(value)


def _fmt(frame: pd.DataFrame) -> pd.DataFrame:
    """Tables stay numbers until the page is drawn: :func:`table_html` formats them (3 significant
    digits, intervals, p-values, human headers), so JSON and HTML read the same frame."""
    return frame


def _fmt_board(board: pd.DataFrame) -> pd.DataFrame:
    return board.drop(columns=["group", "params", "extra"], errors="ignore")


CSS = """
:root{--muted:#666;--line:#e3e3e3}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:1320px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.3rem}h2{font-size:1.25rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin-top:2.2rem}
p{line-height:1.45;max-width:80rem}nav.toc{font-size:.85rem;color:var(--muted);line-height:1.7}
nav.toc a{color:#1f5fa8;text-decoration:none;margin-right:.9rem;white-space:nowrap}
section.verdict{background:#f6f8fb;border:1px solid #d8e0ea;border-radius:6px;padding:.2rem 1rem .6rem}
section.verdict p{font-size:1.02rem}
.table-wrap{overflow-x:auto;max-width:100%;margin:.6rem 0}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0;white-space:nowrap}th[title]{cursor:help;text-decoration:underline dotted}th.left{text-align:left}
td:first-child,th:first-child{text-align:left}td{white-space:nowrap}td.label,td.verdict{white-space:normal}
td.label{text-align:left;min-width:11rem;max-width:28rem;overflow-wrap:break-word}
td.verdict{text-align:left;min-width:7rem;max-width:16rem;font-weight:600}td.good{color:#1a7f37}td.bad{color:#c62828}
td.same{color:#555}td.undecided{color:#8a6d00;font-weight:400}
details.columns{font-size:.8rem;color:var(--muted);margin:.2rem 0 1rem}details.columns dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.4rem 0}
details.columns dt{font-weight:600}details.columns dd{margin:0}
.figure{width:100%;margin:.8rem 0}
"""


def _anchor(title: str) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:60]


def render_html(report: Report, *, plotly: str = "inline") -> str:
    """The whole page. ``plotly``: ``inline`` puts plotly.js in the page once (opens offline; about
    4.6 MB), ``cdn`` loads it from cdn.plot.ly (a small file that needs the network to draw)."""
    from plotly.offline import get_plotlyjs

    from studies.analysis._figures import readable

    if plotly == "inline":
        script = f"<script type='text/javascript'>{get_plotlyjs()}</script>"
        where = "Self-contained: opens offline."
    elif plotly == "cdn":
        from plotly.io._utils import plotly_cdn_url

        script = f"<script src='{plotly_cdn_url()}' charset='utf-8'></script>"
        where = "plotly.js is loaded from its CDN: the figures need the network (write it with --plotly inline to open offline)."
    else:
        raise AnalysisError(f"plotly must be 'inline' or 'cdn', got {plotly!r}")
    titles = [s.title for s in report.sections]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>layerlab report: {html.escape(report.study_name)}</title>",
        f"<style>{CSS}</style>",
        script,
        "</head><body>",
        f"<h1>layerlab report: {html.escape(report.study_name)}</h1>",
        f"<p>Generated {html.escape(str(report.data['study']['generated']))}. {where} "
        "Hover a column header for what it means; every table has the same notes under it.</p>",
        "<nav class='toc'>" + " ".join(f"<a href='#{_anchor(t)}'>{html.escape(t)}</a>" for t in titles) + "</nav>",
    ]
    for i, section in enumerate(report.sections):
        cls = " class='verdict'" if i == 0 and section.title.startswith("Verdict") else ""
        parts.append(f"<section id='{_anchor(section.title)}'{cls}>")
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{html.escape(round_floats(p))}</p>" for p in section.paragraphs)
        parts.extend(table_html(t) for t in section.tables)
        parts.extend(
            "<div class='figure'>" + readable(fig).to_html(
                full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True}) + "</div>"
            for fig in section.figures
        )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, path: str | Path, *, plotly: str = "inline") -> Path:
    path = Path(path)
    html_text = report.to_html(plotly=plotly)  # before touching the disk: a bad option writes nothing
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_text, encoding="utf-8")
    return path


# -- artifacts ------------------------------------------------------------------------------------


def report_artifact_dir(study: optuna.Study, storage_url: str | None = None) -> Path | None:
    """Where the report goes: the artifact directory recorded on the study (as the dashboard and
    the workers use), else the default next to the storage file (``studies._artifacts``)."""
    recorded = artifact_dir_of(study)
    if recorded is not None:
        return recorded
    return default_artifact_dir(storage_url) if storage_url else None


def upload_report(study: optuna.Study, path: str | Path, artifact_dir: str | Path | None = None) -> str:
    """Attach the report file to the study as an Optuna artifact; returns the artifact id.

    ``artifact_dir`` defaults to the directory recorded on the study. optuna-dashboard lists it on
    the study page when started with the same directory
    (``optuna-dashboard <storage> --artifact-dir <dir>``)."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    artifact_dir = artifact_dir if artifact_dir is not None else artifact_dir_of(study)
    if artifact_dir is None:
        raise ValueError(f"study {study.study_name!r} records no artifact directory; pass one")
    directory = Path(artifact_dir)
    directory.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(base_path=str(directory))
    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study, mimetype="text/html")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def _transfer_lines(result: dict[str, Any]) -> list[str]:
    """Rank transfer (``--compare-with``) in a few terminal lines."""
    def corr(name: str, value: Any, low: Any, high: Any) -> str:
        if value is None:
            return f"{name} n/a"
        return f"{name} {value:+.3f}" + ("" if low is None else f" [{low:+.2f}, {high:+.2f}]")

    return [
        f"rank transfer {result['study_a']!r} -> {result['study_b']!r}: {result['n_shared']} shared configs, "
        + corr("Kendall tau", result["kendall_tau"], result["kendall_ci_low"], result["kendall_ci_high"]) + ", "
        + corr("Spearman rho", result["spearman_rho"], result["spearman_ci_low"], result["spearman_ci_high"]),
        f"  top-{result['top_k']} agreement {result['top_k_overlap']}/{result['top_k']}; same best config: "
        f"{result['same_best']}; {len(result['flips'])} of {result['n_pairs']} pairs flip order",
    ]


def format_summary(report: Report, *, limit: int = 10) -> str:
    """A few lines for the terminal: top configs, ablation verdicts, importance, noise."""
    data = report.data
    lines = [f"study {data['study']['name']!r}: {data['study']['completed_configs']} configs, {data['study']['completed_trials']} completed trials"]
    verdict = data.get("verdict")
    if verdict:
        lines.extend(f"verdict: {line}" for line in verdict["lines"])
    board = data["leaderboard"]
    for _, row in board.head(limit).iterrows():
        ci = f" [{row.val_ci_low:.4f}, {row.val_ci_high:.4f}]" if _number(row.val_ci_low) else ""
        test = f"  test {row.test_mean:.4f}" if _number(row.test_mean) else ""
        lines.append(f"{row['rank']:>3}. {row.val_mean:.4f}{ci} n={row.n}{test}  {row.label}  ({row.vs_best})")
    if len(board) > limit:
        lines.append(f"     ... {len(board) - limit} more configs")
    ab = data["ablation"]
    if ab["rows"]:
        lines.append(f"ablation vs {', '.join(f'{k}={v}' for k, v in ab['baseline'].items())} ({ab['baseline_source']}):")
        for r in ab["rows"]:
            ci = f" [{r['delta_ci_low']:+.4f}, {r['delta_ci_high']:+.4f}]" if _number(r["delta_ci_low"]) else ""
            p = f" p_{'holm' if ab['correction'] == 'holm' else 'adj'}={r['p_holm']:.3g}" if _number(r["p_holm"]) else ""
            lines.append(f"  {r['variant']}: {r['delta']:+.4f}{ci}{p} -> {r['verdict']}")
    if data["importance"]:
        lines.append(f"importance ({data['importance_evaluator']}): " + ", ".join(
            f"{p} {v['value']:.3f}" + ("" if v["ci_low"] is None else f" [{v['ci_low']:.3f}, {v['ci_high']:.3f}]")
            + ("" if "above_noise" not in v else " (above noise)" if v["above_noise"] else " (noise)")
            for p, v in data["importance"].items()))
    lines.extend(data["summary"]["sentences"])
    transfer = data.get("compare")
    if transfer is not None:
        lines.extend(_transfer_lines(transfer))
    best = data.get("best_per_dataset")
    if best is not None and not best.empty:
        lines.append("best model per dataset (mean validation; test beside):")
        for _, row in best.iterrows():
            cells = [f"{g}: {row.get(f'{g} best')} ({row.get(f'{g} val'):.4f} / {row.get(f'{g} test'):.4f})"
                     for g in MEDMNIST_GROUPS if isinstance(row.get(f"{g} best"), str)]
            lines.append(f"  {row['dataset']}: " + "; ".join(cells))
    lines.extend(f"note: {n}" for n in data["notes"])
    return "\n".join(lines)
