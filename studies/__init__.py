"""Studies: presets, launching/resuming/workers, storage, results and reports.

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

__all__ = [
    "DEFAULT_STORAGE",
    "Overrides",
    "PresetError",
    "StorageError",
    "StorageOptions",
    "StudyError",
    "StudySpec",
    "apply_overrides",
    "build_space",
    "claim_waiting",
    "create_or_resume",
    "format_leaderboard",
    "launch",
    "leaderboard",
    "list_presets",
    "load_preset",
    "load_spec",
    "load_study",
    "open_storage",
    "queue_grid",
    "read_preset",
    "run_worker",
    "study_status",
    "trials_frame",
]
