"""The report's sections: the prose, tables and figures of each, built from the analyses' results.

:mod:`studies.analysis._report` runs the analyses and orders the sections; this module says what
each section writes; :mod:`studies.analysis._html` draws them. Tables stay numbers here: the page
formats them (:func:`studies.analysis._format.table_html`), so JSON and HTML read the same frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from studies.analysis._collect import StudyTable
from studies._paper import BestPerDataset
from studies._spec import config_label
from studies.analysis._datasets import selection_labels
from studies.analysis._format import DECIDE, concordance_line, fmt_cell, fmt_interval, fmt_number, table_options
from studies.analysis._headline import p_header
from studies.analysis._labels import legend_table
from studies.analysis._labels import shown as shown_label


@dataclass
class Fold:
    """Detail a reader opens on request (an HTML <details>): its summary line says what is inside."""

    summary: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    open: bool = False  # drawn open (a legend the section needs), still one click to close


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)  # plain text (escaped when rendered)
    tables: list[pd.DataFrame] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)  # plotly figures
    folds: list[Fold] = field(default_factory=list)  # after the figures, closed
    after: list[str] = field(default_factory=list)  # paragraphs between the tables and the figures


def with_ids(text: str, ids: dict[str, str]) -> str:
    """``text`` with every config label in it replaced by its short ID (longest labels first)."""
    for label in sorted(ids, key=len, reverse=True):
        if label in text:
            text = text.replace(label, ids[label])
    return text


def _number(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def report_notes(table: StudyTable, board: pd.DataFrame, ablation, importance: dict[str, Any], noise: str) -> list[str]:
    """The notes under the summary: the study's own, the noise the verdicts count, single runs,
    clipped intervals and what the importance left out."""
    notes = [*table.notes, noise]
    if bool((board["n"] == 1).all()):
        notes.append("every config has a single run: no confidence intervals, no paired tests "
                     "(CIs and tests need 2 or more seed repeats per config)")
    elif (board["n"] == 1).any():
        notes.append(f"{int((board['n'] == 1).sum())} config(s) have a single run: no CI for them")
    clipped = (int(board["ci_clipped"].sum())
               + (int(ablation.rows["ci_clipped"].sum()) if not ablation.rows.empty else 0))
    if clipped:
        notes.append(f"{clipped} row(s) have a confidence interval clipped to its metric's range (ci_clipped): "
                     "accuracies and fractions to [0, 1], differences of them to [-1, 1]; a t interval over few runs "
                     "ignores the bound")
    if not importance["available"]:
        notes.append(f"no importance: {importance['reason']}")
    else:
        # (the secondary evaluators' bootstrap CIs, or why there are none, are in the importance section's fold)
        for name, reason in importance["left_out"].items():
            notes.append(f"importance left out {name}: {reason}")
        notes.extend(importance["notes"])
    notes.extend(questions_note(board, ablation))
    return notes


def questions_note(board: pd.DataFrame, ablation) -> list[str]:
    """Where the leaderboard's "vs best" and the ablation's verdict differ for one config, a note
    that says why: they answer different questions, in different families."""
    if ablation.rows.empty or ablation.baseline_source.startswith("best config"):
        return []
    vs_best = dict(zip(board["label"], board["vs_best"]))
    differ = [r["variant"] for _, r in ablation.rows.iterrows()
              if r["variant"] in vs_best and vs_best[r["variant"]] in ("worse", "no detectable difference")
              and (vs_best[r["variant"]] == "worse") != (r["verdict"] == "worse")]
    if not differ:
        return []
    return [f"the leaderboard's 'vs best' and the ablation differ for {', '.join(differ)}: the leaderboard compares "
            "each config with the best one (Tukey over all pairs, since the best is picked by the same data), the "
            f"ablation with the baseline {', '.join(ablation.baseline_labels)} (Dunnett over its rows): "
            "a config can be behind the best without differing detectably from the baseline, or the reverse"]


LEGEND_OPEN = 20  # a config legend up to this many rows is drawn open


def leaderboard_section(board: pd.DataFrame, pruned: list[str], fig, ids: dict[str, str] | None = None) -> Section:
    """``pruned``: :func:`pruned_paragraphs` (configs pruned as a whole: listed, never silently absent).
    ``ids``: short config IDs (label -> ID), listed in a legend table under the leaderboard."""
    single = bool((board["n"] == 1).all())
    frame = table_options(board.drop(columns=["group", "params", "extra"], errors="ignore"),
                     ["rank", "label", "vs_best", "val_mean", "val_ci", "vs_best_p", "n", "test_mean"],
                     ["vs_best", "val_mean", "val_ci", "vs_best_p"], ids)
    folds, legend = [], []
    if ids:
        table = legend_table(board, ids)
        table.attrs.update(main=["id", "label"], headers={"label": "Parameters"})
        folds.append(Fold(f"Config legend: the parameters behind each ID ({len(board)} configs)", [], [table],
                          open=len(board) <= LEGEND_OPEN))
        legend = ["Configs are named by short IDs (c01 is rank 1) in every table and figure of this report; the legend "
                  "under the figure lists each ID's parameters, and hovering an ID shows them."]
    return Section("Leaderboard", [
        "Configs grouped across seed repeats, ranked by the mean objective (validation accuracy: the selection "
        "metric); test accuracy is reported beside it and never used to rank. 95% CI: Student t at every n (computed "
        "at 96.5% to stay honest under skewed seed noise; over seeds and evaluation images when the trials store "
        "per-image results, see noise); intervals of accuracies are clipped to [0, 1] (ci_clipped). Verdict vs best: "
        "paired comparison with the best config on the study's pooled seed noise, Tukey's adjustment over all pairs of "
        "configs because the best is picked by the same data (p vs best).",
        *(["No CI: every config has a single run."] if single else []),
        *legend,
        *pruned,
    ], [frame], [fig], folds)


def dataset_transfer_section(by_dataset: dict[str, Any], fig) -> Section:
    return Section("Rank transfer between datasets", [
        "Kendall tau between the config rankings (mean objective) on every pair of dataset values of this "
        "study, matched on the other parameters; CI for the tau of the true config means (lower end from each "
        "slice's posterior, upper end from the Tukey-Kramer simultaneous intervals; see docs/importance.md). "
        "Settled: pairs both slices order beyond noise; agree: those ordered alike; concordance low: its 95% "
        "one-sided exact bound. High tau: the cheaper dataset ranks the configs as the other does.",
    ], [pd.DataFrame(by_dataset["pairs"])], [fig])


def best_per_dataset_section(frame: pd.DataFrame, layout: BestPerDataset) -> Section:
    """A paper's best-model-per-dataset table: its title and text come from the preset (studies._paper)."""
    return Section(layout.title, layout.text(), [selection_labels(frame)])


