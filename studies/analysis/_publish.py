"""Save a report where its readers look: an HTML file, attached to the study as an Optuna artifact
(optuna-dashboard links it on the study page).

``study report`` is this function plus printing; a Python user calls the same thing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna

from searchspace.interface import atomic_write
from searchspace.errors import AnalysisError
from studies._artifacts import artifact_dir_of, artifact_store, default_artifact_dir
from studies.analysis._aggregate_report import aggregate_sections
from studies.analysis._report import Report, write_report


def report_artifact_dir(study: optuna.Study, storage_url: str | None = None) -> Path | None:
    """Where the report goes: the artifact directory recorded on the study (as the dashboard and
    the workers use), else the default next to the storage file (``studies._artifacts``)."""
    recorded = artifact_dir_of(study)
    if recorded is not None:
        return recorded
    return default_artifact_dir(storage_url) if storage_url else None


def upload_report(study: optuna.Study, path: str | Path, artifact_dir: str | Path | None = None) -> str:
    """Attach the report file to the study as an Optuna artifact; returns the artifact id.

    ``artifact_dir`` defaults to the directory recorded on the study. optuna-dashboard lists it on
    the study page when started with the same directory
    (``optuna-dashboard <storage> --artifact-dir <dir>``)."""
    from optuna.artifacts import upload_artifact

    artifact_dir = artifact_dir if artifact_dir is not None else artifact_dir_of(study)
    if artifact_dir is None:
        raise ValueError(f"study {study.study_name!r} records no artifact directory; pass one")
    store = artifact_store(artifact_dir)  # written atomically, as every artifact (searchspace._atomic)
    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study, mimetype="text/html")


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def save_report(
    report: Report,
    out: str | Path | None,
    study: optuna.Study,
    *,
    storage: str | None = None,
    artifact_dir: str | Path | None = None,
    upload: bool = True,
    plotly: str = "inline",
    warn: Callable[[str], None] = _warn,
) -> Path:
    """Write ``report`` as HTML to ``out`` (None: ``<study>-report.html`` in the working directory,
    named by the study's slug: a study name is never a path) and, unless ``upload=False``, attach the file to ``study``
    as an Optuna artifact, so optuna-dashboard lists it on the study page.

    The artifact directory is ``artifact_dir``, else the one recorded on the study, else the
    default next to a SQLite ``storage`` file. Records ``report.data["report_path"]`` and, once
    attached, ``report.data["artifact"] = {"id", "dir"}``. A report that cannot be attached is
    still written: why goes to ``warn`` (a :class:`UserWarning` by default) and nothing is raised.
    """
    if out is None:
        from studies._names import study_slug

        out = f"{study_slug(study.study_name)}-report.html"
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


def write_aggregate(result: dict[str, Any], path: str | Path, *, plotly: str = "inline") -> Path:
    """The aggregate as one self-contained HTML page (plotly.js inlined with ``plotly="inline"``)."""
    path = Path(path)
    title = f"aggregate of {', '.join(result['studies'])}" + (f" over {result['over']}" if result["over"] else "")
    page = Report(title, {"study": {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}},
                  aggregate_sections(result)).to_html(plotly=plotly)  # before touching the disk
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, page)
    except OSError as exc:  # one line, as write_report: a full disk is the machine's fault (exit 4)
        from searchspace.errors import DiskFullError
        from studies.storage import disk_full_path

        reason = f"cannot write the aggregate to {path}: {exc.strerror or exc}"
        if disk_full_path(exc) is not None:
            raise DiskFullError(reason) from None
        raise AnalysisError(f"{reason}; pass --out with a path in a writable folder") from None
    return path
