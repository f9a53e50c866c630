"""optuna-dashboard over a layerlab storage, with the trials' artifacts served beside them."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import optuna

from searchspace.errors import DashboardError, LayerlabError
from studies._artifacts import SPEC_ATTR, UnionArtifactStore, artifact_store, default_artifact_dir
from studies.storage import open_storage, redact


def artifact_dirs(storage: optuna.storages.BaseStorage, storage_url: str) -> list[Path]:
    """The artifact directories recorded on the storage's layerlab studies (or the default one)."""
    dirs = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        recorded = (summary.user_attrs.get(SPEC_ATTR) or {}).get("artifact_dir")
        if recorded:
            dirs.append(Path(recorded))
    return list(dict.fromkeys(dirs)) or [default_artifact_dir(storage_url)]


def run_dashboard(
    storage_url: str, *, host: str = "127.0.0.1", port: int = 8080, artifact_dir: str | Path | None = None
) -> None:
    """Serve optuna-dashboard for every study in ``storage_url`` until interrupted.

    Binds ``127.0.0.1`` unless another ``host`` is asked for (the dashboard can edit and delete
    studies, so exposing it is a decision to make explicitly).
    """
    import optuna_dashboard

    from studies._options import check_options

    check_options(port=port)
    with socket.socket() as probe:  # a clear one-line error, before anything is opened or created
        try:
            probe.bind((host, port))
        except (OSError, OverflowError) as exc:
            raise DashboardError(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}); "
                                 "pick another --port") from None
    storage = open_storage(storage_url)
    wanted = [Path(artifact_dir)] if artifact_dir is not None else artifact_dirs(storage, storage_url)
    dirs = []
    for path in wanted:
        try:
            artifact_store(path)
            dirs.append(path)
        except OSError as exc:  # e.g. recorded on another machine: serve the rest
            print(f"warning: artifacts in {path} are not available here ({exc.strerror})", file=sys.stderr)
    store = None if not dirs else artifact_store(dirs[0]) if len(dirs) == 1 else UnionArtifactStore(dirs)
    shown = ", ".join(str(d) for d in dirs) or "none"
    print(f"optuna-dashboard for {redact(storage_url)} on http://{host}:{port}/ (artifacts: {shown}); "
          "Ctrl-C to stop", flush=True)
    optuna_dashboard.run_server(storage, host=host, port=port, artifact_store=store)