def pruned_paragraphs(data: dict[str, Any], study: Any) -> list[str]:
    """Configs pruned as a whole (studies.engine._prune), which the ranked leaderboard cannot hold: one
    line each, also stored as ``data["pruned_configs"]``."""
    from studies.engine._prune import pruned_configs

    if not isinstance(study, optuna.Study):
        return []
    pruned = [{"label": config_label(p["params"]), **p} for p in pruned_configs(study)]
    if not pruned:
        return []
    data["pruned_configs"] = pruned
    return ["Pruned configs (not ranked; the pruner stopped every repeat of them): "
            + "; ".join(f"{p['label']} pruned at epoch {p['pruned_at_epoch']} ({p['n_pruned']} trial(s))"
                        for p in pruned) + "."]


def summary_section(table: StudyTable, sentences: list[str], notes: list[str]) -> Section:
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


def objective_metrics_section(extra: dict[str, Any], board: pd.DataFrame, ids: dict[str, str] | None = None) -> Section:
    """The objective's own metrics: its paired comparisons first, then every declared attribute."""
    name = extra["objective"] or "this objective"
    paras = [extra["description"]] if extra["description"] else []
    tables = []
    pairs = extra["pairs"]
    if not pairs.empty:
        paras.append(
            f"Per config, metric minus versus, both measured in the same trial (same seed and split): mean delta with "
            f"95% CI, paired t-test over the config's runs, p-values Holm-corrected over the configs of each pair, "
            f"verdict at alpha = {extra['alpha']}. Configs in leaderboard order; fewer than 2 runs: not tested."
        )
        tables.append(pd.DataFrame({
            "rank": pairs["rank"], "config": pairs["config"], "comparison": pairs["metric"] + " vs " + pairs["versus"],
            "n": pairs["n_pairs"], "metric": pairs["metric_mean"].map(fmt_cell),
            "versus": pairs["versus_mean"].map(fmt_cell),
            "delta [95% CI]": [_ci_text(d, lo, hi)
                               for d, lo, hi in zip(pairs["delta"], pairs["delta_ci_low"], pairs["delta_ci_high"])],
            "p": pairs["p_value"].map(fmt_cell), "p (Holm)": pairs["p_holm"].map(fmt_cell), "verdict": pairs["verdict"],
        }))
    paras.append(f"Every scalar metric {name} records, per config: mean ± SD [95% CI] over its runs (CIs of accuracies "
                 "and fractions clipped to [0, 1]); JSON: the extra mapping of each leaderboard row.")
    wide = []
    for _, row in board.iterrows():
        cells = {"rank": row["rank"], "config": row["label"], "n": row["n"]}
        for attr in extra["attrs"]:
            e = row["extra"][attr]
            cells[attr] = _ci_text(e["mean"], e["ci_low"], e["ci_high"], e["std"])
        wide.append(cells)
    tables.append(pd.DataFrame(wide))
    paras.extend(f"Note: {n}." for n in extra["notes"])
    for t in tables:
        t.attrs["ids"] = ids or {}
    return Section(f"Objective metrics ({name})", paras, tables)


