"""The public surface is small, importable, and exactly what the README's Python API section and
docs/api.md list (tests/test_layers.py holds the rest: who may import what)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import objectives
import searchspace
import studies
from studies import to_json

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"studies": studies, "objectives": objectives, "searchspace": searchspace}


def readme_lists() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    lists = {}
    for match in re.finditer(r"^- `([a-z.]+)`: (.*?)(?=^- |\Z)", section, re.S | re.M):
        lists[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return lists


def api_doc_lists() -> dict[str, set[str]]:
    """docs/api.md: each package's section (``## `name` ...``) names its public names in backticks
    in the table rows under it."""
    text = (ROOT / "docs" / "api.md").read_text()
    lists = {}
    for match in re.finditer(r"^## `(\w+)`[^\n]*\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        rows = [line for line in match.group(2).splitlines() if line.startswith("|") and "---" not in line]
        lists[match.group(1)] = {name for row in rows[1:] for name in re.findall(r"`(\w+)`", row.split("|")[2])}
    return lists


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_readme_lists_exactly_the_public_names(package):
    listed = readme_lists().get(package)
    assert listed is not None, f"README's Python API section does not list {package}"
    exported = set(PACKAGES[package].__all__)
    listed -= {"searchspace"}  # "finer kinds in `searchspace.errors`" names the module, not a name
    assert listed == exported, f"only in README: {sorted(listed - exported)}; only in __all__: {sorted(exported - listed)}"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_docs_api_lists_exactly_the_public_names(package):
    listed = api_doc_lists().get(package)
    assert listed is not None, f"docs/api.md has no section for {package}"
    exported = set(PACKAGES[package].__all__)
    assert listed == exported, f"only in docs/api.md: {sorted(listed - exported)}; only in __all__: " \
                               f"{sorted(exported - listed)}"


def test_the_surface_hides_internals():
    for name in ("claim_waiting", "queue_slots", "queue_grid", "count_cells", "load_spec", "worker_commands",
                 "leaderboard_table", "create_or_resume", "open_storage", "jsonable", "failure_summary"):
        assert not hasattr(studies, name), name
    with pytest.raises(AttributeError, match="queue_slots"):
        studies.queue_slots  # noqa: B018
    for name in ("fit", "resolve_device", "trial_config", "valid_keys"):
        assert not hasattr(objectives, name), name
    for name in ("sample", "grid_size", "config_id", "parse_layers", "RegistryError"):
        assert not hasattr(searchspace, name), name


def test_reading_the_surface_imports_no_torch():
    # the names are served on first use: a command that only reads a study, or the CLI's first
    # error, must not pay for torch (~2 s)
    import subprocess
    import sys

    code = ("import sys, searchspace, objectives, studies; studies.StudySpec; studies.load_study; "
            "objectives.check_names; searchspace.LayerlabError; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_the_grid_listing_is_what_space_grid_prints(capsys):
    import cli
    from studies import describe_grid, load_preset

    listing = describe_grid(load_preset("demo"), limit=2)
    assert cli.main(["space", "grid", "--preset", "demo", "--limit", "2"]) == 0
    assert capsys.readouterr().out == listing.text() + "\n"
    assert cli.main(["space", "grid", "--preset", "demo", "--limit", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(to_json(listing.to_dict()))
    assert len(listing.to_dict()["configs"]) == 2 and listing.text().splitlines()[-1].lstrip().startswith("2  ")


def test_show_preset_is_the_file_as_written_with_its_grid(capsys):
    import cli
    from studies import show_preset
    from studies._presets import preset_path

    text = show_preset("demo")
    assert text.startswith(preset_path("demo").read_text().rstrip())
    assert text.splitlines()[-1].startswith("# grid: ") and text.splitlines()[-1].endswith(" trials")
    assert cli.main(["presets", "show", "demo"]) == 0
    assert capsys.readouterr().out == text + "\n"


def test_format_launch_is_what_study_launch_prints_and_the_launch_holds_the_signals(tmp_path, capsys, monkeypatch):
    import signal

    import cli
    from studies import format_launch, launch, load_preset, load_study
    from studies.engine._faults import interrupt

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'q.db'}"
    assert cli.main(["study", "launch", "--storage", url, "--study-name", "q", "--queue-only"]) == 0
    printed = capsys.readouterr().out
    summary = format_launch(load_study(url, "q"), load_preset("demo"), storage=url, queue_only=True)
    assert summary.error is None and printed == f"{summary.text}\n{summary.next_steps}\n"
    assert "study worker --storage" in summary.next_steps

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        launch(load_preset("demo"), storage=url, study_name="q", queue_only=True, progress=False)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # an API call leaves the handlers alone
        launch(load_preset("demo"), storage=url, study_name="q", queue_only=True, progress=False, handle_signals=True)
        assert signal.getsignal(signal.SIGTERM) is interrupt  # what `study launch` asks for
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_command_process_imports_no_torch_for_a_command_that_needs_none():
    # cli.run() = command_process() around main(): its start and its exit (the collector freeze,
    # closing storages) must not import torch for `presets list`
    import subprocess
    import sys

    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write(f\"torch={'torch' in sys.modules}\\n\"))\n"
            "sys.argv = ['cli.py', 'presets', 'list']\n"
            "import cli\n"
            "cli.run()\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout and out.stderr.strip().endswith("torch=False"), out.stderr
