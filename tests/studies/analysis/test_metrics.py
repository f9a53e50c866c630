"""Objective-specific metrics (``report_attrs``) in the leaderboard and the report, and the
within-trial paired comparisons (seed 003: CNN-3 vs CNN-1), on hand-built studies."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from scipy import stats

from objectives._objective import ClassifyObjective
from searchspace import Categorical, Space
from searchspace._dims import Fixed
from studies import StudySpec
from studies.analysis._report import build_report
from studies.analysis._leaderboard import leaderboard_table
from studies.analysis._metrics import objective_metrics

# per config: (cnn1 test accuracy per repeat, cnn3 minus cnn1 per repeat, skip fraction)
SKIP_RUNS = {
    5: ((0.95, 0.93, 0.94), (-0.05, -0.04, -0.06), 0.30),  # CNN-3 clearly lower
    10: ((0.90, 0.92, 0.91), (0.01, -0.012, 0.002), 0.50),  # within noise
    20: ((0.80,), (0.02,), 0.60),  # one run: not testable
}


def _spec(objective: str, choices) -> dict:
    space = Space([Fixed("dataset", value="digits"), Categorical("skip_top", choices=choices)])
    spec = StudySpec(space=space, name="skip-layers", objective=objective, repeats=3)
    return {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()}


def skip_study(storage: str | None = None) -> optuna.Study:
    study = optuna.create_study(study_name="skip", storage=storage, direction="maximize")
    study.set_user_attr("layerlab", _spec("skip_layers", tuple(SKIP_RUNS)))
    dist = {"skip_top": CategoricalDistribution(list(SKIP_RUNS))}
    for top, (cnn1, gains, skip) in SKIP_RUNS.items():
        for r, (acc1, gain) in enumerate(zip(cnn1, gains)):
            attrs = {
                "config_id": f"top{top}", "repeat": r, "seed": r, "val_accuracy": acc1 + gain,
                "test_accuracy": acc1 + gain, "cnn1_test_accuracy": acc1, "cnn3_test_accuracy": acc1 + gain,
                "cnn1_val_accuracy": acc1, "cnn3_val_accuracy": acc1 + gain,
                "router_test_accuracy": 0.7, "router_test_balanced_accuracy": 0.5, "router_val_accuracy": None,
                "skip_fraction": skip + 0.01 * r, "cnn1_ms_per_image": 1.0 + 0.1 * r, "cnn3_ms_per_image": 0.6 + 0.1 * r,
            }
            study.add_trial(optuna.trial.create_trial(params={"skip_top": top}, distributions=dist, value=acc1 + gain, user_attrs=attrs))
    return study


def test_leaderboard_rows_carry_the_objectives_metrics_per_config():
    board = leaderboard_table(skip_study()).set_index("label")
    extra = board.loc["skip_top=5", "extra"]
    assert "router_val_accuracy" not in extra  # recorded as None on every trial: left out, not invented
    cnn1 = np.array(SKIP_RUNS[5][0])
    assert extra["cnn1_test_accuracy"]["mean"] == pytest.approx(cnn1.mean())
    assert extra["cnn1_test_accuracy"]["std"] == pytest.approx(cnn1.std(ddof=1))
    half = stats.t.ppf(0.9825, 2) * cnn1.std(ddof=1) / math.sqrt(3)  # the skew-guarded 96.5% t (docs/statistics.md)
    assert extra["cnn1_test_accuracy"]["ci_high"] == pytest.approx(cnn1.mean() + half)
    assert extra["skip_fraction"]["mean"] == pytest.approx(0.31) and extra["skip_fraction"]["n"] == 3
    single = board.loc["skip_top=20", "extra"]["cnn3_test_accuracy"]
    assert single["n"] == 1 and single["mean"] == pytest.approx(0.82) and math.isnan(single["ci_low"])


def test_cnn3_vs_cnn1_is_paired_within_trials_with_a_p_value_and_too_few_runs_says_so():
    result = objective_metrics(skip_study())
    assert result["objective"] == "skip_layers" and "skip_fraction" in result["attrs"]
    rows = result["pairs"]
    test_rows = rows[rows["metric"] == "cnn3_test_accuracy"].set_index("config")
    assert set(test_rows["versus"]) == {"cnn1_test_accuracy"}
    cnn1 = np.array(SKIP_RUNS[5][0])
    expected = stats.ttest_rel(cnn1 + np.array(SKIP_RUNS[5][1]), cnn1)
    row = test_rows.loc["skip_top=5"]
    assert row.delta == pytest.approx(-0.05) and row.p_value == pytest.approx(expected.pvalue)
    assert row.delta_ci_high < 0 and row.verdict == "lower" and row.n_pairs == 3
    assert test_rows.loc["skip_top=10", "verdict"] == "no detectable difference"
    assert test_rows.loc["skip_top=20", "verdict"] == "not tested: too few runs (n=1)"
    assert test_rows.loc["skip_top=20", "delta"] == pytest.approx(0.02)
    # Holm over the two tested configs of this pair (not over every pair and config)
    assert row.p_holm == pytest.approx(min(1.0, 2 * row.p_value))  # the smaller of 2 p-values: times 2
    ms = rows[rows["metric"] == "cnn3_ms_per_image"].set_index("config")
    # every run is exactly 0.4 ms faster: zero spread, so the exact sign-flip test (issue 10: never
    # p = 0), whose smallest p with 3 pairs is 0.25 -- 3 runs cannot establish even a constant shift
    assert ms.loc["skip_top=5", "delta"] == pytest.approx(-0.4) and ms.loc["skip_top=5", "p_value"] == pytest.approx(0.25)
    assert ms.loc["skip_top=5", "verdict"] == "no detectable difference"


def test_report_shows_the_objective_metrics_in_html_and_json(tmp_path):
    report = build_report(skip_study(), n_bootstrap=0, datasets="none")
    data = json.loads(report.to_json())
    assert data["leaderboard"][0]["extra"]["cnn3_test_accuracy"]["mean"] is not None
    pairs = data["objective_metrics"]["pairs"]
    assert {(p["config"], p["verdict"]) for p in pairs if p["metric"] == "cnn3_test_accuracy"} == {
        ("skip_top=5", "lower"), ("skip_top=10", "no detectable difference"), ("skip_top=20", "not tested: too few runs (n=1)")
    }
    page = report.to_html()
    assert "<h2>Objective metrics (skip_layers)</h2>" in page
    assert "cnn3_test_accuracy vs cnn1_test_accuracy" in page and "skip_fraction" in page
    assert "not tested: too few runs (n=1)" in page


def test_any_objective_declaring_report_attrs_and_pairs_gets_them(monkeypatch):
    from objectives import _objective

    class Toy(ClassifyObjective):
        report_attrs = ("student_accuracy", "teacher_accuracy")
        report_pairs = (("student_accuracy", "teacher_accuracy"),)

    monkeypatch.setitem(_objective._OBJECTIVES, "toy", Toy)
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("layerlab", _spec("toy", ("a", "b")))
    dist = {"skip_top": CategoricalDistribution(["a", "b"])}
    for top in ("a", "b"):
        for r in range(3):
            study.add_trial(optuna.trial.create_trial(
                params={"skip_top": top}, distributions=dist, value=0.5,
                user_attrs={"config_id": top, "seed": r, "student_accuracy": 0.5 + 0.01 * r, "teacher_accuracy": 0.6 + 0.01 * r}))
    board = leaderboard_table(study)
    assert set(board.loc[0, "extra"]) == {"student_accuracy", "teacher_accuracy"}
    rows = objective_metrics(study)["pairs"]
    # a constant shift on 3 seeds: the sign-flip test (p = 0.25), not the former p = 0 (issue 10)
    assert list(rows["verdict"]) == ["no detectable difference"] * 2 and rows["delta"].to_numpy() == pytest.approx([-0.1, -0.1])
    assert rows["p_value"].to_numpy() == pytest.approx([0.25, 0.25])
    # the plain classify objective declares nothing: no extra columns, no section
    plain = optuna.create_study(direction="maximize")
    plain.set_user_attr("layerlab", _spec("classify", ("a", "b")))
    for t in study.trials:
        plain.add_trial(t)
    assert all(e == {} for e in leaderboard_table(plain)["extra"])
    assert "objective_metrics" not in build_report(plain, n_bootstrap=0, datasets="none").data
