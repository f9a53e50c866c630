"""Studies: define a study (a preset or a space written in Python), launch or resume it, read it
back, and analyse it. The names in ``__all__`` are the whole surface, and the command line
(``cli.py``) uses nothing else; the error classes are in ``searchspace``::

    from searchspace import Categorical, Space, build_space
    from studies import StudySpec, build_report, launch, leaderboard, trials_frame

    space = build_space({"family": "seq", "dataset": "digits", "epochs": 1},
                        Space([Categorical("layers", choices=["Conv-BN-PL-FCL-AL", "Conv-PL-FCL-AL"])]))
    study = launch(StudySpec(space=space, name="mine", repeats=2), storage="sqlite:///runs/mine.db")
    print(leaderboard(study))                 # one row per config: mean/std/CI over repeats
    print(build_report(study).summary())      # verdicts, importance, noise (save_report: the HTML)

``launch`` creates or resumes the study, queues every cell once, and runs workers in this process
and in ``workers - 1`` more; ``run_worker`` joins a study from another machine or GPU.

Inside, ``studies.storage`` (one interface over every storage backend), ``studies.engine``
(launch, workers, claims, racing, faults) and ``studies.analysis`` (statistics and the report)
are private to this package, as is every ``_module`` (docs/map.md).
"""

from searchspace.interface import lazy_attributes as _lazy_attributes

# Every name is imported on first use (PEP 562): reading results pulls in pandas, scipy.stats,
# plotly and scikit-learn (seconds of CPU a worker never needs), and running a study pulls in the
# objectives and so torch (~2 s, which `study status` never needs); a mistyped preset is refused
# before either is imported.
_LAZY = {
    # define a study
    **dict.fromkeys(("Overrides", "StudySpec"), "studies._spec"),
    **dict.fromkeys(("list_presets", "load_preset", "read_preset"), "studies._presets"),
    **dict.fromkeys(("describe_grid", "show_preset"), "studies._listing"),
    "check_options": "studies._options",
    "RaceSettings": "studies.engine._race",
    "StorageOptions": "studies.storage._backend",
    # run it
    "launch": "studies.engine._launch",
    **dict.fromkeys(("command_process", "run_worker"), "studies.engine._processes"),
    "format_launch": "studies._summary",
    # read it back
    **dict.fromkeys(
        ("format_leaderboard", "format_status", "leaderboard", "load_study", "study_status", "trials_frame"),
        "studies._results",
    ),
    "run_dashboard": "studies.engine._dashboard",
    # analyse it
    "build_report": "studies.analysis._report",
    "to_json": "studies._json",
    **dict.fromkeys(("save_report", "write_aggregate"), "studies.analysis._publish"),
    "compare_studies": "studies.analysis._transfer",
    **dict.fromkeys(("format_comparison", "format_datasets"), "studies.analysis._text"),
    "aggregate_studies": "studies.analysis._aggregate",
    "format_aggregate": "studies.analysis._aggregate_report",
    "dataset_statistics": "studies.analysis._datasets",
}


__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY)


__all__ = [
    # define a study
    "StudySpec",
    "Overrides",
    "RaceSettings",
    "StorageOptions",
    "list_presets",
    "read_preset",
    "load_preset",
    "show_preset",
    "describe_grid",
    "check_options",
    # run it
    "launch",
    "run_worker",
    "format_launch",
    "command_process",
    # read it back
    "load_study",
    "study_status",
    "format_status",
    "leaderboard",
    "format_leaderboard",
    "trials_frame",
    "run_dashboard",
    # analyse it
    "build_report",
    "save_report",
    "compare_studies",
    "format_comparison",
    "aggregate_studies",
    "format_aggregate",
    "write_aggregate",
    "dataset_statistics",
    "format_datasets",
    "to_json",
]
