"""The design-based error term and simultaneous inference (studies/_design.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from studies import _design as design


def _values(y: np.ndarray) -> dict:
    return {c: {s: float(y[c, s]) for s in range(y.shape[1])} for c in range(y.shape[0])}


def test_dunnett_p_values_match_scipy_on_a_one_way_layout():
    rng = np.random.default_rng(1)
    k, n = 7, 4
    data = [rng.normal(size=n) + (1.5 if i == 2 else 0.0) for i in range(k)]
    ref = stats.dunnett(*data[1:], control=data[0], rng=np.random.default_rng(0)).pvalue
    mse = np.mean([d.var(ddof=1) for d in data])
    se = math.sqrt(2 * mse / n)
    lam = [math.sqrt(0.5)] * (k - 1)
    ours = [design.dunnett_p(abs(d.mean() - data[0].mean()) / se, lam, k * (n - 1)) for d in data[1:]]
    assert ours == pytest.approx(ref, abs=2e-3)


@pytest.mark.parametrize("df", [2, 5.5, 40])
def test_simultaneous_probability_matches_the_multivariate_t(df):
    lam = np.array([0.3, 0.6, 0.8])
    corr = np.outer(lam, lam)
    np.fill_diagonal(corr, 1.0)
    c = 2.4
    mvt = stats.multivariate_t(shape=corr, df=df, seed=np.random.default_rng(0))
    ref = mvt.cdf(np.full(3, c), lower_limit=np.full(3, -c), maxpts=200_000)
    assert design.simultaneous_probability(c, lam, df) == pytest.approx(ref, abs=3e-3)
    assert design.dunnett_p(c, lam, df) == pytest.approx(1 - ref, abs=3e-3)


def test_many_degrees_of_freedom_give_finite_critical_values_that_approach_the_normal_limit(monkeypatch):
    # a 1,680-config study pools thousands of df: scipy's Gauss-Laguerre weights overflowed to NaN
    # from about 500 df and the report stopped with "function value is NaN"
    lam = [0.5] * 6
    crit = [design.dunnett_critical(lam, df, 0.05) for df in (150.0, 600.0, 3000.0, 9000.0)]
    assert all(math.isfinite(c) for c in crit) and crit == sorted(crit, reverse=True)
    assert crit[-1] == pytest.approx(design.dunnett_critical(lam, 1e6, 0.05), abs=2e-3)
    near = design.simultaneous_probability(2.5, lam, 300.0)
    design._chi_nodes.cache_clear()
    monkeypatch.setattr(design, "LAGUERRE_MAX_DF", 1e9)  # the exact quadrature still works at 300 df
    assert design.simultaneous_probability(2.5, lam, 300.0) == pytest.approx(near, abs=1e-6)
    design._chi_nodes.cache_clear()


@pytest.mark.parametrize("k,df", [(3, 30), (20, 60), (420, 1257), (1680, 3358)])
def test_the_studentized_range_quadrature_matches_scipy(k, df):
    for p in (0.5, 0.05, 1e-3, 1e-5):
        q = stats.studentized_range.isf(p, k, df)
        assert design.tukey_p(q / math.sqrt(2), k, df) == pytest.approx(p, rel=1e-3)


def test_shuklas_closed_form_is_the_pairwise_least_squares_and_equal_correlations_a_power():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(9, 4)) * rng.uniform(0.5, 2, size=(9, 1)) + rng.normal(size=(1, 4))
    values = _values(y)
    closed = design._shukla(list(values), values, list(range(4)))
    pairwise = design._pairwise_variances(list(values), values)
    assert [closed[c] for c in values] == pytest.approx([pairwise[c] for c in values], abs=1e-12)
    from scipy import special

    z, wz = design._hermite()
    s, ws = design._chi_nodes(12.0)
    lam = np.array([0.4, 0.4, 0.4, 0.7])
    inside = special.ndtr((2.3 * s[:, None, None] - lam * z[None, :, None]) / np.sqrt(1 - lam**2)) \
        - special.ndtr((-2.3 * s[:, None, None] - lam * z[None, :, None]) / np.sqrt(1 - lam**2))
    full = float(ws @ np.prod(inside, axis=2) @ wz)  # the product over every comparison, as before
    assert design.simultaneous_probability(2.3, lam, 12.0) == pytest.approx(full, abs=1e-12)


def test_the_pool_of_a_complete_block_is_the_two_way_residual_mean_square():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(6, 4)) + rng.normal(size=4)[None, :]
    noise = design.seed_noise(_values(y))
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    assert noise.pooled_var == pytest.approx((resid**2).sum() / (5 * 3))
    assert noise.pooled_df == pytest.approx(15)
    # each config's estimate is Shukla's unbiased stability variance
    ss = (resid**2).sum(axis=1)
    shukla = 6 / (4 * 3) * ss - ss.sum() / (5 * 4 * 3)
    assert [noise.own_var[c] for c in range(6)] == pytest.approx(shukla)


def test_a_config_far_noisier_than_the_others_is_flagged_and_uses_its_own_differences():
    rng = np.random.default_rng(3)
    y = rng.normal(scale=0.1, size=(7, 10))
    y[4] = rng.normal(scale=1.0, size=10)
    noise = design.seed_noise(_values(y))
    assert noise.flagged == (4,)
    assert not noise.uses_pool(4, 0) and noise.uses_pool(1, 0)
    diffs = y[4] - y[0]
    var = design.comparison_variance(noise, 4, 0, diffs)
    assert var.source == "paired" and var.var == pytest.approx(diffs.var(ddof=1) / 10) and var.df == pytest.approx(9)
    pooled = design.comparison_variance(noise, 1, 0, y[1] - y[0])
    assert pooled.source == "pooled" and pooled.df == pytest.approx(noise.pooled_df)


def test_fewer_than_three_configs_have_nothing_to_pool():
    assert design.seed_noise(_values(np.random.default_rng(0).normal(size=(2, 5)))) is None


def test_heterogeneity_flags_one_config_in_ten_under_the_null():
    rng = np.random.default_rng(4)
    p = []
    for _ in range(300):
        y = rng.normal(size=(7, 3)) + rng.normal(size=3)[None, :]
        p.extend(design.seed_noise(_values(y)).heterogeneity_p.values())
    assert 0.07 <= np.mean(np.asarray(p) < design.HETEROGENEITY_ALPHA) <= 0.13


def test_the_evaluation_set_size_is_inferred_from_float32_accuracies():
    rng = np.random.default_rng(5)
    for n in (337, 1000, 10_000):
        k = rng.integers(1, n, size=12)
        assert design.infer_images((k / n).astype(np.float32).astype(float)) == n
    assert design.infer_images(rng.random(10)) is None
    assert design.infer_images([0.5, 0.25]) is None  # too few distinct values to tell


def test_the_minimum_detectable_effect_grows_with_the_uncertainty_of_the_variance():
    crit = design.dunnett_critical([math.sqrt(0.5)] * 6, 12, 0.05)
    plain = design.mde([(1.0, 1.0, 12, crit)], assurance=False)
    sure = design.mde([(1.0, 1.0, 12, crit)], assurance=True)
    assert design.power_two_sided(plain, 12, crit) == pytest.approx(0.8, abs=1e-3)
    assert sure > plain
    # a fallback that rarely rejects (paired, 2 df, Bonferroni) raises what is needed for 80%
    mixed = design.mde([(0.8, 1.0, 12, crit), (0.2, 1.0, 2, stats.t.ppf(1 - 0.05 / 12, 2))], assurance=False)
    assert mixed > plain
