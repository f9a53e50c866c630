"""How an aggregate over tasks (:mod:`studies.analysis._aggregate`) is shown: plotly figures, the
report section, the terminal text and the self-contained HTML page of ``study aggregate``.

The page is drawn by the report's own :func:`studies.analysis._html.render_html`, so it reads like a
study report (same tables, hover help, figures sized by the page).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from studies.analysis._aggregate import aggregate_studies
from studies.analysis._collect import AnalysisError, StudyTable
from studies.analysis._columns import COLUMNS, Column
from studies.analysis._format import short_label, unique_short_labels
from studies.analysis._sections import Section

MAX_ROWS = 30  # configs drawn in the IQM and P(X > Y) figures
MAX_PROFILES = 10  # configs profiled (the best by IQM, and the reference)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

# The aggregate's columns, registered in the report's column table (hover help and footnotes).
COLUMNS.update({
    "iqm": Column("IQM", "interquartile mean of the normalised scores of every run on every task (25% trimmed mean)"),
    "iqm_ci": Column("IQM 95% CI", "stratified bootstrap over seeds within tasks: IQM +- t x bootstrap SE, corrected "
                     "for few runs per task (docs/aggregates.md); pointwise"),
    "mean": Column("Mean", "mean over tasks of the config's mean normalised score"),
    "runs": Column("Runs", "runs of the config over all tasks"),
    "prob_improvement": Column("P(X > ref)", "probability that a run of this config beats a run of the reference on "
                               "a task (paired by seed where both ran the same seeds; a tie counts half), averaged "
                               "over tasks"),
    "prob_improvement_ci": Column("P(X > ref) CI", "95% simultaneous over the rows (Bonferroni); stratified bootstrap "
                                  "over seeds within tasks"),
    "improvement_verdict": Column("Verdict", "better / worse than the reference: the simultaneous interval of "
                                  "P(X > ref) lies above / below 1/2; undecided otherwise"),
    "reference": Column("Reference", "the config every other is compared with"),
    "tasks_paired": Column("Paired tasks", "tasks on which the two configs' runs are paired by seed"),
    "task": Column("Task", "a dataset of the study, or a study"),
    "chance": Column("Chance level", "share of the most frequent class among the task's test images: score 0 after "
                     "normalisation"),
    "paired": Column("Paired", "every config ran the same seeds on this task"),
    "runs_per_config": Column("Runs per config", "seed repeats per config on this task (fewest to most)"),
})


def _frames(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    iqm = result["iqm"]
    improvement = result["improvement"].rename(columns={
        "p_improvement": "prob_improvement", "p_improvement_ci_low": "prob_improvement_ci_low",
        "p_improvement_ci_high": "prob_improvement_ci_high", "reading": "improvement_verdict"})
    tasks = pd.DataFrame([{
        "task": t["task"], "study": t["study"], "chance": t["chance"], "paired": "yes" if t["paired"] else "no",
        "runs_per_config": _span(list(t["runs"].values())),
    } for t in result["tasks"]])
    if len(set(tasks["study"])) == 1:
        tasks = tasks.drop(columns=["study"])
    return iqm, improvement, tasks


def _span(values: list[int]) -> str:
    return str(min(values)) if min(values) == max(values) else f"{min(values)}-{max(values)}"


def score_name(result: dict[str, Any]) -> str:
    metric = "validation objective" if result["metric"] in ("value", "val") else "test accuracy"
    if result["normalization"] == "chance":
        return f"{metric}, chance-normalised (0: the majority class, 1: perfect)"
    return f"{metric}, not normalised"


def _errors(mid: pd.Series, low: pd.Series, high: pd.Series) -> dict[str, Any]:
    gap = lambda a: [None if not np.isfinite(v) else float(v) for v in a]  # noqa: E731
    return dict(type="data", symmetric=False, array=gap(high - mid), arrayminus=gap(mid - low), color="#555")


def iqm_figure(result: dict[str, Any]) -> go.Figure:
    top = result["iqm"].head(MAX_ROWS).iloc[::-1]
    fig = go.Figure(go.Scatter(
        x=top["iqm"], y=unique_short_labels(top["config"], width=36), mode="markers", marker=dict(size=9),
        error_x=_errors(top["iqm"], top["iqm_ci_low"], top["iqm_ci_high"]), customdata=list(top["config"]),
        hovertemplate="%{customdata}<br>IQM %{x:.4f}<extra></extra>", showlegend=False,
    ))
    fig.update_layout(title=f"IQM over {len(result['tasks'])} tasks with 95% CI", xaxis_title=score_name(result),
                      height=max(320, 28 * len(top) + 120))
    return fig


def improvement_figure(result: dict[str, Any]) -> go.Figure | None:
    rows = result["improvement"].head(MAX_ROWS)
    if rows.empty:
        return None
    rows = rows.iloc[::-1]
    colors = [{"better than the reference": "#2ca02c", "worse than the reference": "#d62728"}.get(r, "#7f7f7f")
              for r in rows["reading"]]
    fig = go.Figure(go.Scatter(
        x=rows["p_improvement"], y=unique_short_labels(rows["config"], width=36), mode="markers",
        marker=dict(size=10, color=colors), text=rows["reading"], customdata=list(rows["config"]),
        error_x=_errors(rows["p_improvement"], rows["p_improvement_ci_low"], rows["p_improvement_ci_high"]),
        hovertemplate="%{customdata}<br>P(X > ref) %{x:.3f}<br>%{text}<extra></extra>", showlegend=False,
    ))
    fig.add_vline(x=0.5, line=dict(color="#999", dash="dot"))
    reference = short_label(result["reference"], width=40, max_lines=1)
    fig.update_layout(title=f"P(X > {reference}): probability of improvement, simultaneous 95% CI",
                      xaxis=dict(title="P(X > reference)", range=[0, 1]),
                      height=max(320, 28 * len(rows) + 120))
    return fig


def profile_figure(result: dict[str, Any]) -> go.Figure | None:
    taus, curves = result["profiles"]["thresholds"], result["profiles"]["by_config"]
    if not curves or not taus:
        return None
    fig = go.Figure()
    for i, (config, curve) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        low = [None if not np.isfinite(v) else v for v in curve["low"]]
        high = [None if not np.isfinite(v) else v for v in curve["high"]]
        name = short_label(config, width=40, max_lines=1)
        fig.add_trace(go.Scatter(x=taus, y=high, mode="lines", line=dict(width=0), legendgroup=config, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=taus, y=low, mode="lines", line=dict(width=0), fill="tonexty", legendgroup=config,
                                 fillcolor=_alpha(color), showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=taus, y=curve["fraction"], mode="lines", name=name, legendgroup=config,
                                 line=dict(color=color), customdata=[config] * len(taus),
                                 hovertemplate="%{customdata}<br>tau %{x:.3f}: %{y:.2f} of runs<extra></extra>"))
    above = "above" if result["higher_is_better"] else "below"
    fig.update_layout(title=f"Performance profile: fraction of runs {above} each score (95% pointwise bands)",
                      xaxis_title=f"threshold tau ({score_name(result)})",
                      yaxis=dict(title=f"fraction of runs {above} tau", range=[0, 1.02]),
                      height=520, legend=dict(orientation="h"))
    return fig


def _alpha(color: str, alpha: float = 0.15) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _what(result: dict[str, Any]) -> str:
    if result["over"] and len(result["studies"]) == 1:
        return f"the {len(result['tasks'])} values of {result['over']} in study {result['studies'][0]!r}"
    if result["over"]:
        studies = ", ".join(map(repr, result["studies"]))
        return f"{len(result['tasks'])} tasks ({result['over']} values of studies {studies})"
    return f"{len(result['tasks'])} studies"


def _pairing(result: dict[str, Any]) -> str:
    paired = sum(t["paired"] for t in result["tasks"])
    if paired == len(result["tasks"]):
        return "paired by seed within each task"
    if paired:
        return (f"paired by seed on {paired} of {len(result['tasks'])} tasks, Mann-Whitney over all pairs of runs "
                "elsewhere")
    return "no task paired by seed: Mann-Whitney over all pairs of runs"


def aggregate_sections(result: dict[str, Any]) -> list[Section]:
    """The report's sections for an aggregate: IQM, P(X > Y), the profile and the tasks."""
    iqm, improvement, tasks = _frames(result)
    runs = result["runs_per_stratum"]
    intro = (f"Aggregate over {_what(result)}: the {len(result['configs'])} configs present in every task, matched "
             f"on {', '.join(result['matched_on'])}. Score: {score_name(result)}. Intervals: stratified bootstrap "
             f"({result['n_bootstrap']} resamples of the seeds within each task, tasks held fixed; "
             f"{_span(runs)} run(s) per task), estimate +- t x bootstrap SE with small-sample corrections "
             "(docs/aggregates.md). Agarwal et al. 2021 (rliable).")
    sections = [Section("Aggregate over tasks: IQM", [
        intro, "IQM: the mean of the middle half of all runs pooled over tasks (25% trimmed mean): one task where "
               "everything fails or one lucky seed moves it little. Mean: the plain mean of the per-task means.",
        *[f"Note: {n}" for n in result["notes"]],
    ], [iqm], [iqm_figure(result)])]
    if not improvement.empty:
        sections.append(Section("Aggregate over tasks: probability of improvement", [
            f"P(X > {result['reference']}) ({result['reference_source'] or 'the best IQM'}): per task, the share of "
            f"seeds on which X beat the reference (a tie counts half; {_pairing(result)}), averaged over tasks. 0.5: "
            f"neither is ahead. Intervals are simultaneous over the {result['comparisons']} comparisons (Bonferroni), "
            "so a verdict is what its interval says: better or worse when it excludes 0.5.",
        ], [improvement], [improvement_figure(result)]))
    profile = profile_figure(result)
    if profile is not None:
        sections.append(Section("Aggregate over tasks: performance profile", [
            "The fraction of all runs (every task, every seed) scoring above each threshold: a curve above another is "
            "better at every level; crossing curves say which config wins depends on the bar. Bands: 95% pointwise. "
            f"Drawn: the best {MAX_PROFILES} configs by IQM and the reference.",
        ], [], [profile]))
    sections.append(Section("Aggregate over tasks: the tasks", [
        "Each task's chance level (the score normalisation's zero) and its runs; paired: every config ran the same "
        "seeds.",
    ], [tasks], []))
    return sections


