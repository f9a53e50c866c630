"""Studies: presets, launching/resuming/workers, storage, results and reports (studies.analysis).

A Python user does what the CLI does::

    from studies import load_preset, launch, leaderboard
    spec = load_preset("demo")
    study = launch(spec, storage="sqlite:///runs/layerlab.db")
    print(leaderboard(study))
"""

from studies._launch import create_or_resume, launch, queue_grid
from studies._presets import PresetError, list_presets, load_preset, read_preset
from studies._results import (
    format_leaderboard,
    leaderboard,
    load_study,
    study_status,
    trials_frame,
)
from studies._spec import Overrides, StudyError, StudySpec, apply_overrides, build_space
from studies._storage import DEFAULT_STORAGE, StorageError, StorageOptions, open_storage
from studies._worker import claim_waiting, load_spec, run_worker
from studies.analysis import (
    AnalysisError,
    ablation_table,
    build_report,
    compare_studies,
    describe_dataset,
    importance_with_ci,
    leaderboard_table,
    medmnist_table,
    variance_split,
    write_report,
)

__all__ = [
    "AnalysisError",
    "DEFAULT_STORAGE",
    "Overrides",
    "PresetError",
    "StorageError",
    "StorageOptions",
    "StudyError",
    "StudySpec",
    "ablation_table",
    "apply_overrides",
    "build_report",
    "build_space",
    "claim_waiting",
    "compare_studies",
    "create_or_resume",
    "describe_dataset",
    "format_leaderboard",
    "importance_with_ci",
    "launch",
    "leaderboard",
    "leaderboard_table",
    "list_presets",
    "load_preset",
    "load_spec",
    "load_study",
    "medmnist_table",
    "open_storage",
    "queue_grid",
    "read_preset",
    "run_worker",
    "study_status",
    "trials_frame",
    "variance_split",
    "write_report",
]
