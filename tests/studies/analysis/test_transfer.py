"""Rank transfer between two studies with known rankings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from searchspace.errors import AnalysisError
from studies.analysis._transfer import compare_studies
from tests.studies.analysis._synthetic import grid_study

MODELS = ("Conv2d+FCL", "BN+FCL", "BaseSeq", "BaseSeq(BN-Conv)", "Res64to512", "Res512", "Res512to64")
SMALL = dict(zip(MODELS, (0.60, 0.62, 0.70, 0.74, 0.65, 0.80, 0.78)))
FULL = dict(zip(MODELS, (0.62, 0.66, 0.69, 0.75, 0.71, 0.84, 0.86)))  # two swaps vs SMALL


def _means(study, model):
    return np.mean([t.value for t in study.trials if t.params["model"] == model])


def _pair(**kwargs):
    # different "dataset" fixed values live only in user attrs/config ids: they must not block a match
    small = grid_study({"model": MODELS}, lambda p: SMALL[p["model"]], name="small", rng_seed=1, noise=0.005,
                       extra_attrs=lambda p, r: {"config": {"dataset": "cifar10:hard2:128", "model": p["model"]},
                                                 "config_id": f"small-{p['model']}"}, **kwargs)
    full = grid_study({"model": MODELS}, lambda p: FULL[p["model"]], name="full", rng_seed=2, noise=0.005,
                      extra_attrs=lambda p, r: {"config": {"dataset": "cifar10", "model": p["model"]},
                                                "config_id": f"full-{p['model']}"}, **kwargs)
    return small, full


def test_kendall_and_spearman_equal_scipy_on_the_mean_scores():
    small, full = _pair()
    result = compare_studies(small, full, n_bootstrap=200, top_k=3)
    a = [_means(small, m) for m in MODELS]
    b = [_means(full, m) for m in MODELS]
    assert result["n_shared"] == 7 and result["matched_on"] == ["model"]
    assert result["kendall_tau"] == pytest.approx(stats.kendalltau(a, b).statistic)
    assert result["kendall_p"] == pytest.approx(stats.kendalltau(a, b).pvalue)
    assert result["spearman_rho"] == pytest.approx(stats.spearmanr(a, b).statistic)
    assert result["kendall_ci_low"] - 1e-9 <= result["kendall_tau"] <= result["kendall_ci_high"] + 1e-9
    # known truth: of 21 pairs, exactly those ordered differently in SMALL and FULL flip
    expected = {frozenset((f"model={x}", f"model={y}")) for x, y in itertools.combinations(MODELS, 2)
                if (SMALL[x] - SMALL[y]) * (FULL[x] - FULL[y]) < 0}
    assert {frozenset((f["config_1"], f["config_2"])) for f in result["flips"]} == expected
    assert len(expected) == 2 and result["n_pairs"] == 21
    # top-3 by SMALL: Res512, Res512to64, BaseSeq(BN-Conv); by FULL: Res512to64, Res512, BaseSeq(BN-Conv)
    assert result["top_k_overlap"] == 3 and result["top_k_agreement"] == 1.0 and result["same_best"] is False


def test_identical_rankings_give_tau_one_and_no_flips():
    small, _ = _pair()
    same = grid_study({"model": MODELS}, lambda p: SMALL[p["model"]] - 0.1, name="same", rng_seed=1, noise=0.005)
    result = compare_studies(small, same, n_bootstrap=50)
    assert result["kendall_tau"] == pytest.approx(1.0) and result["flips"] == [] and result["same_best"]


def test_studies_without_shared_configs_are_refused():
    small, _ = _pair()
    other = grid_study({"model": ("VGG11", "VGG16")}, lambda p: 0.5, name="other")
    with pytest.raises(AnalysisError, match="studies 'small' and 'other' have no shared configs \\(matched on model\\)"):
        compare_studies(small, other)
    unrelated = grid_study({"lr": (0.1, 0.01)}, lambda p: 0.5, name="unrelated")
    with pytest.raises(AnalysisError, match="share no searched parameter"):
        compare_studies(small, unrelated)


def test_an_extra_searched_parameter_needs_a_where_filter():
    multi = grid_study({"dataset": ("pathmnist", "bloodmnist"), "model": MODELS[:4]},
                       lambda p: SMALL[p["model"]] + (0.1 if p["dataset"] == "bloodmnist" else 0.0), name="multi")
    single = grid_study({"model": MODELS[:4]}, lambda p: SMALL[p["model"]], name="single")
    with pytest.raises(AnalysisError, match="only this study searches: dataset - pin them with --where-a/--where-b"):
        compare_studies(multi, single)
    result = compare_studies(multi, single, where_a="dataset=bloodmnist", n_bootstrap=20)
    assert result["n_shared"] == 4 and result["kendall_tau"] == pytest.approx(1.0)
    # the same study against itself across datasets
    result = compare_studies(multi, multi, where_a="dataset=pathmnist", where_b="dataset=bloodmnist", n_bootstrap=0)
    # the Kendall CI needs no bootstrap (simultaneous intervals); only Spearman's does
    assert result["kendall_tau"] == pytest.approx(1.0) and result["spearman_ci_low"] is None
    assert result["kendall_ci_low"] <= 1.0 == result["kendall_ci_high"]


def test_test_metric_and_single_repeats():
    small, full = _pair(repeats=1)
    result = compare_studies(small, full, metric="test")
    assert result["metric"] == "test accuracy" and result["kendall_ci_low"] is None
    assert "no CI" in result["bootstrap"]["note"]
    with pytest.raises(AnalysisError, match="unknown metric 'loss'"):
        compare_studies(small, full, metric="loss")


def test_vectorised_bootstrap_statistics_equal_scipy_including_ties():
    from studies.analysis._transfer import spearman_rows, tau_b

    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(30, 8)).astype(float)  # many ties
    y = rng.integers(0, 4, size=(30, 8)).astype(float)
    expected_tau = [stats.kendalltau(a, b).statistic for a, b in zip(x, y)]
    expected_rho = [stats.spearmanr(a, b).statistic for a, b in zip(x, y)]
    assert tau_b(x, y) == pytest.approx(expected_tau, nan_ok=True)
    assert spearman_rows(x, y) == pytest.approx(expected_rho, nan_ok=True)


def test_rank_transfer_between_the_dataset_values_of_one_study():
    from studies.analysis._report import build_report
    from studies.analysis._transfer import rank_transfer_matrix

    # "hard2:all" ranks the models as "full" does; "easy2:128" reverses them
    order = {"full": SMALL, "hard2:all": {m: v - 0.1 for m, v in SMALL.items()}, "easy2:128": {m: 1 - v for m, v in SMALL.items()}}
    study = grid_study({"dataset": tuple(order), "model": MODELS[:5]}, lambda p: order[p["dataset"]][p["model"]], noise=0.002)
    pairs = {(p["a"], p["b"]): p for p in rank_transfer_matrix(study, n_bootstrap=20)["pairs"]}
    assert pairs[("full", "hard2:all")]["tau"] == pytest.approx(1.0)
    assert pairs[("full", "easy2:128")]["tau"] == pytest.approx(-1.0) and pairs[("full", "easy2:128")]["flips"] == 10
    report = build_report(study, n_bootstrap=2, evaluators=("ped_anova",))
    assert len(report.data["rank_transfer_by_dataset"]["pairs"]) == 3
    assert "Rank transfer between datasets" in [s.title for s in report.sections]
    with pytest.raises(AnalysisError, match="'depth' is not a parameter of study 'synthetic'"):
        rank_transfer_matrix(study, by="depth")


def test_seeds_are_resampled_jointly_so_shared_seed_luck_does_not_blur_the_ranking():
    means = {m: 0.5 + 0.05 * i for i, m in enumerate(MODELS[:4])}

    def pair(paired):
        return [grid_study({"model": MODELS[:4]}, lambda p: means[p["model"]], name=n, rng_seed=s, noise=0.001,
                           seed_effect=0.3, layerlab_attrs=paired) for n, s in (("a", 1), ("b", 2))]

    result = compare_studies(*pair(True), n_bootstrap=200)
    assert result["bootstrap"]["resampling"]["a"].startswith("seeds drawn with replacement, jointly")
    assert result["kendall_ci_low"] == pytest.approx(1.0)  # every replicate keeps the order
    unpaired = compare_studies(*pair(False), n_bootstrap=200)
    assert unpaired["bootstrap"]["resampling"]["a"] == "repeats drawn with replacement within each config"
    assert unpaired["kendall_tau"] == pytest.approx(1.0) and unpaired["kendall_ci_low"] < 0.5


def test_the_kendall_ci_targets_the_true_ranking_not_the_noisy_one():
    # configs 0.5 noise SD apart at 3 repeats: the observed tau is far below the true 1; a
    # bootstrap CI brackets the noisy tau and misses 1; the projection's upper end keeps 1 inside
    means = {m: 0.5 * i for i, m in enumerate(MODELS)}
    hits = 0
    for s in range(5):
        a = grid_study({"model": MODELS}, lambda p: means[p["model"]], name="a", rng_seed=10 + s, noise=1.0, seed_effect=0.5)
        b = grid_study({"model": MODELS}, lambda p: means[p["model"]], name="b", rng_seed=50 + s, noise=1.0, seed_effect=0.5)
        res = compare_studies(a, b, n_bootstrap=0)
        assert res["kendall_ci_low"] <= res["kendall_tau"] <= res["kendall_ci_high"]
        assert res["kendall_ci"]["noise"]["a"]["method"].startswith("two-way layout configs + seeds")
        hits += res["kendall_ci_high"] == pytest.approx(1.0)
    assert hits == 5


def _noise(effects, sd=0.01, n=5):
    from studies._transfer_stats import Noise

    k = len(effects)
    return Noise(np.asarray(effects, float), np.eye(k) / n, sd, (k - 1) * (n - 1), np.full(k, n), "two-way test")


def test_the_tau_interval_projects_settled_pairs_above_and_uses_the_posterior_below():
    from studies._transfer_stats import settled_signs, tau_interval

    a, b = _noise([0.0, 1.0, 2.0, 3.0]), _noise([0.0, 1.0, 3.0, 2.0])  # one clear discordant pair of 6
    sa, sb = settled_signs(a, 0.975), settled_signs(b, 0.975)
    res = tau_interval(a, b, sa, sb, 0.95)
    assert res["settled_pairs"] == 6 and res["discordant"] == 1
    assert res["low"] == pytest.approx(4 / 6) and res["high"] == pytest.approx(4 / 6)  # no noise left to draw
    close = _noise([0.0, 0.001, 2.0, 3.0])  # pair (0, 1) unsettled in A: it may be either way
    res = tau_interval(close, b, settled_signs(close, 0.975), sb, 0.95)
    assert res["high"] == pytest.approx(4 / 6) and res["low"] == pytest.approx(2 / 6) and res["settled_pairs"] == 5
    # nothing settled concordant in both: nothing excludes a reversed ranking, the lower end is -1
    flat = _noise([0.0, 0.001, 0.002, 0.003], sd=1.0)
    res = tau_interval(flat, flat, settled_signs(flat, 0.975), settled_signs(flat, 0.975), 0.95)
    assert (res["low"], res["high"]) == (-1.0, 1.0) and res["method"].startswith("low: projection")
    assert tau_interval(None, b, None, sb, 0.95)["low"] is None


def test_the_noise_model_is_statsmodels_ols_of_config_plus_seed_also_with_incomplete_blocks():
    import pandas as pd
    import statsmodels.formula.api as smf

    from studies._transfer_stats import fit_noise

    rng = np.random.default_rng(0)
    values = [rng.normal(i, 1.0, size=n) for i, n in enumerate((5, 3, 4, 5))]  # a race's unequal repeats
    blocks = [list(range(len(v))) for v in values]
    noise = fit_noise(values, blocks)
    frame = pd.DataFrame({"y": np.concatenate(values), "config": np.repeat(np.arange(4), [len(v) for v in values]),
                          "seed": np.concatenate(blocks)})
    ols = smf.ols("y ~ 0 + C(config) + C(seed)", frame).fit()
    assert noise.df == int(ols.df_resid) and noise.sd == pytest.approx(np.sqrt(ols.scale))
    names = [f"C(config)[{c}]" for c in range(4)]
    assert noise.effects == pytest.approx(ols.params[names].to_numpy())
    assert noise.unscaled * noise.sd**2 == pytest.approx(ols.cov_params().loc[names, names].to_numpy())
    unpaired = fit_noise(values, None)  # no common seeds: the one-way layout, its SE the pooled SD over sqrt(n)
    assert unpaired.effects == pytest.approx([v.mean() for v in values])
    assert unpaired.df == sum(len(v) - 1 for v in values)
    assert fit_noise([np.array([1.0]), np.array([2.0]), np.array([3.0])], None) is None  # no df for the error


def test_settled_pair_concordance_is_the_exact_one_sided_binomial_bound():
    from studies._transfer_stats import concordance

    agree = np.ones(26, dtype=int)
    res = concordance(np.concatenate([agree, [0, 1]]), np.concatenate([agree, [1, 0]]), 0.95)
    assert (res["settled"], res["agree"], res["disagree"]) == (26, 26, 0)
    assert res["low"] == pytest.approx(0.05 ** (1 / 26))
    assert round(res["low"], 2) == 0.89  # the "26/26 agree; concordance >= 0.89"
    res = concordance(np.array([1, 1, -1, 1]), np.array([1, 1, 1, 1]), 0.95)
    assert res["agree"] == 3 and res["low"] == pytest.approx(stats.beta.ppf(0.05, 3, 2))
    assert concordance(np.zeros(3), np.ones(3), 0.95)["low"] is None


def test_settle_probability_is_the_noncentral_t_and_the_cost_grows_with_noise():
    from studies._transfer_stats import (
        cost_sentence, cost_to_decide, settle_probability, settled_signs, tukey_critical,
    )

    noise = _noise(np.arange(6) * 0.5, sd=1.0, n=3)
    contrast = np.array([0.0, 0.5, 1.0, 3.0, 30.0])
    for n in (3, 10, 40):
        crit, df, delta = tukey_critical(0.975, 6, 5 * (n - 1)), 5 * (n - 1), contrast / np.sqrt(2 / n)
        expected = stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta)
        expected = np.where(np.isnan(expected), 1.0, expected)  # scipy's nct gives nan 30+ SE out, where it is 1
        assert settle_probability(contrast, noise, n, 0.975) == pytest.approx(expected, abs=1e-9)
    quiet, loud = _noise(np.arange(6) * 0.5, sd=0.2, n=3), _noise(np.arange(6) * 0.5, sd=0.4, n=3)
    sure = settled_signs(_noise(np.arange(6) * 0.5, sd=0.01), 0.975)
    cheap, dear = (cost_to_decide(x, x, sure, sure, 0.95)["repeats_a"] for x in (quiet, loud))
    assert 3 < cheap < dear  # twice the noise SD: about four times the repeats
    text = cost_sentence(cost_to_decide(quiet, loud, sure, sure, 0.95), "sub", "full")
    assert text.startswith(f"cost to decide: {cheap - 3} more repeats of 'sub' ({cheap} per config) settle 90% of "
                           "the 15 pairs")


def test_fewer_than_three_shared_configs_are_refused_and_flips_have_a_gap_not_an_image_size():
    from studies.analysis._report import build_report
    from studies.analysis._format import header_of

    small, full = _pair()
    two = grid_study({"model": MODELS[:2] + ("VGG",)}, lambda p: 0.5, name="two")
    with pytest.raises(AnalysisError, match="only 2 shared configs \\(matched on model\\); rank transfer needs 3 or"):
        compare_studies(small, two)
    result = compare_studies(small, full, n_bootstrap=0)
    assert result["flips"] and all(set(f) == {"config_1", "config_2", "a", "b", "gap"} for f in result["flips"])
    section = next(s for s in build_report(small, compare_with=full, n_bootstrap=0, datasets="none",
                                           evaluators=("ped_anova",)).sections if s.title == "Rank transfer")
    flips = next(t for t in section.tables if "gap" in t.columns)
    assert header_of("gap") == "Gap" and "size" not in flips.columns
    assert set(flips["status"]) <= {"agree", "disagree", "unsettled"}
    assert any(p.startswith("Of the ") and "agree; concordance >= " in p for p in section.paragraphs)
    assert any(p.startswith("Cost to decide: ") for p in section.paragraphs)


def test_each_pair_gets_the_probability_that_both_studies_order_it_the_same_way():
    small, full = _pair()
    pairs = {frozenset((p["config_1"], p["config_2"])): p for p in compare_studies(small, full, n_bootstrap=0)["pairs"]}
    assert len(pairs) == 21
    # Res512 vs Res512to64: 0.80 vs 0.78 in SMALL, 0.84 vs 0.86 in FULL (noise 0.005): a clear flip
    flip = pairs[frozenset(("model=Res512", "model=Res512to64"))]
    assert flip["same_order_probability"] < 0.01
    # Conv2d+FCL vs Res512: far apart and in the same order in both
    assert pairs[frozenset(("model=Conv2d+FCL", "model=Res512"))]["same_order_probability"] > 0.99
    single = compare_studies(*_pair(repeats=1), n_bootstrap=0)
    assert all(p["same_order_probability"] is None for p in single["pairs"])
