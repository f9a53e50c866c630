"""`study report`, `study compare` and `study datasets` through cli.py: bad input is one line and
exit code 2 with nothing written; good input prints what the API computes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

import cli
from tests.studies.analysis._synthetic import grid_study

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('storage') / 'db.sqlite'}"
    grid_study({"layers": ("full", "no-BN", "no-PL")}, lambda p: {"full": 0.9, "no-BN": 0.8, "no-PL": 0.7}[p["layers"]],
               storage=url, name="small")
    grid_study({"layers": ("full", "no-BN", "no-PL")}, lambda p: {"full": 0.95, "no-BN": 0.7, "no-PL": 0.8}[p["layers"]],
               storage=url, name="full", rng_seed=1)
    grid_study({"model": ("VGG11", "VGG16")}, lambda p: 0.5, storage=url, name="vgg")
    # shares 2 configs with small
    grid_study({"layers": ("full", "no-BN", "no-Conv")}, lambda p: 0.5, storage=url, name="two")
    empty = optuna.create_study(study_name="empty", storage=url)
    empty.add_trial(optuna.trial.create_trial(params={"layers": "full"}, distributions={"layers": CategoricalDistribution(["full"])},
                                              state=optuna.trial.TrialState.FAIL))
    return url


BAD = [
    (["--study-name", "nope"], "error: no study named 'nope' in"),
    (["--study-name", "small", "--baseline", "layers=fulll"],
     "error: baseline layers=fulll matches no completed config of study 'small'; configs: layers=full, layers=no-BN, layers=no-PL"),
    (["--study-name", "small", "--baseline", "depth=3"], "error: baseline key(s) depth are not parameters of study 'small'"),
    (["--study-name", "empty"], "error: study 'empty' has no completed trials (1 fail); nothing to analyse"),
    (["--study-name", "small", "--compare-with", "two"],
     "error: studies 'small' and 'two' have only 2 shared configs (matched on layers); rank transfer needs 3 or more"),
]
BAD_COMPARE = [
    (["--study-name", "small", "--study-name", "vgg"], "error: studies 'small' and 'vgg' share no searched parameter to match configs on"),
    (["--study-name", "small", "--study-name", "nope"], "error: no study named 'nope' in"),
    (["--study-name", "small", "--study-name", "two"],
     "error: studies 'small' and 'two' have only 2 shared configs (matched on layers); rank transfer needs 3 or more"),
    (["--study-name", "small"], "error: study compare needs exactly two --study-name, got 1"),
    (["--study-name", "small", "--study-name", "full", "--where-a", "layers=full"],
     "error: studies 'small' and 'full' search only layers in common, and layers (--where-a/--where-b) takes it out"),
    (["--study-name", "small", "--study-name", "full", "--ignore", "layers"],
     "error: studies 'small' and 'full' search only layers in common, and layers (--ignore) takes it out"),
]


def _report_args(storage: str, out: Path) -> list[str]:
    return ["study", "report", "--storage", storage, "--out", str(out), "--bootstrap", "2"]


@pytest.mark.parametrize("args, fragment", BAD + [(["compare", *a], f) for a, f in BAD_COMPARE])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(storage, tmp_path, capsys, args, fragment):
    out = tmp_path / "r.html"
    argv = ["study", *args[:1], "--storage", storage, *args[1:]] if args[0] == "compare" else [*_report_args(storage, out), *args]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(fragment), captured.err
    artifacts = Path(storage.removeprefix("sqlite:///")).parent / "artifacts"
    assert captured.out == "" and not out.exists() and not artifacts.exists()


def test_an_unwritable_report_path_is_one_line_exit_2(storage, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "r.html"  # its folder cannot be made
    assert cli.main([*_report_args(storage, out), "--study-name", "small"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: cannot write the report to {out}: "), err
    assert err.endswith("pass --out with a path in a writable folder")
    artifacts = Path(storage.removeprefix("sqlite:///")).parent / "artifacts"
    assert not artifacts.exists()


@pytest.mark.slow  # a fresh interpreter; 30 s under load 8 on 2 cores
def test_a_real_process_exits_2_without_a_traceback(storage, tmp_path):
    args = [*_report_args(storage, tmp_path / "r.html"), "--study-name", "empty"]
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: study 'empty' has no completed trials (1 fail); nothing to analyse"


def test_compare_prints_tau_and_flips(storage, capsys):
    assert cli.main(["study", "compare", "--storage", storage, "--study-name", "small", "--study-name", "full", "--top-k", "1",
                     "--bootstrap", "100"]) == 0
    text = capsys.readouterr().out
    assert "3 shared configs (matched on layers)" in text
    assert "Kendall tau  +0.333" in text  # one of three pairs (no-BN vs no-PL) flips
    assert "1 of 3 pairs flip order" in text and "layers=no-BN vs layers=no-PL" in text
    # noise 0.01, gaps 0.1: every pair is settled in both studies, and the flip is a real disagreement
    assert "of the 3 pairs settled in both studies (of 3), 2/3 agree; concordance >= 0.14" in text
    assert "(settled in both: a real disagreement)" in text and "cost to decide: " in text
    assert "top-1 agreement 1/1; same best: True" in text
    assert cli.main(["study", "compare", "--storage", storage, "--study-name", "small", "--study-name", "full", "--json",
                     "--bootstrap", "50"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kendall_tau"] == pytest.approx(1 / 3) and len(data["flips"]) == 1


def test_report_text_summary_and_warning_free_upload(storage, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["study", "report", "--storage", storage, "--study-name", "small", "--bootstrap", "3",
                     "--baseline", "layers=full", "--artifact-dir", str(tmp_path / "art")]) == 0
    text = capsys.readouterr()
    assert "ablation vs layers=full (--baseline):" in text.out and "layers=no-BN: -0.1" in text.out
    assert (tmp_path / "small-report.html").exists() and "attached to the study as artifact" in text.out
    assert len(list((tmp_path / "art").iterdir())) == 1
    assert text.err == ""


def test_datasets_command(capsys):
    assert cli.main(["study", "datasets", "digits", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["digits"]["height"] == 8 and data["digits"]["label_entropy_bits"] == pytest.approx(3.3218, abs=1e-3)


def test_a_failed_upload_is_a_warning_and_the_report_still_exists(storage, tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    out = tmp_path / "r.html"
    assert cli.main([*_report_args(storage, out), "--study-name", "full", "--artifact-dir", str(blocker / "sub")]) == 0
    err = capsys.readouterr().err
    assert out.exists() and err.startswith("warning: report not attached to the study (")


def test_a_journal_storage_attaches_next_to_its_file_as_the_dashboard_looks(tmp_path, capsys):
    # behaviour change (issue 10 item 7): one default artifact directory (studies._artifacts), the
    # one workers and the dashboard use; a journal file gets <its dir>/artifacts like SQLite
    from studies.storage import open_storage

    url = f"journal:///{tmp_path / 'study.log'}"
    grid_study({"layers": ("a", "b")}, lambda p: 0.5, storage=open_storage(url, create=True), name="j")
    out = tmp_path / "r.html"
    assert cli.main(["study", "report", "--storage", url, "--study-name", "j", "--out", str(out), "--bootstrap", "0"]) == 0
    assert out.exists() and capsys.readouterr().err == ""
    assert any((tmp_path / "artifacts").iterdir())


def test_the_report_goes_to_the_artifact_dir_recorded_on_the_study(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    grid_study({"layers": ("a", "b")}, lambda p: 0.5, storage=url, name="rec")
    recorded = tmp_path / "elsewhere"
    # a launched study records its directory in its layerlab attribute (studies._artifacts.artifact_dir_of)
    monkeypatch.setattr("studies.analysis._publish.artifact_dir_of", lambda study: recorded)
    out = tmp_path / "r.html"
    assert cli.main(["study", "report", "--storage", url, "--study-name", "rec", "--out", str(out), "--bootstrap", "0"]) == 0
    assert any(recorded.iterdir()) and not (tmp_path / "artifacts").exists()


def test_margin_turns_quiet_rows_into_equivalence_verdicts(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    grid_study({"layers": ("a", "b")}, lambda p: 0.5, storage=url, name="eq", repeats=5, noise=0.001)
    assert cli.main(["study", "report", "--storage", url, "--study-name", "eq", "--json", "--bootstrap", "0",
                     "--baseline", "layers=a", "--margin", "0.05"]) == 0
    row = json.loads(capsys.readouterr().out)["ablation"]["rows"][0]
    assert row["verdict"] == "equivalent within +-0.05" and row["p_equivalence"] < 0.05
    assert cli.main(["study", "report", "--storage", url, "--study-name", "eq", "--json", "--bootstrap", "0",
                     "--margin", "-1"]) == 2
    assert "--margin -1 is out of range; valid: a finite number > 0" in capsys.readouterr().err  # studies._options


def test_a_journal_study_attaches_its_report_to_the_artifact_dir_recorded_at_launch(tmp_path, capsys):
    from studies._artifacts import SPEC_ATTR
    from studies.storage import open_storage

    url = f"journal:///{tmp_path / 'study.log'}"
    study = grid_study({"layers": ("a", "b")}, lambda p: 0.5, storage=open_storage(url, create=True), name="j")
    from searchspace import Categorical, Space
    from studies import StudySpec

    spec = StudySpec(space=Space([Categorical("layers", choices=("a", "b"))]), name="j", repeats=3)
    study.set_user_attr(SPEC_ATTR, {"spec": spec.to_dict(), "fingerprint": spec.fingerprint(),
                                    "artifact_dir": str(tmp_path / "recorded")})
    out = tmp_path / "r.html"
    assert cli.main(["study", "report", "--storage", url, "--study-name", "j", "--out", str(out), "--bootstrap", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and f"--artifact-dir {tmp_path / 'recorded'}" in captured.out
    assert len(list((tmp_path / "recorded").iterdir())) == 1
