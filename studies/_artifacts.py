"""Per-trial files in an Optuna artifact store, so optuna-dashboard shows and serves them.

Each trial gets ``trial.json`` (config, seed, metrics, provenance), ``confusion_matrix.csv`` (rows:
true class, columns: predicted class) and ``history.csv`` (one row per epoch), built from the
trial's user attributes by the worker. Objectives stay storage-agnostic; a failed upload is logged
and never fails the trial.

The store is a :class:`optuna.artifacts.FileSystemArtifactStore`. Its directory defaults to
``artifacts/`` next to a SQLite or journal file (``runs/artifacts`` otherwise) and is recorded in the
study's ``layerlab`` attribute, so workers, the dashboard and reports find it. With workers on
several machines, give ``--artifact-dir`` a path on a shared file system.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from searchspace.interface import atomic_write
from studies._names import study_slug
from studies._spec import SPEC_ATTR  # the study attribute that also records where its artifacts are
from studies.storage import storage_file
from objectives.interface import SCALAR_METRICS

log = logging.getLogger("layerlab")
# random, per study: its checkpoints record it (objectives.interface.checkpoint_owner)
CHECKPOINT_KEY = "checkpoint_key"
# Scalars copied into trial.json beside the config (whichever the objective recorded).
SUMMARY_ATTRS = (
    "config_id", "seed", "repeat", *SCALAR_METRICS,  # the objectives' one list of scalar metrics
    "pruned_at_epoch", "fail_reason", "device", "data_sizes", "worker", "layerlab_version", "git_commit",
)


def default_artifact_dir(storage_url: str) -> Path:
    path = storage_file(storage_url)
    root = path.parent if path is not None else Path("runs")
    return (root / "artifacts").resolve()


def artifact_dir_of(study: optuna.Study) -> Path | None:
    recorded = (study.user_attrs.get(SPEC_ATTR) or {}).get("artifact_dir")
    return Path(recorded) if recorded else None


def default_checkpoint_dir(artifact_dir: str | Path, study_name: str) -> Path:
    """Checkpoints live beside the artifacts, on the path every worker of the study reaches, in a
    folder named by the study's slug (studies._names: a name is never a path)."""
    return Path(artifact_dir).resolve().parent / "checkpoints" / study_slug(study_name)


def checkpoint_dir_of(study: optuna.Study) -> Path | None:
    """The checkpoint directory recorded on a layerlab study (older studies: beside the artifacts).

    A study created before names were slugged recorded ``checkpoints/<name>``; for a name that is
    not a plain name (``../../x``, an absolute path) that folder may lie anywhere, so such a
    study gets the slugged folder instead (a folder given with --checkpoint-dir is kept)."""
    attrs = study.user_attrs.get(SPEC_ATTR) or {}
    recorded = attrs.get("checkpoint_dir")
    if recorded and attrs.get("artifact_dir") and study_slug(study.study_name) != study.study_name:
        legacy = Path(attrs["artifact_dir"]).resolve().parent / "checkpoints" / study.study_name
        if recorded == str(legacy):
            recorded = None
    if recorded:
        return Path(recorded)
    return default_checkpoint_dir(attrs["artifact_dir"], study.study_name) if attrs.get("artifact_dir") else None


def usable_checkpoint_dir(path: str | Path | None) -> Path | None:
    """``path`` created if missing; None (checkpoints off, with a warning) when it cannot be used,
    e.g. a directory recorded on another machine. A full disk is not a reason to go on without."""
    if path is None:
        return None
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path)
    except OSError as exc:
        from studies.storage import disk_full_path

        if disk_full_path(exc) is not None:
            raise
        log.warning("checkpoints disabled: cannot use %s (%s)", path, exc.strerror or exc)
        return None


class AtomicArtifactStore(FileSystemArtifactStore):
    """A file-system artifact store whose writes go to a temporary file moved into place, so a
    full disk or a kill leaves no half-written artifact."""

    def write(self, artifact_id: str, content_body) -> None:
        import shutil

        atomic_write(Path(self._base_path) / artifact_id, lambda handle: shutil.copyfileobj(content_body, handle))


def artifact_store(path: str | Path) -> FileSystemArtifactStore:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return AtomicArtifactStore(str(path))


def artifact_store_for(study: optuna.Study) -> FileSystemArtifactStore | None:
    """The artifact store recorded on a layerlab study (None when it has none)."""
    path = artifact_dir_of(study)
    return artifact_store(path) if path is not None else None


class UnionArtifactStore:
    """Reads artifacts from several directories (one dashboard over studies that chose different
    ``--artifact-dir``s); writes go to the first."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.stores = [artifact_store(p) for p in dict.fromkeys(Path(p) for p in paths)]
        if not self.stores:
            raise ValueError("UnionArtifactStore needs at least one directory")

    def open_reader(self, artifact_id: str):
        for store in self.stores:
            try:
                return store.open_reader(artifact_id)
            except ArtifactNotFound:
                continue
        raise ArtifactNotFound(f"artifact {artifact_id} is in none of the artifact directories")

    def write(self, artifact_id: str, content_body) -> None:
        self.stores[0].write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        for store in self.stores:
            try:
                store.remove(artifact_id)
                return
            except ArtifactNotFound:
                continue
        raise ArtifactNotFound(f"artifact {artifact_id} is in none of the artifact directories")


def trial_files(user_attrs: dict[str, Any], number: int) -> dict[str, str]:
    """File name -> text of the artifacts of one trial, from its user attributes."""
    summary = {"trial": number, **{k: user_attrs[k] for k in SUMMARY_ATTRS if k in user_attrs}}
    summary["config"] = user_attrs.get("config")
    files = {"trial.json": json.dumps(summary, indent=2, sort_keys=True, default=str)}
    confusion = user_attrs.get("confusion")
    if confusion:
        files["confusion_matrix.csv"] = _csv(
            [["true\\pred", *range(len(confusion[0]))], *([i, *row] for i, row in enumerate(confusion))]
        )
    history = user_attrs.get("history")
    if history:
        columns = list(dict.fromkeys(k for row in history for k in row))
        files["history.csv"] = _csv([columns, *([row.get(c, "") for c in columns] for row in history)])
    return files


def _csv(rows: Iterable[Iterable[Any]]) -> str:
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def upload_trial_artifacts(trial: optuna.trial.Trial, store: Any) -> list[str]:
    """Upload a running trial's files (artifacts attach to a trial only before it finishes).
    Returns the artifact ids; any error is logged and swallowed."""
    try:
        files = trial_files(trial.user_attrs, trial.number)
        ids = []
        with tempfile.TemporaryDirectory(prefix="layerlab-artifacts-") as tmp:
            for name, text in files.items():
                path = Path(tmp) / name
                path.write_text(text)
                ids.append(upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial))
        return ids
    except Exception as exc:  # an artifact is a convenience; the trial's result must survive without it
        from studies.storage import disk_full_path

        if disk_full_path(exc) is not None:
            raise  # a full disk stops the worker (studies.engine._faults), it is not a warning
        log.warning("could not upload the artifacts of trial %d", trial.number, exc_info=True)
        return []
