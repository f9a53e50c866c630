"""Sources of variance (studies.analysis._variance): the ANOVA, the intervals, the study path."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from searchspace.errors import AnalysisError
from studies.analysis._variance import variance_sources
from studies.analysis._variance import components, pooled_variance, share_intervals, variance_section
from tests.studies.analysis._synthetic import grid_study

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from calib_variance import simulated_study  # noqa: E402  (the calibration's own study layout)


def test_the_pooled_variance_is_statsmodels_one_way_anova_residual():
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(0)
    groups = [rng.normal(m, 1.0, n) for m, n in ((0, 3), (5, 4), (-2, 6))]  # unbalanced on purpose
    frame = pd.DataFrame({"y": np.concatenate(groups), "config": np.repeat(["a", "b", "c"], [3, 4, 6])})
    fit = smf.ols("y ~ C(config)", frame).fit()
    ms, df = pooled_variance(groups)
    assert df == fit.df_resid == 10 and ms == pytest.approx(fit.mse_resid, rel=1e-12)


def test_two_sources_give_the_exact_f_interval_of_the_variance_ratio():
    ms, df = np.array([2.0, 0.5]), np.array([8.0, 12.0])
    _, low, high = share_intervals(ms, df, n_draws=400_000, rng=np.random.default_rng(1))
    ratio = ms[0] / ms[1]
    f_low, f_high = ratio / stats.f.ppf(0.975, 8, 12), ratio / stats.f.ppf(0.025, 8, 12)
    assert low[0] == pytest.approx(f_low / (1 + f_low), abs=0.004)
    assert high[0] == pytest.approx(f_high / (1 + f_high), abs=0.004)


def test_heavy_tails_lower_the_effective_degrees_of_freedom_normal_runs_keep_them():
    rng = np.random.default_rng(2)
    normal = components({s: [rng.normal(0, 1, 10) for _ in range(3)] for s in ("init", "order")})
    heavy = components({s: [rng.standard_t(3, 10) for _ in range(3)] for s in ("init", "order")})
    assert (normal.df == 27).all() and (normal.df_eff > 20).all()
    assert heavy.kurtosis > 1 and (heavy.df_eff < 0.8 * heavy.df).all()


def test_a_variance_study_reads_its_blocks_and_says_which_source_changed_nothing():
    rng = np.random.default_rng(3)
    blocks = {"init": [rng.normal(c, 0.1, 4) for c in range(3)], "order": [rng.normal(c, 0.02, 4) for c in range(3)],
              "dropout": [np.full(4, float(c)) for c in range(3)]}
    result = variance_sources(simulated_study(blocks))
    rows = result.rows.set_index("source")
    assert list(rows.index) == ["init", "order", "dropout"] and (rows["runs"] == 12).all() and (rows["df"] == 9).all()
    assert rows.loc["init", "val_share"] > 0.9 and rows.loc["dropout", "val_share"] == 0
    assert bool(rows.loc["dropout", "identical"]) and not bool(rows.loc["init", "identical"])
    assert rows.loc["init", "val_share_ci_low"] < rows.loc["init", "val_share"] < rows.loc["init", "val_share_ci_high"]
    assert result.text().startswith("init 9") and ", dropout masks 0% [0, 0]" in result.text()
    assert any("dropout masks: every run of a config scored the same" in n for n in result.notes)
    data, section = variance_section(simulated_study(blocks))
    assert section.title == "Sources of variance" and data["text"]["value"] == result.text()


def test_the_joint_block_gives_the_ratio_of_the_summed_sources_to_it():
    rng = np.random.default_rng(4)
    blocks = {"init": [rng.normal(c, 1.0, 8) for c in range(3)], "order": [rng.normal(c, 1.0, 8) for c in range(3)],
              "joint": [rng.normal(c, 1.0, 8) for c in range(3)]}  # overlapping sources: sum / joint near 2
    joint = variance_sources(simulated_study(blocks)).joint
    assert joint["runs"] == 24 and joint["val_sum_over_joint_ci_low"] < joint["val_sum_over_joint"]
    assert 1.0 < joint["val_sum_over_joint"] < joint["val_sum_over_joint_ci_high"]


def test_a_study_without_a_design_is_one_clear_error_and_no_report_section():
    study = grid_study({"lr": [0.1, 0.01]}, lambda p: 0.9)
    with pytest.raises(AnalysisError, match="has no variance design .* launch one with --vary"):
        variance_sources(study)
    assert variance_section(study) is None
