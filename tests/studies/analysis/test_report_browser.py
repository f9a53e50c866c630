"""The report in a real browser (headless Chromium, installed by .ci/run): no console errors,
every plotly figure drew, nothing wider than the window at 1400 and 800 px, the confusion
dropdown clear of its title, no overlapping tick labels, no title cut at the figure's edge, the
decision columns of every table on screen, no table wider than its box at 1400 px (folded ones
opened), no number in scientific notation split over two lines; on the grid sample and on a TPE
study whose labels are long sampled floats. Screenshots are saved as test artifacts
($LAYERLAB_TEST_ARTIFACTS, else the test's tmp directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studies.analysis._report import build_report, write_report
from tests.studies.analysis._browser import (check_page, find_chromium, numeric_study, sample_study, screenshot,
                                             tpe_study)

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium; "
                                                "here: apt-get install -y chromium) -- the real-browser report check did not run"),
]


def _artifacts(tmp_path: Path) -> Path:
    path = Path(os.environ.get("LAYERLAB_TEST_ARTIFACTS") or tmp_path / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _assert_clean(result: dict, width: int) -> None:
    assert result["plotlyLoaded"], "plotly.js did not load"
    assert result["errors"] == [], result["errors"]
    assert result["console"] == [], result["console"]  # not even a plotly warning
    assert result["plots"], "no plotly figure on the page"
    for plot in result["plots"]:
        assert plot["drawn"] and (plot["svgShapes"] > 0 or plot["canvases"] > 0), plot
        assert 0 < plot["box"]["width"] <= width, plot
        assert plot["menuTitleOverlap"] is not True, f"dropdown overlaps the title: {plot}"
        assert plot["tickOverlaps"] == [], f"overlapping tick labels in {plot['title']!r}: {plot['tickOverlaps'][:3]}"
        assert plot["cutTitles"] == [], f"title cut at the edge of {plot['title']!r}: {plot['cutTitles']}"
    for table in result["tables"]:
        if not table["folded"]:
            assert table["hiddenDecision"] == [], f"decision columns off-screen at {width} px: {table}"
    assert result["splitNumbers"] == [], f"numbers split over two lines: {result['splitNumbers']}"
    assert result["scrollWidth"] <= result["innerWidth"], "the page scrolls sideways"


def _assert_tables_fit(page: Path) -> None:
    """At 1400 px, with every fold opened, no table is wider than its box."""
    result = check_page(page, width=1400, open_details=True)
    wide = [t for t in result["tables"] if t["width"] > t["boxWidth"] + 1]
    assert result["tables"] and not wide, f"tables wider than the page at 1400 px: {wide}"


@pytest.mark.parametrize("width", [1400, 800])
def test_report_draws_every_figure_without_console_errors(tmp_path, width):
    page = write_report(build_report(sample_study(), n_bootstrap=10, datasets="none"), tmp_path / "report.html")
    result = check_page(page, width=width)
    _assert_clean(result, width)
    assert len(result["plots"]) >= 8  # leaderboard, ablation, importance, 2 Optuna, curves, 3 confusion
    assert any(p["menuTitleOverlap"] is False for p in result["plots"])  # the dropdown was found and measured
    shot = screenshot(page, _artifacts(tmp_path) / f"report-{width}px.png", width=width)
    assert shot.stat().st_size > 10_000
    if width == 1400:
        _assert_tables_fit(page)


def test_optunas_slice_and_contour_draw_at_800_px(tmp_path):
    page = write_report(build_report(numeric_study(), n_bootstrap=0, datasets="none"), tmp_path / "numeric.html")
    result = check_page(page, width=800)
    _assert_clean(result, 800)
    titles = " ".join(p["title"] or "" for p in result["plots"])
    assert "Slice" in titles and "Contour" in titles


def test_a_tpe_study_with_long_float_labels_reads_at_800_and_1400_px(tmp_path):
    report = build_report(tpe_study(), n_bootstrap=0, datasets="none")
    page = write_report(report, tmp_path / "tpe.html")
    for width in (800, 1400):
        result = check_page(page, width=width)
        _assert_clean(result, width)
        first = [t for t in result["tables"] if t["section"] == "Verdict: which choices mattered" and not t["folded"]]
        assert first and first[0]["decision"] == 5, first  # verdict, effect, interval, p (max-t), configs to decide
        titles = [p["title"] or "" for p in result["plots"]]
        assert titles[0].startswith("Effect of each choice") and "Mean over seed repeats" in titles[1]
        shot = screenshot(page, _artifacts(tmp_path) / f"report-tpe-{width}px.png", width=width)
        assert shot.stat().st_size > 10_000
    _assert_tables_fit(page)


def test_the_split_number_check_sees_a_wrapped_number_and_not_a_kept_one(tmp_path):
    """The checker itself: a number in scientific notation broken after its hyphen in a narrow
    paragraph is reported; the same number in the report's no-wrap span is not."""
    words = "a value of 1.78e-06 " * 12
    kept = words.replace("1.78e-06", "<span class='nw'>1.78e-06</span>")
    page = tmp_path / "split.html"
    page.write_text(f"<html><head></head><body><p style='width:4em;font:16px monospace'>{words}</p>"
                    f"<p style='width:4em;font:16px monospace'>{kept}</p>"
                    "<style>.nw{white-space:nowrap}</style></body></html>", encoding="utf-8")
    result = check_page(page, width=800)
    assert result["splitNumbers"], "a number broken over two lines went unseen"
    assert all(" in <p class=>" in entry for entry in result["splitNumbers"]), result["splitNumbers"]
