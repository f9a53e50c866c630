"""What the report prints on the terminal and how it ships plotly.js."""

from __future__ import annotations

import re

import pytest
from plotly.offline import get_plotlyjs

from searchspace.errors import AnalysisError
from studies.analysis._report import build_report, write_report
from studies.analysis._text import format_summary
from tests.studies.analysis._synthetic import grid_study

MEANS = {"full": 0.9, "no-BN": 0.8, "no-Conv": 0.5}


@pytest.fixture(scope="module")
def report():
    a = grid_study({"layers": tuple(MEANS)}, lambda p: MEANS[p["layers"]], name="cheap")
    b = grid_study({"layers": tuple(MEANS)}, lambda p: MEANS[p["layers"]] + 0.05, name="full", rng_seed=1)
    return build_report(a, compare_with=b, n_bootstrap=0, datasets="none", evaluators=("fanova",))


def test_the_terminal_summary_starts_with_the_verdict_and_has_the_rank_transfer(report):
    text = format_summary(report)
    lines = text.splitlines()
    assert lines[1].startswith("verdict: Mattered (2, against the baseline at alpha = 0.05): layers=no-Conv worse")
    assert "rank transfer 'cheap' -> 'full': 3 shared configs, Kendall tau +1.000" in text
    assert re.search(r"top-3 agreement 3/3; same best config: True; 0 of 3 pairs flip order", text)


def test_plotly_inline_by_default_cdn_on_request_and_nothing_written_for_a_bad_choice(report, tmp_path):
    inline = write_report(report, tmp_path / "inline.html").read_text()
    cdn = write_report(report, tmp_path / "cdn.html", plotly="cdn").read_text()
    assert get_plotlyjs()[:2000] in inline and "<script src='https://cdn.plot.ly" not in inline
    assert get_plotlyjs()[:2000] not in cdn and re.search(r"<script src='https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js'", cdn)
    assert len(cdn) < len(inline) - 3_000_000
    with pytest.raises(AnalysisError, match="plotly must be 'inline' or 'cdn', got 'web'"):
        write_report(report, tmp_path / "bad.html", plotly="web")
    assert not (tmp_path / "bad.html").exists()


def test_launch_prints_the_next_commands_for_its_storage_and_study(tmp_path, capsys, monkeypatch):
    import cli

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'runs' / 'x.db'}"
    assert cli.main(["study", "launch", "--storage", url, "--study-name", "mine", "--queue-only"]) == 0
    out = capsys.readouterr().out
    assert f"study worker --storage {url} --study-name mine" in out
    assert f"study report --storage {url} --study-name mine" in out and f"study dashboard --storage {url}" in out
    from studies._summary import next_steps

    hidden = next_steps("postgresql://me:secret@db/x", "demo")
    assert "secret" not in hidden and "password is hidden" in hidden
