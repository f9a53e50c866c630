"""Per-choice effects of a sampled study: known truth recovered, verdicts that agree with their
intervals, the fit equal to a mixed model with config as a group, and what cannot be fitted."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from studies.analysis._collect import collect
from studies.analysis._choices import DRAWS, choice_effects, sampled
from tests.studies.analysis._synthetic import grid_study

DISTS = {"act": CategoricalDistribution(("relu", "gelu", "tanh")), "lr": FloatDistribution(1e-4, 1e-1, log=True),
         "wd": FloatDistribution(0.0, 0.1)}
ACT = {"relu": 0.0, "gelu": 0.02, "tanh": -0.05}


def _random_study(n_configs: int = 40, repeats: int = 3, *, seed: int = 0, signal: bool = True,
                  noise: float = 0.01, config_sd: float = 0.0) -> optuna.Study:
    """Configs drawn at random; truth: act levels ACT, +0.04 from the low to the high end of lr
    (log scale), wd nothing; a seed effect shared by every config; ``config_sd``: what the
    parameters do not explain, one draw per config (shared by its repeats)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, noise, repeats)
    study = optuna.create_study(direction="maximize")
    for c in range(n_configs):
        p = {"act": str(rng.choice(list(ACT))), "lr": float(10 ** rng.uniform(-4, -1)),
             "wd": float(rng.uniform(0, 0.1))}
        x_lr = 2 * (math.log10(p["lr"]) + 4) / 3 - 1
        mean = 0.8 + (ACT[p["act"]] + 0.02 * x_lr if signal else 0.0) + rng.normal(0, config_sd)
        for r in range(repeats):
            study.add_trial(optuna.trial.create_trial(
                params=p, distributions=DISTS, value=float(mean + shared[r] + rng.normal(0, noise)),
                user_attrs={"config_id": f"c{c}", "repeat": r, "seed": 10 + r}))
    return study


def test_known_effects_are_recovered_adjusted_and_each_verdict_agrees_with_its_interval():
    res = choice_effects(_random_study(), seed=1)
    assert res["available"] and set(res["reference"]) == {"act"}
    rows = res["rows"].set_index(["parameter", "contrast"])
    ref = res["reference"]["act"]
    for level, effect in ACT.items():
        if level == ref:
            continue
        row = rows.loc[("act", f"{level} vs {ref}")]
        truth = effect - ACT[ref]
        assert row["effect_ci_low"] <= truth <= row["effect_ci_high"], (level, row.to_dict())
        assert row["verdict"] == ("better" if truth > 0 else "worse")
    trend = rows.loc[("lr", "trend over 0.0001 to 0.1 (log scale)")]
    assert trend["effect_ci_low"] <= 0.04 <= trend["effect_ci_high"] and trend["verdict"] == "better higher"
    wd = res["rows"][res["rows"]["parameter"] == "wd"]
    assert (wd["verdict"] == "no detectable effect").all() and wd["configs_needed"].notna().all()
    # simultaneous: p_adj < alpha exactly when the interval excludes 0, on every row
    frame = res["rows"]
    excludes = (frame["effect_ci_low"] > 0) | (frame["effect_ci_high"] < 0)
    assert ((frame["p_adj"] < 0.05) == excludes).all()
    assert (frame["effect_ci_high"] - frame["effect_ci_low"] > frame["effect_ci_high_unadjusted"]
            - frame["effect_ci_low_unadjusted"]).all()  # the simultaneous interval is the wider one


def test_a_single_effect_gets_the_plain_t_test_and_nothing_matters_in_a_null_study():
    from scipy import stats

    rng = np.random.default_rng(4)  # (seed 3 is one of the 5% of null studies with a false 'matters')
    study = optuna.create_study(direction="maximize")
    dist = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for c in range(30):
        lr = float(10 ** rng.uniform(-4, -1))
        for r in range(2):
            study.add_trial(optuna.trial.create_trial(params={"lr": lr}, distributions=dist, value=float(rng.normal()),
                                                      user_attrs={"config_id": f"c{c}", "repeat": r, "seed": r}))
    res = choice_effects(study)
    assert list(res["rows"]["kind"]) == ["trend", "curvature"]
    one = choice_effects(study, reference=None)  # same seed, same draws: reproducible
    assert one["rows"]["p_adj"].tolist() == res["rows"]["p_adj"].tolist()
    assert (res["rows"]["verdict"] == "no detectable effect").all()
    # two nearly uncorrelated effects: the max-t critical value sits between the plain and the Bonferroni t
    df = res["residual_df"]
    assert stats.t.ppf(0.975, df) < res["critical"] < stats.t.ppf(1 - 0.025 / 2, df) + 0.05
    assert 1 / (DRAWS + 1) <= res["rows"]["p_adj"].min()


def test_the_fit_on_config_means_equals_a_mixed_model_with_config_as_a_group():
    import pandas as pd
    import statsmodels.formula.api as smf

    study = _random_study(n_configs=30, repeats=3, seed=5, noise=0.02, config_sd=0.02)
    res = choice_effects(study, seed=0, reference={"act": "relu"})
    frame = pd.DataFrame([{"y": t.value, "config": t.user_attrs["config_id"], "act": t.params["act"],
                           "x": 2 * (math.log10(t.params["lr"]) + 4) / 3 - 1, "w": 2 * t.params["wd"] / 0.1 - 1}
                          for t in study.trials])
    frame["x2"] = frame["x"] ** 2 - frame.groupby("config")["x"].first().pow(2).mean()
    frame["w2"] = frame["w"] ** 2 - frame.groupby("config")["w"].first().pow(2).mean()
    mixed = smf.mixedlm("y ~ C(act, Treatment('relu')) + x + x2 + w + w2", frame, groups=frame["config"]).fit(reml=True)
    rows = res["rows"].set_index("contrast")
    gelu = "C(act, Treatment('relu'))[T.gelu]"
    assert rows.loc["gelu vs relu", "effect"] == pytest.approx(mixed.params[gelu], abs=1e-6)
    assert rows.loc["trend over 0.0001 to 0.1 (log scale)", "effect"] == pytest.approx(2 * mixed.params["x"], abs=1e-6)
    # balanced repeats, config-level variance inside the parameter space: the REML standard errors are the means' too
    assert rows.loc["gelu vs relu", "se"] == pytest.approx(mixed.bse[gelu], rel=0.02)


def test_the_reference_is_the_presets_baseline_else_the_most_sampled_level():
    study = _random_study(n_configs=30, seed=2)
    levels = [t.params["act"] for t in study.trials[::3]]
    most = max(ACT, key=levels.count)
    assert choice_effects(study)["reference"] == {"act": most}
    other = next(a for a in ACT if a != most)
    res = choice_effects(study, reference={"act": other})
    assert res["reference"] == {"act": other} and all(c.endswith(f"vs {other}") for c in
                                                       res["rows"].loc[res["rows"]["parameter"] == "act", "contrast"])


def test_too_few_configs_for_the_model_is_said_not_fitted():
    res = choice_effects(_random_study(n_configs=5))
    k = res["reason"].split(" effects")[0].split("for ")[1]
    assert not res["available"]
    assert f"5 configs for {k} effects: the model needs at least {int(k) + 4} configs" in res["reason"]
    assert res["lines"] == [f"No per-choice effects: {res['reason']}."]


def test_a_grid_is_not_a_sampled_study_and_random_floats_are():
    grid = grid_study({"layers": ("a", "b", "c"), "lr": (0.1, 0.01)}, lambda p: 0.5)
    assert not sampled(collect(grid))
    assert sampled(collect(_random_study(n_configs=10)))
