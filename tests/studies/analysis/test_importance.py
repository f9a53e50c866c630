"""Importance with bootstrap CIs and the variance split, on studies with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from studies.analysis import importance_with_ci, variance_components, variance_split
from studies.analysis._importance import _importances
from tests.studies.analysis._synthetic import ORDERS, conditional_study, grid_study

NOISE_PARAMS = {"lr": (0.1, 0.01), "act": ("relu", "tanh")}


def ordering_study(**kwargs):
    """Only the ordering changes the value (0.05 per step); lr and act are pure noise."""
    return grid_study({"order": ORDERS, **NOISE_PARAMS}, lambda p: 0.5 + 0.05 * ORDERS.index(p["order"]), **kwargs)


def test_only_the_ordering_matters_so_it_ranks_first_with_a_ci_clear_of_zero_and_of_the_rest():
    result = importance_with_ci(ordering_study(repeats=3, noise=0.01), evaluators=("fanova",), n_bootstrap=15, n_trees=8)
    fanova = result["by_evaluator"]["fanova"]
    assert list(fanova)[0] == "order"
    order = fanova["order"]
    assert order["ci_low"] > 0 and order["ci_low"] <= order["value"] <= order["ci_high"]
    assert all(order["ci_low"] > fanova[p]["ci_high"] for p in NOISE_PARAMS)
    assert result["evaluated"] == ["order", "lr", "act"] and result["left_out"] == {}
    assert result["bootstrap"]["replicates"] == 15
    assert result["bootstrap"]["resampling"].startswith("seeds drawn with replacement, jointly across configs")


@pytest.mark.parametrize("evaluator", ["fanova", "ped_anova", "mdi"])
def test_every_evaluator_ranks_the_ordering_first(evaluator):
    result = importance_with_ci(ordering_study(repeats=2, noise=0.01), evaluators=(evaluator,), n_bootstrap=3, n_trees=8)
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
    result = importance_with_ci(study, n_bootstrap=3)
    assert result["evaluated"] == ["optimizer", "lr"]
    n = len(study.trials)
    assert result["left_out"] == {"momentum": f"conditional: present in 12/{n} completed trials"}
    entry = result["conditional"]["momentum"]
    assert entry["ped_anova"] is not None and "momentum" in result["by_evaluator"]["ped_anova"]
    within = entry["fanova_within_active"]
    assert max(within, key=within.get) == "momentum"  # within sgd runs, momentum is what matters
    assert "momentum" not in result["by_evaluator"]["fanova"]

    constant = grid_study({"layers": ("a", "b"), "width": (64,)}, lambda p: 0.5 + 0.1 * (p["layers"] == "a"))
    result = importance_with_ci(constant, n_bootstrap=0)
    assert result["left_out"] == {"width": "constant: one value (64) in all 6 completed trials"}
    assert result["bootstrap"]["reason"] == "bootstrap disabled (n_bootstrap=0)"
    assert any("single varying parameter" in n for n in result["notes"])


def test_one_config_has_no_importance_and_says_why():
    result = importance_with_ci(grid_study({"layers": ("full",)}, lambda p: 0.5))
    assert result["available"] is False and result["by_evaluator"] == {}
    assert result["reason"] == "importance needs 2 or more distinct configs; the study has 1"


def test_a_single_repeat_gives_point_estimates_without_ci():
    result = importance_with_ci(ordering_study(repeats=1), evaluators=("fanova",), n_bootstrap=10)
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
    result = importance_with_ci(study, evaluators=("fanova", "mdi"), n_bootstrap=0, n_trees=8)
    assert result["notes"] == []  # Optuna alone refuses: "dynamic search spaces"
    assert all(max(r, key=lambda p: r[p]["value"]) == "x" for r in result["by_evaluator"].values())


def test_fanova_skips_a_categorical_too_wide_for_it_and_says_so_while_mdi_still_ranks_it():
    # 24 orderings of four tokens: Optuna's fANOVA would enumerate 2^24-ish split combinations
    import itertools

    orders = tuple("-".join(p) for p in itertools.permutations(("Conv", "BN", "PL", "DropL")))
    study = grid_study({"order": orders, "act": ("relu", "tanh")}, lambda p: 0.5 + 0.01 * orders.index(p["order"]), repeats=2)
    result = importance_with_ci(study, evaluators=("fanova", "mdi"), n_bootstrap=2, n_trees=8)
    assert "fanova" not in result["by_evaluator"]
    assert any(n.startswith("fanova: not evaluated: order has 24 choices (more than 10") for n in result["notes"])
    mdi = result["by_evaluator"]["mdi"]
    assert max(mdi, key=lambda p: mdi[p]["value"]) == "order"


def test_the_bootstrap_shows_progress_on_stderr_only_when_asked(capsys):
    importance_with_ci(ordering_study(repeats=2), evaluators=("mdi",), n_bootstrap=3, n_trees=4, progress=True)
    assert "importance" in capsys.readouterr().err
    importance_with_ci(ordering_study(repeats=2), evaluators=("mdi",), n_bootstrap=3, n_trees=4)
    assert capsys.readouterr().err == ""
