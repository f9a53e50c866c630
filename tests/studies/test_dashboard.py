"""Trial artifacts in an Optuna artifact store, and optuna-dashboard serving them."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import download_artifact, get_all_artifact_meta
from optuna.trial import TrialState

from studies import Overrides, launch, load_preset, run_worker
from studies.engine._launch import create_or_resume
from studies._artifacts import artifact_store_for
from studies._artifacts import trial_files
from tests.studies._util import OPTIONS, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def finished_study(tiny_preset, tmp_path):
    """One tiny trial, run with the default artifact directory (next to the SQLite file)."""
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    spec = Overrides(values={"layers": "Conv-BN-PL-FCL-AL"}, repeats=1).apply(load_preset(str(tiny_preset)))
    study = launch(spec, storage=url, study_name="dash", progress=False, device="cpu")
    return url, study


def _artifacts(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, bytes]:
    store = artifact_store_for(study)
    out = {}
    for meta in get_all_artifact_meta(trial, storage=study._storage):
        with store.open_reader(meta.artifact_id) as reader:
            out[meta.filename] = reader.read()
    return out


def test_each_trial_uploads_its_config_metrics_confusion_and_curves(finished_study, tmp_path):
    url, study = finished_study
    assert study.user_attrs["layerlab"]["artifact_dir"] == str((tmp_path / "artifacts").resolve())
    (trial,) = study.trials
    files = _artifacts(study, trial)
    assert set(files) == {"trial.json", "confusion_matrix.csv", "history.csv"}
    summary = json.loads(files["trial.json"])
    attrs = trial.user_attrs
    assert summary["config"] == attrs["config"] and summary["seed"] == attrs["seed"] == 0
    assert summary["test_error"] == pytest.approx(100 * (1 - attrs["test_accuracy"]))
    assert summary["val_accuracy"] == trial.value and summary["params"] == attrs["params"]
    assert summary["worker"] == attrs["worker"]
    rows = list(csv.reader(io.StringIO(files["confusion_matrix.csv"].decode())))
    assert [[int(x) for x in row[1:]] for row in rows[1:]] == attrs["confusion"]
    history = list(csv.DictReader(io.StringIO(files["history.csv"].decode())))
    assert len(history) == len(attrs["history"]) == attrs["epochs_run"]
    assert float(history[0]["val_accuracy"]) == pytest.approx(attrs["history"][0]["val_accuracy"])
    # and through Optuna's own API, as any other tool would read them
    meta = next(m for m in get_all_artifact_meta(trial, storage=study._storage) if m.filename == "trial.json")
    download_artifact(artifact_store=artifact_store_for(study), artifact_id=meta.artifact_id, file_path=str(tmp_path / "t.json"))
    assert json.loads((tmp_path / "t.json").read_text()) == summary


def test_an_artifact_failure_never_fails_the_trial(tiny_preset, tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the artifact directory should be")
    spec = Overrides(values={"layers": "Conv-BN-PL-FCL-AL"}, repeats=1).apply(load_preset(str(tiny_preset)))
    create_or_resume(spec, url, "a", options=OPTIONS, artifact_dir=blocker / "sub")
    report = run_worker(url, "a", device="cpu", options=OPTIONS)
    assert report.completed == 1
    (trial,) = load(url, "a").trials
    assert trial.state == TrialState.COMPLETE and get_all_artifact_meta(trial, storage=load(url, "a")._storage) == []


def test_trial_files_only_include_what_the_trial_recorded():
    files = trial_files({"config": {"lr": 0.1}, "seed": 3, "fail_reason": "diverged"}, number=5)
    assert set(files) == {"trial.json"}
    assert json.loads(files["trial.json"]) == {"trial": 5, "config": {"lr": 0.1}, "seed": 3, "fail_reason": "diverged"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _listening_addresses(port: int) -> set[str]:
    """IPv4/IPv6 addresses with a socket in LISTEN state on ``port``, read from the kernel's
    /proc/net tables (no `ss` binary needed)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: TCP_LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    assert found, f"nothing listens on port {port}"
    return found


def test_dashboard_serves_the_study_and_its_artifacts_on_localhost(finished_study):
    url, study = finished_study
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "study", "dashboard", "--storage", url, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        status, body = 0, b""
        while time.monotonic() < deadline and proc.poll() is None:
            status, body = _get(f"{base}/api/studies")
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "dashboard did not answer"
        studies = json.loads(body)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["dash"]
        (trial,) = study.trials
        meta = next(m for m in get_all_artifact_meta(trial, storage=study._storage) if m.filename == "trial.json")
        status, body = _get(f"{base}/artifacts/{studies[0]['study_id']}/{trial._trial_id}/{meta.artifact_id}")
        assert status == 200 and json.loads(body)["config"] == trial.user_attrs["config"]
        assert _listening_addresses(port) == {"127.0.0.1"}  # bound to loopback only
    finally:
        proc.terminate()
        proc.wait(timeout=30)
