"""Leaderboard over repeats and the ablation table, on hand-built studies with known truth."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from scipy import stats

from searchspace.errors import AnalysisError
from studies.analysis._leaderboard import ablation_table, leaderboard_table
from studies.analysis._collect import collect
from studies.analysis._stats import holm, mean_ci
from tests.studies.analysis._synthetic import add_failed_and_pruned, grid_study

LAYERS = ("full", "no-BN", "no-Conv", "no-PL")


def test_leaderboard_groups_repeats_and_ranks_on_validation_not_test():
    means = {"full": 0.90, "no-BN": 0.80, "no-Conv": 0.50, "no-PL": 0.85}
    # test accuracy runs the other way round: ranking must still follow validation
    study = grid_study({"layers": LAYERS}, lambda p: means[p["layers"]], repeats=4, noise=0.01,
                       extra_attrs=lambda p, r: {"test_accuracy": 1.0 - means[p["layers"]]})
    board = leaderboard_table(study)
    assert list(board["label"]) == ["layers=full", "layers=no-PL", "layers=no-BN", "layers=no-Conv"]
    assert (board["n"] == 4).all()
    values = np.array([t.value for t in study.trials if t.params["layers"] == "no-BN"])
    row = board[board["label"] == "layers=no-BN"].iloc[0]
    assert row.val_mean == pytest.approx(values.mean())
    assert row.val_std == pytest.approx(values.std(ddof=1))
    # the t interval at the skew-guarded level 1 - 0.7 * 0.05 = 0.965 (docs/statistics.md)
    half = stats.t.ppf(0.9825, 3) * values.std(ddof=1) / 2
    assert (row.val_ci_low, row.val_ci_high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert row.ci_method == "t" and row.test_mean == pytest.approx(0.2)
    assert board.loc[0, "vs_best"] == "best" and board.iloc[-1]["vs_best"] == "worse"


def test_large_samples_keep_the_t_interval():
    # behaviour change (issue 10): BCa from n = 10 on covered only 89.6%; the guarded t stays honest
    x = np.random.default_rng(1).normal(0.5, 0.1, size=40)
    ci = mean_ci(x)
    half = stats.t.ppf(0.9825, 39) * x.std(ddof=1) / math.sqrt(40)
    assert ci.method == "t" and (ci.low, ci.high) == pytest.approx((x.mean() - half, x.mean() + half))
    assert mean_ci([0.3]).method == "none (n=1)" and math.isnan(mean_ci([0.3]).low)


def test_hand_made_study_without_layerlab_attrs_groups_by_params():
    study = grid_study({"layers": LAYERS[:2]}, lambda p: 0.5, repeats=3, layerlab_attrs=False)
    table = collect(study)
    assert table.grouping == "params" and table.pairing == "none"
    board = leaderboard_table(study)
    assert len(board) == 2 and (board["n"] == 3).all() and board["config_id"].isna().all()
    assert board["test_mean"].isna().all()  # no test_accuracy attribute: missing, not invented


def test_failed_and_pruned_trials_are_left_out_and_counted():
    study = grid_study({"layers": LAYERS[:2]}, lambda p: 0.5, repeats=2)
    add_failed_and_pruned(study, {"layers": "full"})
    table = collect(study)
    assert len(table.trials) == 4 and table.state_counts["FAIL"] == 1 and table.state_counts["PRUNED"] == 1
    assert any("1 fail" in n and "1 pruned" in n for n in table.notes)
    assert (leaderboard_table(study)["n"] == 2).all()


def test_a_difference_within_seed_noise_is_no_detectable_difference_and_a_clear_one_is_better():
    means = {"full": 0.80, "tiny-gain": 0.802, "big-gain": 0.90, "big-loss": 0.60}
    study = grid_study({"layers": tuple(means)}, lambda p: means[p["layers"]], repeats=5, noise=0.02, rng_seed=3)
    ablation = ablation_table(study, "layers=full")
    verdicts = dict(zip(ablation.rows["variant"], ablation.rows["verdict"]))
    assert verdicts == {
        "layers=tiny-gain": "no detectable difference",
        "layers=big-gain": "better",
        "layers=big-loss": "worse",
    }
    row = ablation.rows.set_index("variant").loc["layers=big-gain"]
    assert row.design == "paired" and row.n_pairs == 5 and row.delta_ci_low > 0
    assert row.p_adj >= row.p_value  # a simultaneous adjustment never lowers a p-value


def test_pairing_by_seed_detects_a_small_consistent_gain_hidden_by_shared_seed_noise():
    # each seed moves every config alike (SD 0.05); the variant gains 0.01 at every seed
    means = {"full": 0.80, "variant": 0.81}
    study = grid_study({"layers": tuple(means)}, lambda p: means[p["layers"]], repeats=6, noise=0.001, seed_effect=0.05, rng_seed=4)
    row = ablation_table(study, "layers=full").rows.iloc[0]
    assert row.design == "paired" and row.verdict == "better"
    unpaired = grid_study({"layers": tuple(means)}, lambda p: means[p["layers"]], repeats=6, noise=0.001,
                          seed_effect=0.05, rng_seed=4, layerlab_attrs=False)
    row = ablation_table(unpaired, "layers=full").rows.iloc[0]
    assert row.design == "unpaired" and row.verdict == "no detectable difference"


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, None, 0.5]
    # sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> monotone 0.09, 0.5*1=0.5
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, None, 0.5])
    assert holm([]) == []


def test_baseline_naming_one_parameter_compares_within_the_other_parameters():
    study = grid_study({"layers": ("full", "no-BN"), "optimizer": ("adam", "sgd")},
                       lambda p: 0.8 - 0.1 * (p["layers"] == "no-BN") - 0.3 * (p["optimizer"] == "sgd"), repeats=3, noise=0.005)
    rows = ablation_table(study, {"layers": "full"}).rows.set_index("variant")
    assert set(rows.index) == {"layers=no-BN, optimizer=adam", "layers=no-BN, optimizer=sgd"}
    assert rows.loc["layers=no-BN, optimizer=sgd", "baseline"] == "layers=full, optimizer=sgd"
    assert rows["delta"].to_numpy() == pytest.approx([-0.1, -0.1], abs=0.02)
    assert (rows["verdict"] == "worse").all()


def test_minimised_objectives_call_lower_better():
    study = grid_study({"layers": ("full", "other")}, lambda p: 1.0 if p["layers"] == "full" else 0.5, direction="minimize")
    assert ablation_table(study, "layers=full").rows.iloc[0].verdict == "better"
    assert leaderboard_table(study).loc[0, "label"] == "layers=other"


def test_single_repeat_gives_no_ci_and_no_test():
    study = grid_study({"layers": LAYERS[:3]}, lambda p: 0.5, repeats=1)
    board = leaderboard_table(study)
    assert board["val_ci_low"].isna().all() and (board["ci_method"] == "none (n=1)").all()
    rows = ablation_table(study, "layers=full").rows
    assert len(rows) and rows["p_value"].isna().all()
    assert all(v.startswith("not tested: too few runs") for v in rows["verdict"])


def test_default_baseline_is_the_best_config_when_none_is_given():
    study = grid_study({"layers": LAYERS}, lambda p: 0.9 if p["layers"] == "no-PL" else 0.5)
    ablation = ablation_table(study)
    assert ablation.baseline == {"layers": "no-PL"} and ablation.baseline_source.startswith("best config")


def test_wilcoxon_cannot_reject_with_three_pairs_but_the_t_test_can():
    study = grid_study({"layers": ("full", "better")}, lambda p: 0.5 + 0.2 * (p["layers"] == "better"), repeats=3, noise=0.01)
    assert ablation_table(study, "layers=full").rows.iloc[0].verdict == "better"
    row = ablation_table(study, "layers=full", test="wilcoxon").rows.iloc[0]
    assert row.test == "wilcoxon" and row.p_value == pytest.approx(0.25) and row.verdict == "no detectable difference"


@pytest.mark.parametrize(
    "baseline, fragment",
    [
        ("layers=fulll", "baseline layers=fulll matches no completed config of study 'synthetic'; configs: layers=full, layers=no-BN"),
        ("depth=3", "baseline key(s) depth are not parameters of study 'synthetic'; its parameters: layers"),
        ("layers", "malformed --baseline 'layers'"),
    ],
)
def test_bad_baselines_raise_one_line(baseline, fragment):
    study = grid_study({"layers": LAYERS[:2]}, lambda p: 0.5)
    with pytest.raises(AnalysisError) as info:
        ablation_table(study, baseline)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_study_without_completed_trials_is_refused():
    study = optuna.create_study(study_name="empty")
    study.add_trial(optuna.trial.create_trial(params={"x": "a"}, distributions={"x": CategoricalDistribution(["a"])},
                                              state=optuna.trial.TrialState.FAIL))
    with pytest.raises(AnalysisError, match="study 'empty' has no completed trials \\(1 fail\\)"):
        leaderboard_table(study)


def test_a_preset_baseline_that_does_not_apply_falls_back_to_the_best_config():
    from searchspace import Categorical, Space
    from searchspace._dims import Fixed
    from studies import StudySpec

    study = grid_study({"optimizer": ("adam", "sgd")}, lambda p: 0.9 if p["optimizer"] == "sgd" else 0.5)
    # `layers` was pinned with --set, so the preset's {layers: full} names no parameter any more
    spec = StudySpec(space=Space([Fixed("layers", value="full"), Categorical("optimizer", choices=("adam", "sgd"))]),
                     baseline={"layers": "full"})
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    ablation = ablation_table(study)
    assert ablation.baseline == {"optimizer": "sgd"}
    assert ablation.baseline_source == "best config (the preset's baseline layers=full is not among the completed configs)"
    with pytest.raises(AnalysisError, match="baseline key\\(s\\) layers are not parameters"):
        ablation_table(study, "layers=full")  # asked for explicitly: an error


def _two_run_study(values: dict[str, tuple[float, float]], *, accuracy: bool) -> optuna.Study:
    """Two seeded runs per config; with ``accuracy`` the trials record their value as
    val_accuracy, as layerlab's objective does (so the objective is known to lie in [0, 1])."""
    study = optuna.create_study(direction="maximize")
    dist = {"layers": CategoricalDistribution(list(values))}
    for layers, runs in values.items():
        for r, v in enumerate(runs):
            attrs = {"config_id": layers, "repeat": r, "seed": r, "test_accuracy": v}
            if accuracy:
                attrs["val_accuracy"] = v
            study.add_trial(optuna.trial.create_trial(params={"layers": layers}, distributions=dist, value=v, user_attrs=attrs))
    return study


