"""The report in a real browser (headless Chromium, installed by .ci/run): no console errors,
every plotly figure drew, nothing wider than the window at 1400 and 800 px, the confusion
dropdown clear of its title; a screenshot is saved as a test artifact
($LAYERLAB_TEST_ARTIFACTS, else the test's tmp directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studies.analysis import build_report, write_report
from tests.studies.analysis._browser import check_page, find_chromium, numeric_study, sample_study, screenshot

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
    assert result["scrollWidth"] <= result["innerWidth"], "the page scrolls sideways"


@pytest.mark.parametrize("width", [1400, 800])
def test_report_draws_every_figure_without_console_errors(tmp_path, width):
    page = write_report(build_report(sample_study(), n_bootstrap=10, datasets="none"), tmp_path / "report.html")
    result = check_page(page, width=width)
    _assert_clean(result, width)
    assert len(result["plots"]) >= 8  # leaderboard, ablation, importance, 2 Optuna, curves, 3 confusion
    assert any(p["menuTitleOverlap"] is False for p in result["plots"])  # the dropdown was found and measured
    shot = screenshot(page, _artifacts(tmp_path) / f"report-{width}px.png", width=width)
    assert shot.stat().st_size > 10_000


def test_optunas_slice_and_contour_draw_at_800_px(tmp_path):
    page = write_report(build_report(numeric_study(), n_bootstrap=0, datasets="none"), tmp_path / "numeric.html")
    result = check_page(page, width=800)
    _assert_clean(result, 800)
    titles = " ".join(p["title"] or "" for p in result["plots"])
    assert "Slice" in titles and "Contour" in titles
