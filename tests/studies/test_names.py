"""A study name is a name, never a path (studies._names): a hostile new name is one line and
writes nothing; every path built from a name stays in the study's folders; a study made before
the rules, with such a name, still runs and reports without writing outside them."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

import cli
from studies.engine._launch import create_or_resume
from studies import load_preset, run_worker
from studies._artifacts import checkpoint_dir_of
from studies._names import MAX_NAME, check_study_name, name_problem, study_slug
from studies._spec import StudyError
from tests.studies._util import OPTIONS, assert_exactly_once, load, write_preset

HOSTILE = ["../../../X", "/tmp/absolute-X", "a\\b", "..", "a\nb", "\x1b[31mred", "x" * (MAX_NAME + 1), ""]
ONE_CELL = """\
name: one
sampler: grid
repeats: 1
defaults: {family: seq, dataset: digits, layers: Conv-PL-FCL-AL, channels: 4, fc_units: 8, epochs: 1}
space:
  lr: {type: categorical, choices: [0.01]}
"""


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_name_is_refused_in_one_line(name):
    assert name_problem(name) is not None
    with pytest.raises(StudyError) as caught:
        check_study_name(name)
    assert "\n" not in str(caught.value) and "is not valid" in str(caught.value)


@pytest.mark.parametrize("name", ["demo", "liu-lolo_2.b", "Ü-name", "a b", "x" * MAX_NAME])
def test_plain_names_are_accepted(name):
    check_study_name(name)


def test_a_slug_is_a_file_name_and_two_names_never_share_one():
    names = [*HOSTILE[:-1], "a/b", "a_b", "a:b", "demo", ".hidden", "-dash"]
    slugs = [study_slug(n) for n in names]
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert "/" not in slug and "\\" not in slug and slug not in (".", "..") and not slug.startswith((".", "-"))
        assert len(slug) <= 64 and slug.isprintable()
    assert study_slug("demo") == "demo"  # plain names keep their files where they were


@pytest.mark.parametrize("name", ["../../../X", "/tmp/absolute-X", "a\nb"])
def test_launch_with_a_hostile_name_writes_nothing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = write_preset(tmp_path, ONE_CELL, "one")
    before = sorted(tmp_path.rglob("*"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["study", "launch", "--preset", str(preset), "--storage", f"sqlite:///{tmp_path / 's.db'}",
                         "--study-name", name, "--device", "cpu", "--no-progress"])
    assert code == 2 and err.getvalue().count("\n") == 1 and "is not valid" in err.getvalue(), err.getvalue()
    assert sorted(tmp_path.rglob("*")) == before
    assert not Path("/tmp/absolute-X").exists()


@pytest.mark.slow
def test_a_study_made_before_the_rules_keeps_working_inside_its_folders(tmp_path, monkeypatch):
    """A study named '../../evil' as older versions made it (its checkpoint folder recorded as
    checkpoints/../../evil): it runs, checkpoints and reports inside the storage's folder."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    name, url = "../../evil", f"sqlite:///{work / 's.db'}"
    spec = load_preset(str(write_preset(work, ONE_CELL, "one")))
    with monkeypatch.context() as old:  # the old rules: any name, used as a path
        old.setattr("studies.engine._launch.check_new_name", lambda *a: None)
        old.setattr("studies.engine._launch.check_study_name", lambda *a: None)
        old.setattr("studies._artifacts.study_slug", lambda n: n)
        create_or_resume(spec, url, name, options=OPTIONS)
    study = load(url, name)
    assert study.user_attrs["layerlab"]["checkpoint_dir"].endswith("checkpoints/../../evil")  # the legacy record
    folder = checkpoint_dir_of(study)
    assert folder == work / "checkpoints" / study_slug(name)
    seen = []
    monkeypatch.setenv("LAYERLAB_CHECKPOINT_INTERVAL", "0")
    run_worker(url, name, device="cpu", options=OPTIONS, on_epoch=lambda s: seen.extend(folder.glob("*.pt")))
    assert seen, "the cell checkpointed into the slugged folder"
    assert_exactly_once(load(url, name), 1)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["study", "report", "--storage", url, "--study-name", name, "--bootstrap", "0",
                         "--plotly", "cdn", "--datasets", "none", "--no-progress"])
    assert code == 0
    assert (work / f"{study_slug(name)}-report.html").is_file()
    outside = [p for p in tmp_path.rglob("*") if work not in p.parents and p != work and p not in work.parents]
    assert not outside and not (tmp_path / "evil").exists(), outside
