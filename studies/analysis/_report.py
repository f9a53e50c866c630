"""One self-contained HTML report per study (plotly.js inlined, opens offline) and its numbers as
JSON: :func:`build_report` runs every analysis and orders the sections.

What each section says is in :mod:`studies.analysis._sections`, the page in
:mod:`studies.analysis._html`, the terminal summary in :mod:`studies.analysis._text` and the upload
to the study (an Optuna artifact the dashboard links) in :mod:`studies.analysis._publish`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from searchspace.interface import atomic_write
from studies._json import jsonable, to_json
from studies._presets import paper_report
from studies.analysis import _decisions as decisions
from studies.analysis import _sections as sections_of
from studies.analysis._aggregate_report import dataset_aggregate
from studies.analysis._answer import disagreements, importance_answer
from studies.analysis._choices import choice_effects, sampled
from studies.analysis._collect import collect
from studies.analysis._datasets import best_per_dataset, config_value, describe_datasets, study_datasets
from studies.analysis._epoch_test import per_epoch_test_section
from studies.analysis._headline import headline
from studies.analysis._html import render_html
from studies.analysis._importance import EVALUATORS, importance_with_ci, variance_split
from studies.analysis._labels import config_ids
from studies.analysis._leaderboard import ablation_table, leaderboard_table, noise_note
from studies.analysis._metrics import objective_metrics
from studies.analysis._race import race_section
from studies.analysis._sections import Section
from studies.analysis._summary import summary_facts, summary_sentences
from studies.analysis._transfer import compare_studies, rank_transfer_matrix, transfer_race_answer
from studies.analysis._variance import variance_section

PRIMARY_EVALUATOR = "anova"  # the default headline evaluator (importance_with_ci's "headline" decides)
# Evaluators that get the permutation null in a report: each shuffle refits the evaluator, cheap
# for the ANOVA, about 0.2 s a fit for fANOVA (importance_with_ci(permute=None) runs it for all).
REPORT_PERMUTE = ("anova",)


@dataclass
class Report:
    """The numbers (``data``, JSON-ready) and the sections of the HTML page."""

    study_name: str
    data: dict[str, Any]
    sections: list[Section]

    def to_json(self, **kwargs: Any) -> str:
        return to_json(self.data, **kwargs)

    def summary(self, *, limit: int = 10) -> str:
        """A few lines for the terminal (what ``study report`` prints): top configs, verdicts,
        importance, noise."""
        from studies.analysis._text import format_summary

        return format_summary(self, limit=limit)

    def to_html(self, *, plotly: str = "inline") -> str:
        return render_html(self, plotly=plotly)


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
    n_bootstrap: int = 0,
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
    default: only those shipped in installed packages, never a download), ``all`` or ``none``.

    ``n_bootstrap``: replicates for the CIs of the secondary importance evaluators (fANOVA,
    PED-ANOVA, MDI: behind a fold, no verdict rests on them) and of Spearman's rho between
    datasets. Default 0: every verdict, interval and the importance answer are analytic or
    simultaneous, and the bootstrap changed none of them while it took 45% of a 5,040-trial report."""
    from studies._options import check_options
    from studies.analysis import _figures as figs

    check_options(alpha=alpha, margin=margin, bootstrap=n_bootstrap, seed=seed, top_k=top_k)
    table = collect(study)
    board = leaderboard_table(table, alpha=alpha, test=test)
    ablation = ablation_table(table, baseline, alpha=alpha, test=test, margin=margin)
    transfer = (compare_studies(table, collect(compare_with), top_k=top_k, seed=seed) if compare_with is not None
                else None)
    if transfer is not None:  # the transfer race's own verdict, when this study raced compare_with
        transfer["race"] = transfer_race_answer(study, compare_with)
    importance = importance_with_ci(table, evaluators=evaluators, n_bootstrap=n_bootstrap, seed=seed, progress=progress,
                                    permute=[e for e in REPORT_PERMUTE if e in evaluators])
    split = variance_split(table, alpha=alpha, test=test)
    extra = objective_metrics(table, order=list(board["group"]), alpha=alpha, test=test)
    notes = sections_of.report_notes(table, board, ablation, importance, noise_note(table))

    datasets_info: dict[str, Any] = {}
    best = pd.DataFrame()
    names = study_datasets(table)
    if datasets != "none" and names:
        datasets_info = describe_datasets(names, data_dir, load=datasets)
    layout = paper_report(table.spec).get("best_per_dataset")  # the preset's own table, e.g. seed 000's Table 3
    if layout is not None and "dataset" in table.param_names() and any(
            config_value(table, g, layout.group_key) for g in table.groups):
        best = best_per_dataset(table, datasets=datasets_info or None)
    by_dataset = None
    if "dataset" in table.param_names() and len(table.param_names()) > 1:
        by_dataset = rank_transfer_matrix(table, by="dataset", n_bootstrap=min(n_bootstrap, 200), seed=seed)
        if not any(p["tau"] is not None for p in by_dataset["pairs"]):
            by_dataset = None

    primary = importance["headline"]["params"]  # evaluated parameters only: never a left-out one
    answer = importance_answer(importance, alpha=alpha)  # one evaluator, with its noise verdict
    is_sampled = sampled(table)
    choices = choice_effects(table, alpha=alpha, seed=seed) if is_sampled else None
    ids = config_ids(board, always=is_sampled)  # short IDs when labels are long (a sampled study's always are)
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
        "importance_answer": answer,
        "importance_detail": importance,
        "variance_split": split,
        "notes": notes,
    }
    facts = summary_facts(table, board, ablation, split)
    data["summary"] = {"facts": facts, "sentences": summary_sentences(facts)}
    if extra["attrs"]:
        # per config: leaderboard "extra"
        data["objective_metrics"] = {k: v for k, v in extra.items() if k != "by_config"}
    if choices is not None:
        data["choices"] = choices
    if ids:
        data["config_ids"] = ids
    if transfer is not None:
        data["compare"] = transfer
    if datasets_info:
        data["datasets"] = datasets_info
    if not best.empty:
        data["best_per_dataset"] = best
    if by_dataset is not None:
        data["rank_transfer_by_dataset"] = by_dataset

    verdict = headline(ablation.rows, board, alpha=alpha, correction=ablation.correction)
    data["verdict"] = verdict
    summary = sections_of.summary_section(table, data["summary"]["sentences"], notes)
    configs = sections_of.leaderboard_section(board, sections_of.pruned_paragraphs(data, study),
                                              figs.leaderboard_figure(board, ids), ids)
    if choices is not None:  # a sampled study: the choices first, then the configs
        first = decisions.choices_section(choices, answer, figs.choices_figure(choices),
                                            disagreements(answer, choices))
        sections = [first, configs, summary]
    else:  # a grid: each variant against the baseline first
        sections = [decisions.verdict_section(verdict, ablation, ids), summary, configs]
    if extra["attrs"]:
        sections.append(sections_of.objective_metrics_section(extra, board, ids))
    sections.append(sections_of.ablation_section(ablation, figs.ablation_figure(ablation, ids), ids))
    race = race_section(study)  # a raced study: repeats per config, when and why each was decided
    if race is not None:
        data["race"], section = race
        sections.append(section)
    variance = variance_section(table, alpha=alpha, seed=seed)  # a --vary study: what each source of randomness adds
    if variance is not None:
        data["variance_sources"], section = variance
        sections.append(section)
    sections.append(decisions.importance_section(importance, answer, figs.importance_figure(answer)))
    order = [e["parameter"] for e in answer["params"]]
    optuna_figs, optuna_notes = figs.optuna_figures(study, table, order)
    for title, fig in optuna_figs:
        sections.append(Section(title, [], [], [fig]))
    if optuna_notes:
        sections.append(Section("Plots not drawn", optuna_notes))
    curves_section, curves_shown = sections_of.curves_section(table, board, ablation, figs, ids)
    sections.append(curves_section)
    test_curves = per_epoch_test_section(table, board, figs, Section)  # only with eval_test_every_epoch
    if test_curves is not None:
        sections.append(test_curves)
        data["best_test_over_epochs"] = test_curves.tables[0].to_dict("records")
    confusion_section, confusion_shown = sections_of.confusion_section(table, board, ablation, figs, ids)
    sections.append(confusion_section)
    data["figures"] = {"learning_curves": curves_shown, "confusion": confusion_shown}
    if transfer is not None:
        sections.append(sections_of.transfer_section(transfer, figs.transfer_figure(transfer)))
    if by_dataset is not None:
        sections.append(sections_of.dataset_transfer_section(by_dataset, figs.transfer_matrix_figure(by_dataset)))
    aggregate = dataset_aggregate(table, seed=seed)  # IQM, P(X > Y), profiles over the datasets (_aggregate)
    if aggregate is not None:
        data["aggregate_by_dataset"], aggregate_sections = aggregate
        sections.extend(aggregate_sections)
    if datasets_info:
        sections.append(sections_of.datasets_section(datasets_info))
    if not best.empty:
        sections.append(sections_of.best_per_dataset_section(best, layout))
    return Report(table.study_name, data, sections)


def write_report(report: Report, path: str | Path, *, plotly: str = "inline") -> Path:
    path = Path(path)
    html_text = report.to_html(plotly=plotly)  # before touching the disk: a bad option writes nothing
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, html_text)  # a kill or a full disk mid-write leaves the previous report intact
    except OSError as exc:  # one line, not a traceback: a full disk is the machine's fault (exit 4)
        from searchspace.errors import DiskFullError
        from studies.storage import disk_full_path
        from studies.analysis._collect import AnalysisError

        reason = f"cannot write the report to {path}: {exc.strerror or exc}"
        if disk_full_path(exc) is not None:
            kept = "; the previous report there is unchanged" if path.exists() else ""
            raise DiskFullError(f"{reason}{kept}; free space and run the same command again") from None
        raise AnalysisError(f"{reason}; pass --out with a path in a writable folder") from None
    return path
