"""Per-epoch test accuracy in the report: drawn and tabulated, labelled as no selection metric."""

from __future__ import annotations

import pytest

from studies.analysis._report import build_report
from studies.analysis._collect import collect
from studies.analysis._epoch_test import NOT_SELECTION, best_test_over_epochs
from studies.analysis._leaderboard import leaderboard_table
from tests.studies.analysis._synthetic import grid_study

# test accuracy per epoch peaks at epoch 2 for config "a" (0.9) and at epoch 3 for "b" (0.7)
CURVES = {"a": [0.8, 0.9, 0.85], "b": [0.5, 0.6, 0.7]}


def _history(params, repeat, with_test=True):
    return {"history": [
        {"epoch": e + 1, "val_accuracy": 0.5, **({"test_accuracy": t, "test_loss": 1.0} if with_test else {})}
        for e, t in enumerate(CURVES[params["m"]])
    ]}


def _study(with_test=True):
    return grid_study({"m": ["a", "b"]}, lambda p: 0.8 if p["m"] == "a" else 0.6, repeats=2,
                      extra_attrs=lambda p, r: _history(p, r, with_test))


def test_best_test_over_epochs_is_the_per_run_maximum_and_labelled():
    study = _study()
    table = collect(study)
    frame = best_test_over_epochs(table, leaderboard_table(table)).set_index("config")
    column = f"best test accuracy over epochs ({NOT_SELECTION})"
    assert frame[column].to_dict() == pytest.approx({"m=a": 0.9, "m=b": 0.7})
    assert frame["at epoch (mean)"].to_dict() == {"m=a": 2.0, "m=b": 3.0}
    assert frame["final-epoch test accuracy"].to_dict() == pytest.approx({"m=a": 0.85, "m=b": 0.7})


def test_report_has_the_section_only_when_test_was_evaluated_per_epoch():
    report = build_report(_study(), n_bootstrap=0, datasets="none")
    titles = [s.title for s in report.sections]
    assert f"Test accuracy per epoch ({NOT_SELECTION})" in titles
    section = next(s for s in report.sections if s.title.startswith("Test accuracy per epoch"))
    assert section.figures and "never used for selection" in section.figures[0].layout.title.text
    assert "best_test_over_epochs" in report.data
    plain = build_report(_study(with_test=False), n_bootstrap=0, datasets="none")
    assert not any(s.title.startswith("Test accuracy per epoch") for s in plain.sections)
    assert "best_test_over_epochs" not in plain.data
