"""Analysis of any Optuna study: which choices mattered, and how far to trust that.

Works on layerlab studies and on studies made by hand: trial user attributes ``config_id``,
``repeat``, ``seed``, ``test_accuracy``, ``history`` and ``confusion`` are used when present,
with graceful fallbacks when absent (see :func:`collect`)::

    from studies.analysis import leaderboard_table, ablation_table, importance_with_ci
    board = leaderboard_table(study)                     # mean, std, 95% CI over seed repeats
    metrics = objective_metrics(study)                   # the objective's report_attrs, paired pairs
    ablation = ablation_table(study, "layers=full")      # deltas vs baseline, paired, Holm
    importance = importance_with_ci(study)               # ANOVA / fANOVA / PED-ANOVA / MDI: CIs, permutation null
    transfer = compare_studies(small_study, full_study)  # settled pairs, concordance, tau of the true means
    sources = variance_sources(study)                    # a --vary study: init 45% [..], data order 30% [..]
    across = aggregate_studies([study], over="dataset")  # IQM, P(X > Y), profiles over datasets
    write_report(build_report(study), "report.html")     # one self-contained HTML file
"""

from studies.analysis._aggregate import aggregate_scores, aggregate_studies
from studies.analysis._aggregate_report import format_aggregate
from studies.analysis._collect import collect
from studies.analysis._datasets import describe_dataset
from studies.analysis._importance import EVALUATORS, AnovaImportanceEvaluator, importance_with_ci, variance_split
from studies.analysis._leaderboard import ablation_table, leaderboard_table
from studies.analysis._metrics import objective_metrics
from studies.analysis._publish import save_report, upload_report, write_aggregate
from studies.analysis._report import Report, build_report, write_report
from studies.analysis._stats import compare_paired, holm, mean_ci
from studies.analysis._text import format_comparison, format_datasets, format_summary
from studies.analysis._transfer import compare_studies
from studies.analysis._variance import VarianceSources, variance_sources

# The names a user calls; the rest (row types, artifact paths, JSON helpers, per-dataset tables,
# the report's pieces) stays in the private modules. ``AnalysisError`` is in ``searchspace.errors``.
__all__ = [
    # tables
    "collect",
    "leaderboard_table",
    "ablation_table",
    "objective_metrics",
    "describe_dataset",
    "format_datasets",
    # statistics
    "compare_paired",
    "holm",
    "mean_ci",
    # importance
    "EVALUATORS",
    "AnovaImportanceEvaluator",
    "importance_with_ci",
    "variance_split",
    # sources of variance (a study launched with --vary)
    "VarianceSources",
    "variance_sources",
    # transfer between studies
    "compare_studies",
    "format_comparison",
    # aggregates over datasets or studies
    "aggregate_scores",
    "aggregate_studies",
    "format_aggregate",
    "write_aggregate",
    # the report
    "Report",
    "build_report",
    "format_summary",
    "save_report",
    "upload_report",
    "write_report",
]