def dataset_aggregate(table: StudyTable, *, seed: int = 0) -> tuple[dict[str, Any], list[Section]] | None:
    """The report's aggregate over the study's ``dataset`` values, when it searches ``dataset`` beside
    other parameters; a study whose datasets share no config gets a one-paragraph section saying so."""
    names = table.param_names()
    if "dataset" not in names or len(names) < 2:
        return None
    try:
        result = aggregate_studies([table], over="dataset", seed=seed, max_profiles=MAX_PROFILES)
    except AnalysisError as exc:
        note = Section("Aggregate over datasets", [f"No aggregate: {exc}."])
        return {"available": False, "reason": str(exc)}, [note]
    return {"available": True, **result}, aggregate_sections(result)


def format_aggregate(result: dict[str, Any], *, limit: int = 15) -> str:
    """The terminal summary ``study aggregate`` prints."""
    lines = [f"aggregate over {_what(result)}: {len(result['configs'])} shared configs (matched on "
             f"{', '.join(result['matched_on'])}); score: {score_name(result)}",
             f"IQM (95% CI, stratified bootstrap over seeds within tasks; {result['n_bootstrap']} resamples):"]
    for _, row in result["iqm"].head(limit).iterrows():
        ci = f" [{row.iqm_ci_low:.3f}, {row.iqm_ci_high:.3f}]" if np.isfinite(row.iqm_ci_low) else " (no CI)"
        lines.append(f"{row['rank']:>4}. {row.iqm:.3f}{ci}  {row.config}")
    if len(result["iqm"]) > limit:
        lines.append(f"      ... {len(result['iqm']) - limit} more configs")
    rows = result["improvement"]
    if not rows.empty:
        lines.append(f"P(X > {result['reference']}) ({result['reference_source'] or 'best IQM'}; {_pairing(result)}, "
                     f"averaged over tasks; 95% simultaneous over {result['comparisons']} comparisons):")
        for _, row in rows.head(limit).iterrows():
            low, high = row.p_improvement_ci_low, row.p_improvement_ci_high
            ci = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) else " (no CI)"
            lines.append(f"  {row.p_improvement:.2f}{ci} {row.reading:<25}  {row.config}")
        if len(rows) > limit:
            lines.append(f"  ... {len(rows) - limit} more configs")
    lines.extend(f"note: {n}" for n in result["notes"])
    return "\n".join(lines)


def summary_lines(data: dict[str, Any], *, top: int = 3) -> list[str]:
    """Two lines for ``study report``'s terminal summary (its ``aggregate_by_dataset``, as JSON or not)."""
    if not data.get("available"):
        return [f"aggregate over datasets: none ({data.get('reason')})"]
    rows = pd.DataFrame(data["iqm"]).head(top)
    best = "; ".join(f"{r['config']} {r['iqm']:.3f}" + (f" [{r['iqm_ci_low']:.3f}, {r['iqm_ci_high']:.3f}]"
                                                         if pd.notna(r["iqm_ci_low"]) else "")
                     for _, r in rows.iterrows())
    lines = [f"aggregate over {len(data['tasks'])} datasets, IQM of the {score_name(data)} (95% CI): {best}"]
    verdicts = pd.DataFrame(data["improvement"])
    if not verdicts.empty:
        said = {v: list(verdicts.loc[verdicts["reading"] == v, "config"]) for v in verdicts["reading"].unique()}
        lines.append(f"  P(X > {data['reference']}): " + "; ".join(
            f"{v}: {', '.join(c) if len(c) <= 4 else f'{len(c)} configs'}" for v, c in said.items()))
    return lines
