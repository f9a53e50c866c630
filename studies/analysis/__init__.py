"""Analysis of any Optuna study: which choices mattered, and how far to trust that.

Works on layerlab studies and on studies made by hand: trial user attributes ``config_id``,
``repeat``, ``seed``, ``test_accuracy``, ``history`` and ``confusion`` are used when present,
with graceful fallbacks when absent (see :func:`collect`)::

    from studies.analysis import leaderboard_table, ablation_table, importance_with_ci
    board = leaderboard_table(study)                     # mean, std, 95% CI over seed repeats
    metrics = objective_metrics(study)                   # the objective's report_attrs, paired pairs
    ablation = ablation_table(study, "layers=full")      # deltas vs baseline, paired, Holm
    importance = importance_with_ci(study)               # ANOVA / fANOVA / PED-ANOVA / MDI: CIs, permutation null
    transfer = compare_studies(small_study, full_study)  # Kendall tau, Spearman rho, flips
    write_report(build_report(study), "report.html")     # one self-contained HTML file
"""

from studies.analysis._collect import AnalysisError, StudyTable, collect, parse_assignments
from studies.analysis._datasets import (
    MEDMNIST_GROUPS,
    best_per_dataset,
    describe_dataset,
    describe_datasets,
    medmnist_table,
    study_datasets,
)
from studies.analysis._importance import EVALUATORS, AnovaImportanceEvaluator, importance_with_ci, variance_split
from studies.analysis._leaderboard import Ablation, ablation_table, leaderboard_table
from studies.analysis._metrics import objective_metrics
from studies.analysis._report import (
    Report,
    build_report,
    default_artifact_dir,
    format_summary,
    jsonable,
    report_artifact_dir,
    upload_report,
    write_report,
)
from studies.analysis._stats import compare_paired, holm, mean_ci, variance_components
from studies.analysis._transfer import compare_studies, rank_transfer_matrix

__all__ = [
    "Ablation",
    "AnalysisError",
    "AnovaImportanceEvaluator",
    "Report",
    "EVALUATORS",
    "MEDMNIST_GROUPS",
    "StudyTable",
    "ablation_table",
    "best_per_dataset",
    "build_report",
    "collect",
    "compare_paired",
    "compare_studies",
    "default_artifact_dir",
    "describe_dataset",
    "describe_datasets",
    "format_summary",
    "holm",
    "importance_with_ci",
    "jsonable",
    "leaderboard_table",
    "mean_ci",
    "medmnist_table",
    "objective_metrics",
    "parse_assignments",
    "rank_transfer_matrix",
    "report_artifact_dir",
    "study_datasets",
    "upload_report",
    "variance_components",
    "variance_split",
    "write_report",
]
