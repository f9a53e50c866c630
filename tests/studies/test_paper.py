"""A paper's own report tables come from its preset's ``report`` key (studies._paper): a new paper
needs a preset, not an edit of the report code; a malformed layout is refused in one line."""

from __future__ import annotations

import pytest

from searchspace import Categorical, Space, Variants
from searchspace.errors import ConfigError
from studies import StudySpec
from studies._presets import paper_report
from studies._presets import load_preset
from tests.studies._util import assert_preset_refused
from tests.studies.analysis._synthetic import grid_study

MODELS = {"small": {"family": "seq"}, "wide": {"family": "fcl"}, "deep": {"family": "resnet"}}
SCORES = {("a", "small"): 0.9, ("a", "deep"): 0.8, ("b", "wide"): 0.7, ("b", "deep"): 0.95}
LAYOUT = {
    "best_per_dataset": {
        "title": "Best per dataset (made-up paper, Table 9)",
        "groups": {"Plain": ["seq", "fcl"], "Residual": ["resnet"]},
        "paragraphs": ["Winners among {groups}.", "Table 9 reports test accuracy."],
    }
}


def _study(report):
    study = grid_study({"dataset": ("a", "b"), "model": tuple(MODELS)}, lambda p: SCORES.get((p["dataset"], p["model"]), 0.5),
                       noise=0.001, extra_attrs=lambda p, r: {"config": {"dataset": p["dataset"], **MODELS[p["model"]]}})
    space = Space([Categorical("dataset", choices=("a", "b")), Variants("model", options=MODELS)])
    spec = StudySpec(space=space, name="made-up", repeats=3, report=report)
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    return study


def test_a_new_papers_table_and_text_come_from_its_spec():
    from studies.analysis._report import build_report
    from studies.analysis._text import format_summary

    report = build_report(_study(LAYOUT), n_bootstrap=0, evaluators=("ped_anova",), datasets="none")
    section = next(s for s in report.sections if s.title == "Best per dataset (made-up paper, Table 9)")
    assert section.paragraphs == ["Winners among Plain: families seq, fcl; Residual: families resnet.",
                                  "Table 9 reports test accuracy."]
    rows = report.data["best_per_dataset"].set_index("dataset")
    assert (rows.loc["a", "Plain best"], rows.loc["a", "Residual best"]) == ("small", "deep")
    assert (rows.loc["b", "Plain best"], rows.loc["b", "Residual best"]) == ("wide", "deep")
    assert "  b: Plain: wide (0.69" in format_summary(report) and "Residual: deep (0.94" in format_summary(report)
    page = report.to_html(plotly="cdn")
    assert "Table 9" in page and "seed 000" not in page and "Table 3" not in page
    # without the layout: no such table at all
    plain = build_report(_study(None), n_bootstrap=0, evaluators=("ped_anova",), datasets="none")
    assert "best_per_dataset" not in plain.data and not any(s.title.startswith("Best") for s in plain.sections)


def test_the_report_layout_is_reading_material_not_part_of_the_experiment():
    spec = load_preset("liu-medmnist")
    assert spec.report is not None and paper_report(spec)["best_per_dataset"].title.startswith("Best model per dataset")
    assert spec.replace(report=None).fingerprint() == spec.fingerprint()  # a relaunch with new text joins the study
    # a spec stored before specs carried the layout reads it from the built-in preset of its name
    assert paper_report(spec.replace(report=None)) == paper_report(spec)


GOOD = """\
name: mine
defaults: {family: seq, dataset: digits, epochs: 1}
space:
  layers: [Conv-FCL, BN-FCL]
"""
MALFORMED = [
    ("not-a-mapping", "report: [best_per_dataset]\n", ["'report' must be dict"]),
    ("unknown-layout", "report: {best_per_datset: {title: t, groups: {a: [seq]}}}\n",
     ["unknown report layout 'best_per_datset'", "valid: best_per_dataset"]),
    ("unknown-key", "report: {best_per_dataset: {title: t, groups: {a: [seq]}, titel: x}}\n",
     ["report.best_per_dataset: unknown key(s) titel", "valid:", "paragraphs"]),
    ("missing-title", "report: {best_per_dataset: {groups: {a: [seq]}}}\n", ["missing required key 'title'"]),
    ("bad-groups", "report: {best_per_dataset: {title: t, groups: {a: seq}}}\n", ["report.best_per_dataset.groups must map"]),
    ("wrong-type", "report: {best_per_dataset: {title: t, groups: {a: [seq]}, paragraphs: text}}\n",
     ["report.best_per_dataset.paragraphs must be list or tuple"]),
]


@pytest.mark.parametrize("label,text,fragments", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_report_layout_is_refused_naming_the_key(tmp_path, label, text, fragments):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD + text)
    assert_preset_refused(path, fragments)


def test_a_malformed_layout_in_python_fails_when_the_spec_is_made():
    with pytest.raises(ConfigError, match="unknown report layout 'table9'"):
        StudySpec(space=Space([Categorical("layers", choices=("Conv-FCL",))]), report={"table9": {}})
