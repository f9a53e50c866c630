"""What the CLI printed and did by itself is now in the API: saving and attaching a report, the
compare and datasets text, the failure summary."""

from __future__ import annotations

import pytest

from studies._results import failure_summary
from studies.analysis._report import build_report
from studies.analysis._transfer import compare_studies
from studies.analysis._text import format_comparison, format_datasets
from studies.analysis._publish import save_report
from tests.studies.analysis._synthetic import add_failed_and_pruned, grid_study

MEANS = {"full": 0.9, "no-BN": 0.8, "no-Conv": 0.5}


@pytest.fixture(scope="module")
def study():
    return grid_study({"layers": tuple(MEANS)}, lambda p: MEANS[p["layers"]], name="cheap", storage="sqlite:///:memory:")


@pytest.fixture(scope="module")
def report(study):
    return build_report(study, n_bootstrap=0, datasets="none", evaluators=("fanova",))


def test_save_report_writes_and_attaches_it_as_an_artifact(study, report, tmp_path):
    warned = []
    path = save_report(report, tmp_path / "r.html", study, artifact_dir=tmp_path / "artifacts", plotly="cdn", warn=warned.append)
    assert "<html" in path.read_text(encoding="utf-8").lower()
    assert not warned
    assert report.data["report_path"] == str(path)
    artifact = report.data["artifact"]
    assert artifact["dir"] == str(tmp_path / "artifacts") and (tmp_path / "artifacts" / artifact["id"]).is_file()


def test_save_report_without_an_artifact_directory_warns_and_still_writes(study, tmp_path):
    report = build_report(study, n_bootstrap=0, datasets="none", evaluators=("fanova",))
    with pytest.warns(UserWarning, match="pass --artifact-dir for a non-SQLite storage"):
        path = save_report(report, tmp_path / "r.html", study, plotly="cdn")
    assert path.is_file() and "artifact" not in report.data
    warned = []
    save_report(report, tmp_path / "s.html", study, upload=False, plotly="cdn", warn=warned.append)
    assert warned == [] and "artifact" not in report.data


def test_save_report_turns_a_failed_upload_into_a_warning(study, report, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    warned = []
    save_report(report, tmp_path / "r.html", study, artifact_dir=blocker, plotly="cdn", warn=warned.append)
    assert len(warned) == 1 and warned[0].startswith("report not attached to the study (")


def test_failure_summary_names_the_commonest_reason_and_is_empty_without_failures():
    study = grid_study({"layers": ("a", "b")}, lambda p: 0.5, repeats=1)
    assert failure_summary(study) == ""
    add_failed_and_pruned(study, {"layers": "a"})
    assert failure_summary(study) == "not in the leaderboard: 1 trial(s) failed (most often: boom x1); 1 trial(s) pruned"


def test_format_comparison_and_format_datasets_render_the_cli_text():
    a = grid_study({"layers": tuple(MEANS)}, lambda p: MEANS[p["layers"]], name="a")
    b = grid_study({"layers": tuple(MEANS)}, lambda p: MEANS[p["layers"]] + 0.05, name="b", rng_seed=1)
    text = format_comparison(compare_studies(a, b, n_bootstrap=0))
    lines = text.splitlines()
    assert lines[0].startswith("3 shared configs (matched on layers); metric: mean ")
    assert lines[1].startswith("of the ") and " pairs settled in both studies (of 3), " in lines[1]
    assert lines[2].startswith("Kendall tau  +1.000") and "top-3 agreement 3/3; same best: True" in text
    assert any(line.startswith("cost to decide: ") for line in lines)
    assert "0 of 3 pairs flip order" in text
    info = {"toy": {"height": 8, "width": 8, "channels": 1, "images": 100, "num_classes": 10, "imbalance_ratio": 1.5,
                    "label_entropy_bits": 3.2, "intensity_entropy_bits_mean": 4.25}}
    table = format_datasets(info).splitlines()
    assert table[0].split() == ["dataset", "images", "size", "K", "imbal.", "H(label)", "H(pixels)"]
    assert table[1].split() == ["toy", "100", "8x8x1", "10", "1.50", "3.200", "4.250"]
    assert table[2].startswith("H(label): Shannon entropy")