def curves_section(table: StudyTable, board: pd.DataFrame, ablation, figs,
                   ids: dict[str, str] | None = None) -> tuple[Section, dict[str, list[str]]]:
    baseline = [g for g in ablation.baseline_groups if g != board.loc[0, "group"]]
    fig, drawn = figs.learning_curves_figure(table, board, highlight=baseline, ids=ids)
    if fig is None:
        return Section("Learning curves", ["no per-epoch history or intermediate values stored on the trials"]), drawn
    ids = ids or {}

    def names(labels: list[str]) -> str:
        return ", ".join(shown_label(label, ids) for label in labels)

    paras = [f"Every config's validation accuracy per epoch ({'config ID' if ids else '#rank'} in the legend). "
             f"Drawn: {names(drawn['visible'])}."]
    if drawn["hidden"]:
        paras.append(f"{len(drawn['hidden'])} more config(s) start hidden to keep the figure readable; click their "
                     f"legend entries to show them: {names(drawn['hidden'])}.")
    if drawn["left_out"]:
        paras.append(f"Left out (more than {figs.MAX_CURVE_CONFIGS} configs): {names(drawn['left_out'])}.")
    if drawn["no_curve"]:
        paras.append(f"No per-epoch values stored: {names(drawn['no_curve'])}.")
    return Section("Learning curves", paras, [], [fig]), drawn


def confusion_section(table: StudyTable, board: pd.DataFrame, ablation, figs,
                      ids: dict[str, str] | None = None) -> tuple[Section, dict[str, Any]]:
    """The best config's confusion matrix, the baseline's when it is another config, and a
    dropdown over every config that has one."""
    best = str(board.loc[0, "group"])
    rank = {g: i for i, g in enumerate(board["group"])}
    others = sorted((g for g in ablation.baseline_groups if g != best), key=rank.get)
    baseline = others[0] if others and best not in ablation.baseline_groups else None
    paras, figures = [], []
    shown: dict[str, Any] = {"best": table.label_of(best), "baseline": None}
    fig = figs.confusion_figure(table, best, "best config", ids=ids)
    if fig is None:
        paras.append("no confusion matrix stored on the best config's trials")
    else:
        figures.append(fig)
    if baseline is not None:
        fig = figs.confusion_figure(table, baseline, "ablation baseline", ids=ids)
        if fig is None:
            which = shown_label(table.label_of(baseline), ids or {})
            paras.append(f"no confusion matrix stored on the baseline's trials ({which})")
        else:
            figures.append(fig)
            shown["baseline"] = table.label_of(baseline)
    elif best in ablation.baseline_groups or not ablation.baseline_groups:
        paras.append("The best config is the ablation baseline (or one of its configs).")
    browser, listed = figs.confusion_browser_figure(table, list(board["group"]), ids=ids)
    shown.update(listed)
    if browser is not None:
        left = ", ".join(shown_label(label, ids or {}) for label in listed["left_out"])
        paras.append("Every config's confusion matrix (choose in the dropdown, configs in leaderboard order)"
                     + (f"; left out to keep the page small: {left}" if left else "") + ".")
        figures.append(browser)
    return Section("Confusion matrices (test set, summed over repeats; rows: true class)", paras, [], figures), shown


def ablation_section(ablation, fig, ids: dict[str, str] | None = None) -> Section:
    ids = ids or {}
    base = ", ".join(f"{k}={v}" for k, v in ablation.baseline.items())
    if ids and all(label in ids for label in ablation.baseline_labels):
        base = ", ".join(ids[label] for label in ablation.baseline_labels)
    configs = ", ".join(shown_label(label, ids) for label in ablation.baseline_labels)
    paras = [
        f"Baseline: {base} ({ablation.baseline_source}); configs: {configs}. "
        f"delta = variant minus baseline on the objective, paired by seed where repeats share seeds "
        f"({'Wilcoxon signed-rank test' if ablation.test == 'wilcoxon' else 'paired t-test'}; "
        f"Welch's t-test when unpaired), with the seed noise pooled over every config of the study (a randomized "
        f"complete block design: seeds are blocks; it assumes one noise variance for every config, and a config whose "
        f"variance the data show to be larger keeps its own paired differences). p-values and intervals are "
        f"simultaneous over all rows: {ablation.correction}; the interval beside each verdict is the one that made it "
        f"(widened by one image of the evaluation set), the unadjusted 95% interval is in the columns marked "
        f"'unadjusted'. Verdict at alpha = {ablation.alpha}. "
        "mde: the smallest difference this family detects with 80% power at its seeds and noise; repeats_needed: seeds "
        "per config to detect a difference of the row's size ('—': no number of seeds would, e.g. the difference is "
        "within one image of the evaluation set). "
        "Test deltas are reported beside and not tested.",
        *(with_ids(note, ids) for note in ablation.notes),
    ]
    tables = []
    if not ablation.rows.empty:
        methods = ablation.rows["correction"] if "correction" in ablation.rows else [ablation.correction]
        tables.append(table_options(ablation.rows, ["verdict", "variant", *DECIDE[1:]], DECIDE, ids,
                               {"p_adj": p_header(methods)}))
    return Section("Ablation against the baseline", paras, tables, [fig] if fig is not None else [])


