"""`study aggregate` through cli.py: bad input is one line, exit code 2 and nothing written; good input
writes one self-contained HTML page (atomically) and prints the summary or the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cli
from tests.studies.analysis.test_aggregate import MEANS, OTHER, _accuracy_study


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    import optuna

    url = f"sqlite:///{tmp_path_factory.mktemp('storage') / 'db.sqlite'}"
    made = [_accuracy_study(MEANS, name="multi"), _accuracy_study(MEANS, name="flat", dataset="a"),
            _accuracy_study(MEANS, name="one-b", dataset="b", rng_seed=1),
            _accuracy_study(OTHER, name="other", dataset="c", models=("m4", "m5"))]
    for study in made:  # copied into the storage in one go each (a sqlite storage per trial is slow)
        optuna.copy_study(from_study_name=study.study_name, from_storage=study._storage, to_storage=url)
    return url


BAD = [
    (["--study-name", "flat"], "error: an aggregate needs at least 2 tasks, and study 'flat' is one task"),
    (["--study-name", "flat", "--study-name", "other"], "error: no config is in every task (2 tasks: flat, other)"),
    (["--study-name", "flat", "--study-name", "flat"], "error: study 'flat' is given more than once"),
    (["--study-name", "flat", "--study-name", "nope"], "error: no study named 'nope' in"),
    (["--study-name", "multi", "--baseline", "model=zzz"], "error: baseline model=zzz matches no shared config"),
    (["--study-name", "multi", "--over", "depth"], "error: study 'multi' does not search 'depth'"),
    (["--study-name", "multi", "--normalize", "minmax"], "error: argument --normalize: invalid choice: 'minmax'"),
    (["--study-name", "multi", "--bootstrap", "0"], "error: argument --bootstrap: '0' must be >= 1"),
]


@pytest.mark.parametrize("args, fragment", BAD)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(storage, tmp_path, capsys, args, fragment):
    out = tmp_path / "agg.html"
    try:
        code = cli.main(["study", "aggregate", "--storage", storage, "--out", str(out), *args])
    except SystemExit as exc:  # argparse's own refusals (a bad choice) exit from the parser
        code = exc.code
    assert code == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(fragment), captured.err
    assert captured.out == "" and list(tmp_path.iterdir()) == []


def test_one_study_over_its_datasets_writes_the_page_and_prints_the_summary(storage, tmp_path, capsys):
    out = tmp_path / "page" / "agg.html"
    assert cli.main(["study", "aggregate", "--storage", storage, "--study-name", "multi", "--out", str(out),
                     "--bootstrap", "200", "--plotly", "cdn"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("aggregate over the 3 values of dataset in study 'multi': 3 shared configs (matched on "
                           "model); score: validation objective, chance-normalised")
    assert "   1. " in text and "model=m3" in text.splitlines()[2] and text.rstrip().endswith(f"aggregate: {out}")
    page = out.read_text()
    for title in ("Aggregate over tasks: IQM", "Aggregate over tasks: probability of improvement",
                  "Aggregate over tasks: performance profile", "Aggregate over tasks: the tasks"):
        assert title in page
    assert page.count("class='figure'") == 3 and "cdn.plot.ly" in page
    assert [p.name for p in out.parent.iterdir()] == ["agg.html"]  # no temporary file left behind
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # created as open() would, not private like mkstemp


def test_several_studies_as_json_write_no_file_unless_asked(storage, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["study", "aggregate", "--storage", storage, "--study-name", "flat", "--study-name", "one-b",
                     "--baseline", "model=m1", "--bootstrap", "100", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["studies"] == ["flat", "one-b"] and data["reference"] == "model=m1"
    assert {row["config"] for row in data["improvement"]} == {"model=m2", "model=m3"}
    assert [t["chance"] for t in data["tasks"]] == [0.75, 0.75] and list(tmp_path.iterdir()) == []


def test_an_unwritable_page_is_one_line_exit_2(storage, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "agg.html"
    assert cli.main(["study", "aggregate", "--storage", storage, "--study-name", "multi", "--out", str(out),
                     "--bootstrap", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: cannot write the aggregate to {out}: "), err
