"""The verdict section: its classification, and the repeats-to-decide estimate proven by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from studies.analysis._headline import classify, headline, repeats_needed


def test_the_repeats_needed_reach_about_80_percent_power_in_simulation():
    """Known truth: paired differences ~ N(0.01, 0.02). From a CI of 5 pairs, the estimate should
    be the n at which a paired t-test rejects about 80% of the time."""
    rng = np.random.default_rng(0)
    delta, sd, n0 = 0.01, 0.02, 5
    half = stats.t.ppf(0.975, n0 - 1) * sd / np.sqrt(n0)  # the CI these runs would give at the true SD
    n = repeats_needed(delta, delta - half, delta + half, n0, alpha=0.05)
    assert 30 <= n <= 36  # d = 0.5: the textbook 34
    rejected = [stats.ttest_1samp(rng.normal(delta, sd, n), 0).pvalue < 0.05 for _ in range(2000)]
    assert 0.76 <= np.mean(rejected) <= 0.84
    assert repeats_needed(0.0, -0.01, 0.01, 5, alpha=0.05) is None and repeats_needed(0.01, 0, 0.02, 1, alpha=0.05) is None


def test_headline_sorts_mattered_undecided_and_equivalent_and_says_how_to_decide():
    assert [classify(v) for v in ("better", "worse", "no detectable difference", "equivalent")] == [
        "mattered", "mattered", "undecided", "no effect"]
    rows = pd.DataFrame({
        "variant": ["a", "b", "c"], "baseline": ["base"] * 3, "verdict": ["worse", "no detectable difference", "equivalent"],
        "delta": [-0.3, -0.01, 0.001], "delta_ci_low": [-0.32, -0.03, -0.002], "delta_ci_high": [-0.28, 0.01, 0.004],
        "p_adj": [0.0001, 0.4, 0.9], "n_pairs": [3, 3, 3], "design": ["paired"] * 3,
    })
    out = headline(rows, None, alpha=0.05)
    assert [e["variant"] for e in out["mattered"]] == ["a"] and [e["variant"] for e in out["no_effect"]] == ["c"]
    undecided = out["undecided"][0]
    assert undecided["repeats_needed"] > 3 and undecided["more_repeats"] == undecided["repeats_needed"] - 3
    assert "Mattered (1" in out["lines"][0] and "p (Dunnett) < 0.001" in out["lines"][0]
    assert f"about {undecided['repeats_needed']} repeats per config" in out["lines"][-1]


def test_a_repeats_needed_column_from_the_analysis_is_used_as_is():
    rows = pd.DataFrame({"variant": ["b"], "verdict": ["no detectable difference"], "delta": [-0.01],
                         "delta_ci_low": [-0.03], "delta_ci_high": [0.01], "n_pairs": [3], "repeats_needed": [42]})
    assert headline(rows, None)["undecided"][0]["repeats_needed"] == 42