def transfer_section(result: dict[str, Any], fig) -> Section:
    def ci(low, high):
        return "no CI" if low is None else f"95% CI {low:.2f} to {high:.2f}"

    def sentence(text: str) -> str:
        return text[:1].upper() + text[1:]

    tau, rho = result["kendall_tau"], result["spearman_rho"]
    tau_ci, rho_ci = ci(result["kendall_ci_low"], result["kendall_ci_high"]), ci(result["spearman_ci_low"],
                                                                                   result["spearman_ci_high"])
    paras = [
        f"{result['n_shared']} configs shared by {result['study_a']!r} (A) and {result['study_b']!r} (B), matched on "
        f"the searched parameters {', '.join(result['matched_on'])} (metric: mean {result['metric']}).",
        sentence(concordance_line(result)) + ". A pair is settled in a study when its Tukey-Kramer simultaneous "
        "interval (config x seed model, 97.5% per study) excludes 0; the bound is the chance that a pair both "
        "studies settle is ordered alike.",
        f"Kendall tau = {tau if tau is None else f'{tau:.3f}'} ({tau_ci} for the tau of the true config means, "
        f"p = {result['kendall_p']}); Spearman rho = {rho if rho is None else f'{rho:.3f}'} ({rho_ci}, bootstrap of "
        "the observed rho).",
        sentence(result["cost_sentence"]) + ".",
        f"Top-{result['top_k']} agreement: {result['top_k_overlap']}/{result['top_k']}; same best config: "
        f"{result['same_best']}; {len(result['flips'])} of {result['n_pairs']} pairs flip order (gap: |difference "
        "in A| + |difference in B|).",
    ]
    if result.get("race"):
        from studies.engine._race_transfer import answer_lines

        lines = answer_lines(result["race"], result["study_a"], result["study_b"])
        paras.append("This study raced the other (study launch --race-mode transfer; docs/racing.md), and the "
                     "race's verdicts are sequential (alpha spent over its looks): "
                     + " ".join(line.strip() for line in lines))
    if result.get("kendall_ci", {}).get("method", "none") != "none":
        paras.append(f"The Kendall CI: {result['kendall_ci']['method']} (docs/importance.md); "
                     "same_order_probability: the chance that both studies order a pair the same way, most doubtful "
                     "first.")
    tables = [pd.DataFrame(result["configs"])]
    if result["flips"]:
        flips = pd.DataFrame(result["flips"])
        settled = {frozenset((p["config_1"], p["config_2"])): p["status"] for p in result.get("settled_pairs", ())}
        flips["status"] = [settled.get(frozenset(pair), "unsettled") for pair in zip(flips["config_1"],
                                                                                      flips["config_2"])]
        tables.append(flips)
    if result.get("pairs") and result["pairs"][0]["same_order_probability"] is not None:
        tables.append(pd.DataFrame(result["pairs"][:20]))
    return Section("Rank transfer", paras, tables, [fig])


def datasets_section(info: dict[str, Any]) -> Section:
    rows = []
    for name, d in info.items():
        if "error" in d:
            rows.append({"dataset": name, "note": f"not available: {d['error']}"})
            continue
        rows.append({
            "dataset": name, "images": d["images"], "size": f"{d['height']}x{d['width']}x{d['channels']}",
            "classes": d["num_classes"], "imbalance (max/min)": d["imbalance_ratio"],
            "label entropy (bits)": d["label_entropy_bits"], "label entropy / log2 K": d["label_entropy_normalized"],
            "mean intensity entropy (bits)": d["intensity_entropy_bits_mean"],
            "intensity entropy SD": d["intensity_entropy_bits_std"],
        })
    return Section("Datasets", [
        "Label entropy: Shannon entropy (bits) of the class distribution, log2 K when balanced. Mean intensity "
        "entropy: Shannon entropy (bits, 0-8) of each image's 256-bin grey-level histogram, averaged over images; RGB "
        "is converted to grey with ITU-R 601-2 luma (0.2989 R + 0.587 G + 0.114 B, torchvision's rgb_to_grayscale). "
        "Both over the official train + test images.",
    ], [pd.DataFrame(rows)])