def test_intervals_of_accuracies_stay_in_range_and_unbounded_objectives_keep_theirs():
    values = {"full": (0.99, 0.93), "worse": (0.01, 0.50)}
    board = leaderboard_table(_two_run_study(values, accuracy=True)).set_index("label")
    best = board.loc["layers=full"]
    # the raw (skew-guarded 96.5%) t interval with n=2 is 0.96 +- 0.54: it reaches past 1
    assert best.val_ci_high == 1.0 and best.test_ci_high == 1.0 and best.ci_clipped
    assert best.val_ci_low == pytest.approx(0.96 - stats.t.ppf(0.9825, 1) * np.std([0.99, 0.93], ddof=1) / math.sqrt(2))
    worse = board.loc["layers=worse"]
    assert worse.val_ci_low == 0.0 and worse.ci_clipped
    row = ablation_table(_two_run_study(values, accuracy=True), "layers=full").rows.iloc[0]
    assert (row.delta_ci_low, row.delta_ci_high) == (-1.0, 1.0) and row.ci_clipped  # a difference of accuracies
    # a hand-made objective with no known range: the interval is left as computed
    free = leaderboard_table(_two_run_study(values, accuracy=False)).set_index("label").loc["layers=full"]
    assert free.val_ci_high > 1.2 and free.test_ci_high == 1.0  # test accuracy is an accuracy either way
    assert mean_ci([0.99, 0.86]).high > 1 and not mean_ci([0.99, 0.86]).clipped


