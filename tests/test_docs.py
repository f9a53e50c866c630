"""The generated docs match the code, the README links resolve, and the preset cost estimate is
the one `space grid` prints."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import cli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import gen_cli  # noqa: E402


def test_docs_cli_md_and_the_preset_table_match_the_code(capsys):
    rc = gen_cli.main(["--check"])
    out = capsys.readouterr().out
    assert rc == 0, f"generated docs are stale; regenerate them with one command: `python docs/gen_cli.py`\n{out}"


def test_every_flag_of_the_parser_is_in_the_cli_reference():
    text = (ROOT / "docs" / "cli.md").read_text()
    for launch in ("--seed", "--data-dir", "--no-progress"):
        assert launch in text.split("### `study launch`")[1].split("###")[0]
    report = text.split("### `study report`")[1].split("###")[0]
    for flag in ("--alpha", "--test", "--bootstrap", "--no-upload", "--no-progress", "--plotly"):
        assert f"`{flag}`" in report


def test_links_in_the_readme_and_docs_point_at_files_that_exist():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith("http"):
                continue
            path = (page.parent / target).resolve()
            assert path.exists(), f"{page.name} links to missing {target}"


def test_the_readme_stays_short():
    # the first-hour issue's limit: what a newcomer reads; the rest belongs in docs/
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move detail into docs/"


def test_space_grid_prints_the_cost_estimate_of_the_presets_page(capsys):
    assert cli.main(["space", "grid", "--preset", "demo", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "estimated cost: 21 cells (7 configs x 3 repeats) x 12 epochs" in out and "one CPU core: about" in out
    table = (ROOT / "docs" / "presets.md").read_text().split(gen_cli.BEGIN)[1]
    row = next(line for line in table.splitlines() if line.startswith("| `demo` |"))
    cpu = re.search(r"one CPU core: (about [^;]+);", out).group(1)
    assert f"| {cpu} |" in row


@pytest.mark.parametrize("dataset, images", [("mnist", 60_000), ("mnist:hard2:128", 256), ("cifar10:easy2:all", 12_000),
                                             ("mnist:easy2:600:3", 1_200), ("nope", None)])
def test_training_images_per_epoch(dataset, images):
    from studies._estimate import train_images

    assert train_images(dataset) == images
