"""The paired comparison with evaluation-set noise (studies.analysis._paired) and its inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from objectives._per_image import pack_correct, unpack_correct
from studies.analysis._leaderboard import ablation_table, leaderboard_table
from studies.analysis._collect import collect
from studies.analysis._paired import compare_paired, crossed_variance, equivalence, power_summary
from studies.analysis._stats import compare, vs_best_adjust
from tests.studies.analysis._synthetic import grid_study


def test_without_images_or_resolution_it_is_the_paired_t_test():
    a, b = np.array([0.81, 0.84, 0.80, 0.86]), np.array([0.80, 0.81, 0.80, 0.82])
    r = compare_paired(a, b)
    assert r.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert (r.ci_low, r.ci_high) == pytest.approx(tuple(stats.ttest_rel(a, b).confidence_interval()))


def test_crossed_variance_matches_the_two_way_random_effects_moments():
    rng = np.random.default_rng(0)
    s, n = 6, 400
    table = (rng.normal(0, 0.3, (s, 1)) + rng.normal(0, 0.5, (1, n)) + rng.normal(0, 1, (s, n)))
    c = crossed_variance(table)
    row, col, grand = table.mean(1), table.mean(0), table.mean()
    ms_s, ms_i = n * row.var(ddof=1), s * col.var(ddof=1)
    ms_e = ((table - row[:, None] - col[None, :] + grand) ** 2).sum() / ((s - 1) * (n - 1))
    assert c.se**2 == pytest.approx((ms_s + ms_i - ms_e) / (s * n))  # the image component is not truncated here
    assert c.df == s - 1  # the seed part's df: conservative (see crossed_variance)


@pytest.mark.parametrize("seeds", [3, 5, 10, 30])
@pytest.mark.parametrize("same_image", [True, False])
def test_one_image_on_every_seed_is_never_significant(seeds, same_image):
    rng = np.random.default_rng(seeds)
    base = rng.random((seeds, 337)) < 0.8
    variant = base.copy()
    for s in range(seeds):
        i = 0 if same_image else s
        base[s, i], variant[s, i] = True, False
    r = compare_paired(variant.mean(1), base.mean(1), images_a=variant, images_b=base)
    assert r.p_value == 1.0 and r.noise.startswith("seeds + images")
    # the same rows with accuracies only, but the set size known: still never significant
    r = compare_paired(variant.mean(1), base.mean(1), n_images=337)
    assert r.p_value == 1.0


def test_a_zero_variance_difference_never_gets_p_zero():
    r = compare_paired([0.5, 0.6, 0.7, 0.8], [0.49, 0.59, 0.69, 0.79])  # no set size known
    assert r.p_value == pytest.approx(2 / 2**4) and r.ci_low == r.ci_high
    assert "sign-flip" in r.noise
    wil = compare([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], pairs_a=[1, 2, 3], pairs_b=[1, 2, 3], test="wilcoxon")
    assert wil.p_value == pytest.approx(0.25)
    welch = compare([0.5, 0.5], [0.4, 0.4])
    assert 0 < welch.p_value < 1


def test_images_widen_the_interval_beyond_seed_noise():
    rng = np.random.default_rng(1)
    u = rng.normal(0, 1, 300)  # image difficulty, and each config's own preferences among images
    a = (0.9 + u + rng.normal(0, 0.7, 300) + rng.normal(0, 1, (5, 300)) > 0)
    b = (0.7 + u + rng.normal(0, 0.7, 300) + rng.normal(0, 1, (5, 300)) > 0)
    seeds_only = compare_paired(a.mean(1), b.mean(1))
    both = compare_paired(a.mean(1), b.mean(1), images_a=a, images_b=b)
    assert both.se > seeds_only.se and both.image_var > 0


def test_power_summary_uses_statsmodels_ttest_power():
    from statsmodels.stats.power import TTestPower

    diffs = np.array([0.01, -0.02, 0.015, 0.0, 0.005])
    r = compare_paired(diffs, np.zeros(5))
    got = power_summary(r, effect=0.03)
    d = TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8)
    assert got["mde"] == pytest.approx(d * diffs.std(ddof=1))
    n = TTestPower().solve_power(effect_size=0.03 / diffs.std(ddof=1), alpha=0.05, power=0.8)
    assert got["repeats_needed"] == math.ceil(n)


def test_with_an_image_term_more_seeds_cannot_detect_an_effect_below_the_image_floor():
    rng = np.random.default_rng(2)
    u = rng.normal(0, 1.5, 200)
    a = (0.5 + u + rng.normal(0, 1, 200) + rng.normal(0, 1, (3, 200)) > 0)
    b = (0.5 + u + rng.normal(0, 1, 200) + rng.normal(0, 1, (3, 200)) > 0)
    r = compare_paired(a.mean(1), b.mean(1), images_a=a, images_b=b)
    floor = power_summary(r)["mde_floor_images"]
    assert r.image_var > 0 and floor > r.resolution
    got = power_summary(r, effect=floor * 0.9)
    assert got["repeats_needed"] is None and got["mde"] > floor
    assert power_summary(r, effect=floor * 1.5)["repeats_needed"] >= 2


def test_tost_matches_statsmodels_and_needs_the_margin():
    from statsmodels.stats.weightstats import ttost_paired

    a, b = np.array([0.801, 0.799, 0.802, 0.800]), np.array([0.800, 0.800, 0.800, 0.801])
    r = compare_paired(a, b)
    assert equivalence(r, 0.01, diffs=a - b) == pytest.approx(ttost_paired(a, b, -0.01, 0.01)[0])
    assert equivalence(r, 0.01, diffs=a - b) < 0.05 and equivalence(r, 0.0001, diffs=a - b) > 0.05


def test_vs_best_adjust_is_bonferroni_over_all_pairs():
    assert vs_best_adjust([0.001, None, 0.5], 4) == [pytest.approx(0.006), None, 1.0]


def test_equal_configs_are_rarely_called_worse_than_the_best_and_the_fallback_baseline_is_selection_aware():
    false_worse = 0
    for seed in range(30):
        study = grid_study({"layers": tuple("abcdefg")}, lambda p: 0.5, repeats=3, noise=0.01, rng_seed=seed)
        board = leaderboard_table(study)
        false_worse += bool((board["vs_best"] == "worse").any())
        ab = ablation_table(study)
        assert ab.correction.startswith("Tukey") and not (ab.rows["verdict"] == "better").any()
        # the fallback ablation answers the leaderboard's question, with the same verdicts
        by_variant = dict(zip(ab.rows["variant"], ab.rows["verdict"]))
        assert all(by_variant[label] == v for label, v in zip(board["label"][1:], board["vs_best"][1:]))
    assert false_worse <= 5  # 30 null studies at a 5% family-wise rate: 1.5 expected, 5 has p < 0.02
    assert ablation_table(study, "layers=a").correction.startswith("Dunnett")


def test_quiet_rows_carry_their_minimum_detectable_effect_and_repeats_needed():
    study = grid_study({"layers": ("a", "b")}, lambda p: 0.5, repeats=3, noise=0.01, rng_seed=3)
    row = ablation_table(study, "layers=a", effect=0.05).rows.iloc[0]
    assert row.verdict == "no detectable difference" and row.mde > 0 and row.repeats_needed >= 2


def test_per_image_correctness_round_trips_in_one_bit_per_image():
    ok = np.random.default_rng(0).random(337) < 0.7
    packed = pack_correct(ok, np.arange(337) % 10)
    assert len(packed["bits"]) <= 337 // 6 + 4  # base64 of 43 bytes
    bits, key = unpack_correct(packed)
    assert (bits.astype(bool) == ok).all() and key.startswith("337:")
    assert unpack_correct({"n": 3}) is None and unpack_correct(None) is None


def test_evaluate_returns_per_image_correctness_on_request():
    from objectives.train._metrics import evaluate

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.randn(10, 1, 2, 2), torch.randint(0, 3, (10,))
    loss, acc, confusion, correct = evaluate(model, x, y, 3, per_image=True)
    assert correct.shape == (10,) and correct.float().mean().item() == pytest.approx(acc)
    assert len(evaluate(model, x, y, 3)) == 3


def test_trials_with_per_image_data_get_crossed_verdicts_and_a_note_otherwise():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    import _simulate as sim
    from studies.analysis._leaderboard import NOISE_NOTE_IMAGES, NOISE_NOTE_SEEDS, noise_note

    study, _ = sim.image_study({"a": 0.5, "b": 0.6}, repeats=3, n_images=200, rng=np.random.default_rng(0))
    table = collect(study)
    assert noise_note(table) == NOISE_NOTE_IMAGES
    assert (leaderboard_table(table)["noise"] == "seeds + images").all()
    assert ablation_table(table, "config=a").rows.iloc[0].noise.startswith("seeds + images")
    assert noise_note(collect(grid_study({"layers": ("a", "b")}, lambda p: 0.5))) == NOISE_NOTE_SEEDS
