"""One importance answer: one evaluator and its own noise verdict; no share printed for a parameter
that verdict calls noise; the other evaluators behind a fold that says why they differ."""

from __future__ import annotations

import pandas as pd

from studies.analysis._report import build_report
from studies.analysis._importance import importance_with_ci
from studies.analysis._answer import WHY_OTHERS, answer_table, importance_answer
from studies.analysis._format import fmt_number
from tests.studies.analysis._synthetic import grid_study

LAYERS = {"full": 0.9, "no-BN": 0.85, "no-Conv": 0.6, "no-PL": 0.9}


def _study():
    # layers matters, lr (two values) does not
    return grid_study({"layers": tuple(LAYERS), "lr": (0.1, 0.01)}, lambda p: LAYERS[p["layers"]], repeats=3,
                      noise=0.01)


def test_the_answer_never_prints_a_share_its_noise_verdict_calls_noise():
    report = build_report(_study(), n_bootstrap=0, datasets="none")
    answer = report.data["importance_answer"]
    assert answer["evaluator"] == "anova" and answer["test"] == "F-test"  # a full grid
    assert answer["mattered"] == ["layers"] and answer["noise"] == ["lr"]
    section = next(s for s in report.sections if s.title == "Parameter importance")
    lead = " ".join(section.paragraphs)
    noise_share = report.data["importance_detail"]["by_evaluator"]["anova"]["lr"]["value"]
    assert "layers" in lead and "Not distinguishable from noise: lr" in lead
    assert f"lr {fmt_number(noise_share)}" not in lead
    table = section.tables[0].set_index("parameter")
    assert pd.isna(table.loc["lr", "importance"]) and table.loc["layers", "importance"] > 0.5
    assert table.loc["lr", "verdict"] == "not distinguishable from noise"
    assert table.loc["layers", "verdict"] == "above noise"
    # the other evaluators only behind the fold, which says why they differ
    (fold,) = section.folds
    assert fold.paragraphs[0] == WHY_OTHERS and "fanova" in fold.summary
    assert set(fold.tables[0]["evaluator"]) == {"fanova", "ped_anova", "mdi"}
    assert all("fanova" not in str(t.get("evaluator", "")) for t in section.tables)
    # and the figure shows only what the verdict lets stand
    (fig,) = section.figures
    assert list(fig.data[0].x) == ["layers"]
    # the terminal says the same
    from studies.analysis._text import format_summary

    text = format_summary(report)
    assert "importance: Parameters that matter beyond seed noise (partial omega-squared): layers" in text
    assert f"lr {fmt_number(noise_share)}" not in text


def test_a_grid_gets_the_anova_f_tests_and_a_sampled_study_the_permutation_null():
    study = grid_study({"layers": tuple(LAYERS)}, lambda p: LAYERS[p["layers"]], repeats=3, noise=0.01)
    answer = importance_answer(importance_with_ci(study, n_bootstrap=0))  # one factor: no permutation null at all
    assert answer["test"] == "F-test" and answer["mattered"] == ["layers"] and "F-test" in answer["method"]
    from tests.studies.analysis.test_choices import _random_study

    answer = importance_answer(importance_with_ci(_random_study(n_configs=30), n_bootstrap=0, evaluators=("anova",)))
    assert answer["test"] == "permutation" and "act" in answer["mattered"] and "wd" in answer["noise"]


def test_without_any_noise_verdict_the_shares_come_with_a_warning():
    imp = importance_with_ci(_study(), evaluators=("fanova",), n_bootstrap=0, permute=())
    answer = importance_answer(imp)
    assert answer["test"] == "none" and all(e["verdict"] == "no noise verdict" for e in answer["params"])
    assert "Without a noise verdict these shares may be noise." in answer["lines"][0]
    assert answer_table(answer)["importance"].notna().all()
