"""Studies: presets, launching/resuming/workers, storage, results, the dashboard and reports
(studies.analysis).

The command line only wraps these functions: the names in ``__all__`` are the whole surface (errors
are in ``searchspace.errors``, the analysis entry points in ``studies.analysis``). A Python user
builds a spec (from a preset or from a space written in Python), launches or resumes it, and reads
the results as pandas DataFrames::

    from searchspace import Categorical, Space
    from studies import StudySpec, build_space, launch, leaderboard, trials_frame

    space = build_space({"family": "seq", "dataset": "digits", "epochs": 1},
                        Space([Categorical("layers", choices=["Conv-BN-PL-FCL-AL", "Conv-PL-FCL-AL"])]))
    study = launch(StudySpec(space=space, name="mine", repeats=2), storage="sqlite:///runs/mine.db")
    print(leaderboard(study))       # one row per config: mean/std/CI over repeats
    frame = trials_frame(study)     # one row per trial

``launch`` is ``create_or_resume`` (validate, create or resume, queue every cell once) followed by
``run_worker`` (claim and run cells) in this process, and in N-1 worker processes with ``workers=N``.
"""

from searchspace import apply_overrides, build_space  # Space -> Space edits, defined in searchspace._pin
from searchspace._lazy import lazy_attributes
from studies.engine._dashboard import run_dashboard
from studies._presets import list_presets, load_preset, read_preset
from studies.engine._race import RaceSettings
from studies._spec import Overrides, StudySpec
from studies.storage import StorageOptions, open_storage

# This is the whole user surface: what a Python user calls to run a study and read it back. The
# analysis entry points live in ``studies.analysis`` and every error class in ``searchspace.errors``;
# everything else (cell queueing and claiming, artifact paths, worker plumbing) is private to the
# modules that define it.

# Reading results pulls in pandas, scipy.stats, plotly and scikit-learn: seconds of CPU that a
# worker, which only trains, never needs; launching and running pull in the objectives and so torch
# (~2 s), which a command that only reads a study (``study status``) never needs. These names are
# imported on first use (PEP 562).
_LAZY = {
    **dict.fromkeys(("create_or_resume", "launch"), "studies.engine._launch"),
    "run_worker": "studies.engine._processes",
    **dict.fromkeys(
        (
            "failure_summary", "format_leaderboard", "format_status", "leaderboard", "load_study", "study_status",
            "trials_frame",
        ),
        "studies._results",
    ),
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    # define a study
    "Overrides",
    "StudySpec",
    "apply_overrides",
    "build_space",
    "list_presets",
    "load_preset",
    "read_preset",
    "RaceSettings",
    # run it
    "StorageOptions",
    "create_or_resume",
    "launch",
    "open_storage",
    "run_worker",
    # read it back
    "failure_summary",
    "format_leaderboard",
    "format_status",
    "leaderboard",
    "load_study",
    "run_dashboard",
    "study_status",
    "trials_frame",
]
