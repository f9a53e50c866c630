"""The public surface is small, importable, and exactly what the README's Python API section lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import searchspace.errors
import studies
import studies.analysis

README = Path(__file__).resolve().parents[2] / "README.md"
PACKAGES = {"studies": studies, "studies.analysis": studies.analysis, "searchspace.errors": searchspace.errors}


def readme_lists() -> dict[str, set[str]]:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    lists = {}
    for match in re.finditer(r"^- `([a-z.]+)`: (.*?)(?=^- |\Z)", section, re.S | re.M):
        lists[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return lists


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_readme_lists_exactly_the_public_names(package):
    listed = readme_lists().get(package)
    assert listed is not None, f"README's Python API section does not list {package}"
    exported = set(PACKAGES[package].__all__)
    assert listed == exported, f"only in README: {sorted(listed - exported)}; only in __all__: {sorted(exported - listed)}"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_public_name_resolves(package):
    module = PACKAGES[package]
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_studies_surface_is_small_and_hides_internals():
    assert len(studies.__all__) <= 21
    for name in ("claim_waiting", "queue_slots", "queue_grid", "count_cells", "load_spec", "worker_commands",
                 "leaderboard_table", "StudyError"):
        assert not hasattr(studies, name), name
    with pytest.raises(AttributeError, match="queue_slots"):
        studies.queue_slots  # noqa: B018


def test_analysis_surface_hides_internals():
    for name in ("jsonable", "report_artifact_dir", "rank_transfer_matrix", "StudyTable", "AnalysisError"):
        assert not hasattr(studies.analysis, name), name
