"""Studies: presets, launching/resuming/workers, storage, results, the dashboard and reports
(studies.analysis).

The command line only wraps these functions. A Python user builds a spec (from a preset or from a
space written in Python), launches or resumes it, and reads the results as pandas DataFrames::

    from searchspace import Categorical, Space
    from studies import StudySpec, build_space, launch, leaderboard, trials_frame

    space = build_space({"family": "seq", "dataset": "digits", "epochs": 1},
                        Space([Categorical("layers", choices=["Conv-BN-PL-FCL-AL", "Conv-PL-FCL-AL"])]))
    study = launch(StudySpec(space=space, name="mine", repeats=2), storage="sqlite:///runs/mine.db")
    print(leaderboard(study))       # one row per config: mean/std/CI over repeats
    frame = trials_frame(study)     # one row per trial

``launch`` is ``create_or_resume`` (validate, create or resume, queue every cell once) followed by
``run_worker`` (claim and run cells) in this process or in N worker processes.
"""

from studies._artifacts import artifact_store_for, trial_files
from studies._cells import count_cells, queue_grid, queue_slots
from studies._dashboard import DashboardError, run_dashboard
from studies._launch import create_or_resume, launch, worker_commands
from studies._presets import PresetError, list_presets, load_preset, read_preset
from studies._race import RaceError, RaceSettings
from studies._spec import Overrides, StudyError, StudySpec, apply_overrides, build_space
from studies._storage import DEFAULT_STORAGE, StorageError, StorageOptions, open_storage
from studies._worker import WorkerReport, claim_waiting, load_spec, run_worker

# Reading results pulls in pandas, scipy.stats, plotly and scikit-learn: seconds of CPU that a
# worker, which only trains, never needs. These names are imported on first use (PEP 562).
_LAZY = {
    **dict.fromkeys(
        ("format_leaderboard", "format_status", "leaderboard", "load_study", "study_status", "trials_frame"),
        "studies._results",
    ),
    **dict.fromkeys(
        (
            "AnalysisError", "ablation_table", "build_report", "compare_studies", "describe_dataset",
            "importance_with_ci", "leaderboard_table", "medmnist_table", "variance_split", "write_report",
        ),
        "studies.analysis",
    ),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'studies' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

__all__ = [
    "AnalysisError",
    "DEFAULT_STORAGE",
    "DashboardError",
    "Overrides",
    "PresetError",
    "RaceError",
    "RaceSettings",
    "StorageError",
    "StorageOptions",
    "StudyError",
    "StudySpec",
    "WorkerReport",
    "ablation_table",
    "apply_overrides",
    "artifact_store_for",
    "build_report",
    "build_space",
    "claim_waiting",
    "compare_studies",
    "count_cells",
    "create_or_resume",
    "describe_dataset",
    "format_leaderboard",
    "format_status",
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
    "queue_slots",
    "read_preset",
    "run_dashboard",
    "run_worker",
    "study_status",
    "trial_files",
    "trials_frame",
    "variance_split",
    "worker_commands",
    "write_report",
]
