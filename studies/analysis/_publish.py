"""Save a report where its readers look: an HTML file, attached to the study as an Optuna artifact.

``study report`` is this function plus printing; a Python user calls the same thing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import optuna

from studies.analysis._report import Report, report_artifact_dir, upload_report, write_report


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def save_report(
    report: Report,
    out: str | Path,
    study: optuna.Study,
    *,
    storage: str | None = None,
    artifact_dir: str | Path | None = None,
    upload: bool = True,
    plotly: str = "inline",
    warn: Callable[[str], None] = _warn,
) -> Path:
    """Write ``report`` as HTML to ``out`` and, unless ``upload=False``, attach the file to ``study``
    as an Optuna artifact, so optuna-dashboard lists it on the study page.

    The artifact directory is ``artifact_dir``, else the one recorded on the study, else the
    default next to a SQLite ``storage`` file. Records ``report.data["report_path"]`` and, once
    attached, ``report.data["artifact"] = {"id", "dir"}``. A report that cannot be attached is
    still written: why goes to ``warn`` (a :class:`UserWarning` by default) and nothing is raised.
    """
    path = write_report(report, out, plotly=plotly)
    if upload:
        directory = artifact_dir or report_artifact_dir(study, storage)
        if directory is None:
            warn("report not attached to the study: pass --artifact-dir for a non-SQLite storage")
        else:
            try:
                artifact = upload_report(study, path, directory)
                report.data["artifact"] = {"id": artifact, "dir": str(directory)}
            except Exception as exc:  # the report exists on disk; a failed upload is only a warning
                warn(f"report not attached to the study ({type(exc).__name__}: {exc})")
    report.data["report_path"] = str(path)
    return path
