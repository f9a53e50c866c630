"""Variance designs at the study level: --vary, the spec, resuming, bad inputs, an end-to-end run."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

import cli
from searchspace.errors import ConfigError, StudyError
from studies import Overrides, launch, load_preset
from studies.engine._launch import create_or_resume
from tests.test_bad_inputs import _snapshot


def test_a_spec_without_a_design_keeps_the_fingerprint_it_always_had():
    spec = load_preset("demo")
    assert "vary" not in spec.to_dict() and spec.fingerprint() == "f59aa49a5dfa31ff"  # before the designs existed
    varied = Overrides(vary="init,order").apply(spec)
    assert varied.to_dict()["vary"] == ["init", "order"] and varied.fingerprint() != spec.fingerprint()


def test_repeats_count_per_source_and_all_leaves_out_augment_when_nothing_augments():
    spec = Overrides(vary="all", repeats=4).apply(load_preset("demo"))  # demo: BaseSeq, no augmentation
    assert spec.vary == ("init", "order", "dropout", "split") and spec.repeats == 16
    assert spec.seed_design().per_source == 4 and spec.total_cells() == 7 * 16
    again = Overrides(repeats=5).apply(spec)  # --repeats on a design stays per source
    assert again.repeats == 20 and Overrides(vary="none").apply(spec).vary == ()
    with pytest.raises(ConfigError, match="no config of this study augments"):
        Overrides(vary="augment,init").apply(load_preset("demo")).validate()


def test_a_resumed_study_refuses_another_seeding_scheme(tiny_preset, sqlite_url):
    plain = load_preset(str(tiny_preset))
    create_or_resume(plain, sqlite_url, "s", check_data=False)
    with pytest.raises(StudyError, match=r"exists with a different spec .*vary: stored None, yours \['init'\]"):
        create_or_resume(Overrides(vary="init").apply(plain), sqlite_url, "s", check_data=False)


@pytest.mark.parametrize("args, fragment", [
    (["--vary", "init", "--repeats", "1"], "needs at least 2 repeats per source to estimate a variance, got 1"),
    (["--vary", "seeds"], "unknown source of variance 'seeds'"),
    (["--vary", "augment"], "--vary augment: no config of this study augments"),
    (["--vary", "init", "--race"], "--race adds repeats where verdicts are open"),
    (["--vary", "init", "--preset", "skip-layers", "--dataset", "digits"], "--vary needs the classify objective"),
])
def test_a_bad_design_is_one_line_exit_2_and_writes_nothing(args, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    code = cli.main(["study", "launch", "--storage", f"sqlite:///{tmp_path / 'x.db'}", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err
    assert _snapshot(tmp_path) == before


@pytest.mark.slow  # ~10 s: 12 one-epoch trials
def test_a_variance_study_records_each_runs_seeds_and_reports_its_sources(tiny_preset, sqlite_url):
    from studies.analysis._report import build_report
    from studies.analysis._variance import variance_sources

    spec = Overrides(vary="init,split", repeats=2).apply(load_preset(str(tiny_preset)))
    study = launch(spec, storage=sqlite_url, study_name="v", progress=False)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 3 * 4
    seeds = {t.user_attrs["repeat"]: t.user_attrs["seeds"] for t in trials}
    assert [seeds[r]["source"] for r in range(4)] == ["init", "init", "split", "split"]
    assert [seeds[r]["init"] for r in range(4)] == [1, 2, 0, 0] and [seeds[r]["split_seed"] for r in range(4)] == [42, 42, 43, 44]
    sizes = {r: t.user_attrs["data_sizes"] for t in trials for r in [t.user_attrs["repeat"]]}
    assert sizes[0] == sizes[2]  # another split of the same data: the same sizes, other images
    result = variance_sources(study)
    assert list(result.rows["source"]) == ["init", "split"] and (result.rows["df"] == 3).all()
    report = build_report(optuna.load_study(study_name="v", storage=sqlite_url), n_bootstrap=0)
    assert any(s.title == "Sources of variance" for s in report.sections)
    assert report.data["variance_sources"]["text"]["value"] == result.text()
