"""Importance with bootstrap CIs and the variance split, on studies with known truth."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from scipy import stats

from studies.analysis._importance import importance_with_ci, variance_split
from studies.analysis._stats import variance_components
from studies.analysis._importance import _importances
from tests.studies.analysis._synthetic import ORDERS, conditional_study, grid_study

NOISE_PARAMS = {"lr": (0.1, 0.01), "act": ("relu", "tanh")}


def ordering_study(**kwargs):
    """Only the ordering changes the value (0.05 per step); lr and act are pure noise."""
    return grid_study({"order": ORDERS, **NOISE_PARAMS}, lambda p: 0.5 + 0.05 * ORDERS.index(p["order"]), **kwargs)


def test_only_the_ordering_matters_so_it_ranks_first_with_a_ci_clear_of_zero_and_of_the_rest():
    result = importance_with_ci(ordering_study(repeats=3, noise=0.01), evaluators=("fanova",), n_bootstrap=15, n_trees=8,
                                n_permutations=0)
    fanova = result["by_evaluator"]["fanova"]
    assert list(fanova)[0] == "order"
    order = fanova["order"]
    assert order["ci_low"] > 0 and order["ci_low"] <= order["value"] <= order["ci_high"]
    assert all(order["ci_low"] > fanova[p]["ci_high"] for p in NOISE_PARAMS)
    assert result["evaluated"] == ["order", "lr", "act"] and result["left_out"] == {}
    assert result["bootstrap"]["replicates"] == 15
    assert result["bootstrap"]["resampling"].startswith("seeds drawn with replacement, jointly across configs")


@pytest.mark.parametrize("evaluator", ["anova", "fanova", "ped_anova", "mdi"])
def test_every_evaluator_ranks_the_ordering_first(evaluator):
    result = importance_with_ci(ordering_study(repeats=2, noise=0.01), evaluators=(evaluator,), n_bootstrap=3, n_trees=8,
                                n_permutations=0)
    res = result["by_evaluator"][evaluator]
    assert max(res, key=lambda p: res[p]["value"]) == "order"


def test_importances_keep_their_names_when_params_are_not_in_alphabetical_order():
    # Optuna 5.0's MDI labels its result in the given order after sorting internally; we sort.
    study = ordering_study(repeats=2)
    for name in ("mdi", "fanova"):
        out = _importances(study.trials, "maximize", name, ["order", "lr", "act"], 0, 16)
        assert max(out, key=out.get) == "order"


def test_conditional_and_constant_parameters_are_reported_not_dropped():
    study = conditional_study()
    result = importance_with_ci(study, n_bootstrap=3, n_permutations=0)
    assert result["evaluated"] == ["optimizer", "lr"]
    n = len(study.trials)
    assert result["left_out"] == {"momentum": f"conditional: present in 12/{n} completed trials"}
    entry = result["conditional"]["momentum"]
    assert entry["ped_anova"] is not None and "momentum" in result["by_evaluator"]["ped_anova"]
    within = entry["fanova_within_active"]
    assert max(within, key=within.get) == "momentum"  # within sgd runs, momentum is what matters
    assert "momentum" not in result["by_evaluator"]["fanova"]
    # the headline (the ANOVA) never shows it, nor does it when PED-ANOVA, which evaluates it, heads
    assert "momentum" not in result["headline"]["params"] and result["headline"]["evaluator"] == "anova"
    ped_only = importance_with_ci(study, evaluators=("ped_anova",), n_bootstrap=0, n_permutations=0)
    assert "momentum" in ped_only["by_evaluator"]["ped_anova"] and set(ped_only["headline"]["params"]) == {"optimizer", "lr"}

    constant = grid_study({"layers": ("a", "b"), "width": (64,)}, lambda p: 0.5 + 0.1 * (p["layers"] == "a"))
    result = importance_with_ci(constant, n_bootstrap=0, n_permutations=0)
    assert result["left_out"] == {"width": "constant: one value (64) in all 6 completed trials"}
    assert result["bootstrap"]["reason"] == "bootstrap disabled (n_bootstrap=0)"
    assert any("single varying parameter" in n for n in result["notes"])


def test_one_config_has_no_importance_and_says_why():
    result = importance_with_ci(grid_study({"layers": ("full",)}, lambda p: 0.5))
    assert result["available"] is False and result["by_evaluator"] == {}
    assert result["reason"] == "importance needs 2 or more distinct configs; the study has 1"


def test_a_single_repeat_gives_point_estimates_without_ci():
    result = importance_with_ci(ordering_study(repeats=1), evaluators=("fanova",), n_bootstrap=10, n_permutations=0)
    assert result["available"] and not result["bootstrap"]["available"]
    assert "single run" in result["bootstrap"]["reason"]
    assert all(v["ci_low"] is None and v["value"] >= 0 for v in result["by_evaluator"]["fanova"].values())


def test_variance_components_match_a_one_way_anova():
    rng = np.random.default_rng(0)
    groups = [rng.normal(m, 0.1, size=4) for m in (0.0, 0.5, 1.0)]
    out = variance_components(groups)
    f, p = stats.f_oneway(*groups)
    assert out["f_statistic"] == pytest.approx(f) and out["p_value"] == pytest.approx(p)
    msw = np.mean([g.var(ddof=1) for g in groups])  # balanced: MSW is the mean group variance
    msb = 4 * np.var([g.mean() for g in groups], ddof=1)
    assert out["within_config_variance"] == pytest.approx(msw)
    assert out["config_share"] == pytest.approx(((msb - msw) / 4) / ((msb - msw) / 4 + msw))
    assert out["config_share_ci_low"] <= out["config_share"] <= out["config_share_ci_high"]


def test_variance_split_tells_a_real_winner_from_one_within_noise():
    clear = variance_split(grid_study({"layers": ("a", "b", "c")}, lambda p: {"a": 0.9, "b": 0.7, "c": 0.5}[p["layers"]], repeats=4))
    assert clear["config_share"] > 0.95 and clear["best_vs_runner_up"]["within_noise"] is False
    noisy = variance_split(grid_study({"layers": ("a", "b", "c")}, lambda p: 0.7, repeats=4, noise=0.05, rng_seed=2))
    assert noisy["config_share_ci_low"] < 0.3 and noisy["best_vs_runner_up"]["within_noise"] is True
    assert "within seed noise" in noisy["summary"]


def test_shared_seed_noise_is_split_off_when_every_config_ran_the_same_seeds():
    study = grid_study({"layers": ("a", "b", "c")}, lambda p: 0.7, repeats=5, noise=0.002, seed_effect=0.05, rng_seed=1)
    blocked = variance_split(study)["seed_blocked"]
    assert blocked["available"] and blocked["shared_seed_share"] > 0.9
    assert blocked["paired_noise_sd"] == pytest.approx(0.002, rel=0.6)
    unpaired = variance_split(grid_study({"layers": ("a", "b")}, lambda p: 0.7, layerlab_attrs=False))
    assert unpaired["seed_blocked"]["available"] is False


def test_variance_split_needs_two_configs_and_some_repeats():
    assert "needs 2 or more configs" in variance_split(grid_study({"layers": ("a",)}, lambda p: 0.5))["summary"]
    single = variance_split(grid_study({"layers": ("a", "b")}, lambda p: 0.5, repeats=1))
    assert single["available"] is False and "single run" in single["reason"]


def test_a_search_space_that_changed_midway_is_still_evaluated():
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: 10 * t.suggest_float("x", 0, 1) + 0.01 * t.suggest_int("k", 0, 3), n_trials=8)
    study.optimize(lambda t: 10 * t.suggest_float("x", 0, 2) + 0.01 * t.suggest_int("k", 0, 5), n_trials=8)
    result = importance_with_ci(study, evaluators=("fanova", "mdi"), n_bootstrap=0, n_trees=8, n_permutations=0)
    assert result["notes"] == []  # Optuna alone refuses: "dynamic search spaces"
    assert all(max(r, key=lambda p: r[p]["value"]) == "x" for r in result["by_evaluator"].values())


def test_fanova_skips_a_categorical_too_wide_for_it_and_says_so_while_mdi_still_ranks_it():
    # 24 orderings of four tokens: Optuna's fANOVA would enumerate 2^24-ish split combinations
    import itertools

    orders = tuple("-".join(p) for p in itertools.permutations(("Conv", "BN", "PL", "DropL")))
    study = grid_study({"order": orders, "act": ("relu", "tanh")}, lambda p: 0.5 + 0.01 * orders.index(p["order"]), repeats=2)
    result = importance_with_ci(study, evaluators=("fanova", "mdi"), n_bootstrap=2, n_trees=8, n_permutations=0)
    assert "fanova" not in result["by_evaluator"]
    assert any(n.startswith("fanova: not evaluated: order has 24 choices (more than 10") for n in result["notes"])
    mdi = result["by_evaluator"]["mdi"]
    assert max(mdi, key=lambda p: mdi[p]["value"]) == "order"


def test_the_bootstrap_shows_progress_on_stderr_only_when_asked(capsys):
    importance_with_ci(ordering_study(repeats=2), evaluators=("mdi",), n_bootstrap=3, n_trees=4, n_permutations=2, progress=True)
    assert "importance" in capsys.readouterr().err
    importance_with_ci(ordering_study(repeats=2), evaluators=("mdi",), n_bootstrap=3, n_trees=4, n_permutations=2)
    assert capsys.readouterr().err == ""


# -- the factorial ANOVA, the permutation null, evaluator instances ------------------------------


def test_the_anova_is_statsmodels_with_seed_as_a_block_and_effect_sizes_with_noncentral_f_cis():
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    study = ordering_study(repeats=3, noise=0.01, seed_effect=0.02)
    result = importance_with_ci(study, evaluators=("anova",), n_bootstrap=0, n_permutations=0)
    anova = result["anova"]
    assert anova["blocked"] and anova["grid"] and anova["formula"].startswith("y ~ C(seed) + C(order) + C(lr) + C(act)")
    assert set(anova["interactions"]) == {"order x lr", "order x act", "lr x act"}  # 72 runs leave 51 residual df
    frame = pd.DataFrame([{**t.params, "seed": t.user_attrs["seed"], "y": t.value} for t in study.trials])
    fit = smf.ols("y ~ C(seed) + C(order) + C(lr) + C(act) + C(lr):C(act) + C(order):C(lr) + C(order):C(act)", frame).fit()
    expected = anova_lm(fit, typ=2)
    terms = {t["term"]: t for t in anova["terms"]}
    assert terms["order"]["F"] == pytest.approx(expected.loc["C(order)", "F"])
    assert terms["lr"]["p_value"] == pytest.approx(expected.loc["C(lr)", "PR(>F)"])
    order = result["by_evaluator"]["anova"]["order"]
    assert order["value"] > 0.9 and order["ci_low"] <= order["value"] <= order["ci_high"] and order["p_f"] < 1e-10
    # noncentral-F inversion: at lambda = the CI's ends the observed F sits at the 97.5% / 2.5% quantiles
    lr = terms["lr"]
    n = lr["df"] + anova["residual_df"] + 1
    lam = lr["ci_high"] * n / (1 - lr["ci_high"])
    assert stats.ncf.cdf(lr["F"], lr["df"], anova["residual_df"], lam) == pytest.approx(0.025, abs=1e-4)
    assert lr["ci_low"] == 0.0 and lr["p_value"] > 0.025


def test_the_permutation_statistic_is_the_type_ii_partial_eta_squared_of_the_main_effects_model():
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    from studies.analysis._anova import MainEffects
    from studies.analysis._collect import collect
    from studies.analysis._importance import _design, _inputs

    study = grid_study({"a": ("x", "y", "z"), "b": (1, 2)}, lambda p: 0.1 * (p["a"] == "x") + 0.02 * p["b"], repeats=3,
                       noise=0.05, seed_effect=0.03, rng_seed=3)
    inputs = _inputs(collect(study))
    model = MainEffects(_design(inputs, ["a", "b"]))
    frame = pd.DataFrame([{**t.params, "seed": t.user_attrs["seed"], "y": t.value} for t in study.trials])
    table = anova_lm(smf.ols("y ~ C(seed) + C(a) + C(b)", frame).fit(), typ=2)
    for p in ("a", "b"):
        ss, res = table.loc[f"C({p})", "sum_sq"], table.loc["Residual", "sum_sq"]
        assert model.statistic(p) == pytest.approx(ss / (ss + res))
    assert model.statistic("a", np.arange(6)) == pytest.approx(model.statistic("a"))  # identity shuffle


def test_a_random_design_gets_splines_for_continuous_floats_and_no_interactions():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: (t.suggest_categorical("act", ["a", "b"]) == "a") + 0.0 * t.suggest_float("lr", 1e-4, 1, log=True),
                   n_trials=30)
    result = importance_with_ci(study, evaluators=("anova",), n_bootstrap=0, n_permutations=39)
    anova = result["anova"]
    assert anova["kinds"] == {"act": "factor", "lr": "spline"} and anova["formula"] == "y ~ C(act) + bs(lr, df=3)"
    assert not anova["grid"] and anova["interactions"] == [] and not anova["blocked"]
    res = result["by_evaluator"]["anova"]
    assert list(res)[0] == "act" and res["act"]["above_noise"] and not res["lr"]["above_noise"]


def test_the_permutation_null_flags_what_matters_and_nothing_in_a_null_study():
    signal = importance_with_ci(ordering_study(repeats=3, noise=0.02), evaluators=("anova", "ped_anova"), n_bootstrap=0)
    for name in ("anova", "ped_anova"):
        res = signal["by_evaluator"][name]
        assert res["order"]["above_noise"] and res["order"]["p_value"] <= 1 / 80
        assert not res["lr"]["above_noise"] and not res["act"]["above_noise"]
        assert res["order"]["permutations"] == 79 and res["lr"]["permutations"] < 79  # early stop on noise
    assert signal["permutation"]["permutations"] == 79 and signal["permutation"]["evaluators"] == ["anova", "ped_anova"]
    null = importance_with_ci(grid_study({"order": ORDERS, **NOISE_PARAMS}, lambda p: 0.5, repeats=3, rng_seed=4),
                              evaluators=("anova",), n_bootstrap=0)
    assert not any(r["above_noise"] for r in null["by_evaluator"]["anova"].values())


def test_mdi_prefers_a_wide_noise_categorical_but_the_permutation_null_does_not_flag_it():
    study = grid_study({"order": ORDERS, "act": ("relu", "tanh")}, lambda p: 0.5, repeats=2, rng_seed=5)
    res = importance_with_ci(study, evaluators=("mdi",), n_bootstrap=0, n_trees=8, n_permutations=39)["by_evaluator"]["mdi"]
    assert list(res)[0] == "order"  # MDI's built-in preference for the 6-choice parameter
    assert not res["order"]["above_noise"] and not res["act"]["above_noise"]


def test_optuna_evaluator_instances_are_accepted_and_bad_ones_refused():
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    from searchspace.errors import AnalysisError
    from studies.analysis._importance import AnovaImportanceEvaluator

    class Constant(optuna.importance.BaseImportanceEvaluator):
        def evaluate(self, study, params=None, *, target=None):
            return {p: 1.0 for p in params}

    study = ordering_study(repeats=2)
    result = importance_with_ci(study, evaluators=(FanovaImportanceEvaluator(n_trees=8, seed=1), Constant()),
                                n_bootstrap=2, n_permutations=0)
    assert list(result["by_evaluator"]) == ["fanova", "Constant"] and list(result["by_evaluator"]["fanova"])[0] == "order"
    assert result["by_evaluator"]["Constant"]["lr"]["value"] == pytest.approx(1 / 3)
    assert result["evaluators"]["Constant"] == "Constant (an Optuna evaluator instance)"
    with pytest.raises(AnalysisError, match="unknown importance evaluator 'shap'; valid: anova, fanova, ped_anova, mdi"):
        importance_with_ci(study, evaluators=("shap",))
    with pytest.raises(AnalysisError, match="neither a name"):
        importance_with_ci(study, evaluators=(42,))
    with pytest.raises(AnalysisError, match="permute names evaluator"):
        importance_with_ci(study, evaluators=("anova",), permute=("mdi",))
    # and the ANOVA is an Optuna evaluator too
    out = get_param_importances(study, evaluator=AnovaImportanceEvaluator())
    assert max(out, key=out.get) == "order"


def test_building_the_inputs_does_not_copy_trials_through_a_storage(monkeypatch):
    import copy

    study = ordering_study(repeats=2)
    n_trials = len(study.trials)
    calls = []
    real = copy.deepcopy
    monkeypatch.setattr(copy, "deepcopy", lambda *a, **k: calls.append(1) or real(*a, **k))
    importance_with_ci(study, evaluators=("anova", "ped_anova"), n_bootstrap=3, n_permutations=5)
    assert len(calls) < 10 < n_trials  # the old path deep-copied every trial into a new storage, per refit