def test_a_large_drop_at_three_repeats_is_called_worse_and_every_interval_agrees_with_its_verdict():
    # the demo's shape: 7 configs, 3 seeds, one variant 23 points worse with 3x the others' noise
    means = {"full": 0.976, "a": 0.976, "b": 0.974, "c": 0.974, "d": 0.973, "e": 0.973, "no-conv": 0.75}
    study = grid_study({"layers": tuple(means)}, lambda p: means[p["layers"]], repeats=3, noise=0.004, rng_seed=11)
    ablation = ablation_table(study, "layers=full")
    rows = ablation.rows.set_index("variant")
    assert rows.loc["layers=no-conv", "verdict"] == "worse"
    assert ablation.correction.startswith("Dunnett")
    for _, row in ablation.rows.iterrows():
        significant = row.verdict in ("better", "worse")
        excludes_zero = row.delta_ci_low > 0 or row.delta_ci_high < 0
        assert significant == excludes_zero, row.variant
        # the unadjusted interval is the narrower one, kept in its own labelled columns
        assert row.delta_ci_low <= row.delta_ci_low_unadjusted <= row.delta_ci_high_unadjusted <= row.delta_ci_high
    board = leaderboard_table(study).set_index("label")
    assert board.loc["layers=no-conv", "vs_best"] == "worse"


def test_a_note_explains_when_vs_best_and_the_ablation_answer_differently():
    from studies.analysis._sections import questions_note

    # the baseline is mediocre: 'top' beats it and is the best; 'low' is behind the best but not the baseline
    means = {"base": 0.80, "top": 0.86, "low": 0.795}
    study = grid_study({"layers": tuple(means)}, lambda p: means[p["layers"]], repeats=5, noise=0.004, rng_seed=2)
    board, ablation = leaderboard_table(study), ablation_table(study, "layers=base")
    verdicts = dict(zip(ablation.rows["variant"], ablation.rows["verdict"]))
    assert dict(zip(board["label"], board["vs_best"]))["layers=low"] == "worse"
    assert verdicts["layers=low"] == "no detectable difference"
    (note,) = questions_note(board, ablation)
    assert "layers=low" in note and "Tukey" in note and "Dunnett" in note and "layers=top" not in note
