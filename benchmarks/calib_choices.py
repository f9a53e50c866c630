"""Calibration of the per-choice effects of sampled studies and of the one importance answer
(issue 21, item 10): simulated studies with known truth, analysed by the real
``studies.analysis._choices.choice_effects`` and ``studies.analysis._answer.importance_answer``.

Studies in layerlab's trial layout: a categorical ``act`` (relu, gelu, tanh), ``lr`` sampled on a
log scale over [1e-3, 3e-2] and ``wd`` linear over [0, 0.02]; 3 repeats per config, noise SD 1
(the unit of every effect below) plus a seed effect (SD 0.5) shared by all configs. x_lr and x_wd
are the parameters scaled to [-1, 1] over their ranges (the model's own scale).

- designs: ``random`` (24 configs drawn at random), ``tpe`` (24 configs proposed by Optuna's
  TPESampler, told each config's mean: adaptive, non-uniform sampling) and ``correlated`` (24
  configs whose act depends on their lr: tanh is drawn with probability 0.1 at the low end of lr
  and 0.7 at the high end, as a sampler that learned both choices proposes them together, so a
  level's raw mean difference is confounded with lr's trend), and for the importance answer the
  ``grid`` of benchmarks/calib_importance.py (36 configs);
- truths: ``null`` (nothing matters); ``signal`` (gelu +1, tanh +2 against relu, lr +1 per unit
  of x_lr: a trend of +2 over the range, wd nothing); ``bump`` (only lr matters, as 1.5 cos(pi
  x_lr): a peak inside the range that the model's quadratic fits only roughly, so what it leaves
  over may leak into the other parameters);
- noise: ``normal``, ``t3`` (Student t with 3 df scaled to unit variance: heavy tails) and
  ``unequal`` (the tanh configs' noise SD 2, the others 1).

"Matters" is a row whose simultaneous verdict is not "no detectable effect" (for the importance
answer: a parameter above noise). The max-t test and the grid's F-tests are exact at level alpha
under normal noise, so a measured false-"matters" rate sits around 0.05 and the target allows
for the simulation's own error: alpha plus two binomial standard errors of the rate over the
studies run (:func:`_level`). ::

    python benchmarks/calibration.py --only choices [--quick]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

optuna.logging.set_verbosity(optuna.logging.WARNING)

ACT = ("relu", "gelu", "tanh")
LR, WD = (1e-3, 3e-2), (0.0, 0.02)
DISTRIBUTIONS = {"act": CategoricalDistribution(ACT), "lr": FloatDistribution(*LR, log=True),
                 "wd": FloatDistribution(*WD)}
SIGNAL = {"gelu vs relu": 1.0, "tanh vs relu": 2.0, "lr trend": 2.0}  # the true effects of the signal truth


def _x(params: dict[str, Any]) -> tuple[float, float]:
    x_lr = 2 * (math.log10(params["lr"]) - math.log10(LR[0])) / (math.log10(LR[1]) - math.log10(LR[0])) - 1
    return x_lr, 2 * (params["wd"] - WD[0]) / (WD[1] - WD[0]) - 1


def _mean(params: dict[str, Any], truth: str) -> float:
    x_lr, _ = _x(params)
    if truth == "signal":
        return {"relu": 0.0, "gelu": 1.0, "tanh": 2.0}[params["act"]] + x_lr
    if truth == "bump":
        return 1.5 * math.cos(math.pi * x_lr)
    return 0.0


def _noise(rng: np.random.Generator, params: dict[str, Any], kind: str) -> float:
    if kind == "t3":
        return float(rng.standard_t(3) / math.sqrt(3.0))  # Var(t3) = 3
    scale = 2.0 if kind == "unequal" and params["act"] == "tanh" else 1.0
    return float(rng.normal(0.0, scale))


def simulated_study(*, design: str, truth: str, noise: str, rng: np.random.Generator, n_configs: int = 24,
                    repeats: int = 3) -> optuna.Study:
    seed_effect = rng.normal(0.0, 0.5, size=repeats)

    def draw(params: dict[str, Any]) -> list[float]:
        return [_mean(params, truth) + seed_effect[r] + _noise(rng, params, noise) for r in range(repeats)]

    configs, drawn = [], []
    if design == "tpe":
        sampler = optuna.samplers.TPESampler(seed=int(rng.integers(2**31)), n_startup_trials=8)
        driver = optuna.create_study(direction="maximize", sampler=sampler)
        for _ in range(n_configs):
            trial = driver.ask(DISTRIBUTIONS)
            configs.append(dict(trial.params))
            drawn.append(draw(trial.params))
            driver.tell(trial, float(np.mean(drawn[-1])))
    else:
        for _ in range(n_configs):
            params = {"lr": float(10 ** rng.uniform(*np.log10(LR))), "wd": float(rng.uniform(*WD))}
            if design == "correlated":  # P(tanh) from 0.1 to 0.7 along lr; relu and gelu share the rest
                tanh = 0.1 + 0.6 * (_x({**params, "act": "relu"})[0] + 1) / 2
                params["act"] = str(rng.choice(ACT, p=[(1 - tanh) / 2, (1 - tanh) / 2, tanh]))
            else:
                params["act"] = str(rng.choice(ACT))
            configs.append(params)
            drawn.append(draw(params))
    trials = []
    for i, params in enumerate(configs):
        for r, value in enumerate(drawn[i]):
            attrs = {"config_id": f"cfg{i:04d}", "repeat": r, "seed": 1000 + r}
            trials.append(optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, value=value,
                                                    user_attrs=attrs))
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    return study


def _key(row: Any) -> str:
    return f"{row['parameter']} {row['kind']}" if row["kind"] != "level" else row["contrast"]


def _truth_of(key: str, truth: str, reference: str) -> float:
    """The true value of an effect row (levels against ``reference``)."""
    levels = {"relu": 0.0, "gelu": 1.0, "tanh": 2.0} if truth == "signal" else dict.fromkeys(ACT, 0.0)
    if " vs " in key:
        level = key.split(" vs ")[0]
        return levels[level] - levels[reference]
    if truth == "signal" and key == "lr trend":
        return 2.0
    return 0.0  # wd trend/curvature; lr curvature under the signal truth (bump: not compared)


def _naive(study: optuna.Study, level: str, reference: str) -> float:
    """The raw difference of the configs' means at ``level`` and at ``reference``: what a reader
    sees in the leaderboard without the model."""
    from studies.analysis._collect import collect

    table = collect(study)
    means = {g: float(np.mean(table.values(g))) for g in table.groups}
    acts = {g: table.params_of(g)["act"] for g in table.groups}
    a = [m for g, m in means.items() if acts[g] == level]
    b = [m for g, m in means.items() if acts[g] == reference]
    return float(np.mean(a) - np.mean(b)) if a and b else math.nan


def _rates(design: str, truth: str, noise: str, n_studies: int, seed: int) -> dict[str, float]:
    from studies.analysis._choices import choice_effects

    rng = np.random.default_rng(seed)
    any_matters = other_matters = covered = fitted = 0
    errors: dict[str, list[float]] = {}
    naive: list[float] = []
    tanh_found = 0
    for s in range(n_studies):
        study = simulated_study(design=design, truth=truth, noise=noise, rng=rng)
        res = choice_effects(study, seed=seed + s, reference={"act": "relu"})
        if not res["available"]:
            continue
        fitted += 1
        rows = res["rows"]
        decided = rows["verdict"] != "no detectable effect"
        any_matters += bool(decided.any())
        other_matters += bool((decided & (rows["parameter"] != "lr")).any())
        ok = True
        for _, row in rows.iterrows():
            key = _key(row)
            if truth == "bump" and row["parameter"] == "lr":
                continue
            t = _truth_of(key, truth, "relu")
            ok &= bool(row["effect_ci_low"] <= t <= row["effect_ci_high"])
            errors.setdefault(key, []).append(row["effect"] - t)
            if key == "tanh vs relu" and row["verdict"] == "better":
                tanh_found += 1
        covered += ok
        if truth == "signal":
            naive.append(_naive(study, "tanh", "relu") - 2.0)
    fitted = max(fitted, 1)
    bias = {k: float(np.mean(v)) for k, v in errors.items() if k in SIGNAL}
    return {"any": any_matters / fitted, "others": other_matters / fitted, "covered": covered / fitted,
            "bias": max((abs(b) for b in bias.values()), default=math.nan), "bias_by": bias,
            "naive_bias": float(np.nanmean(naive)) if naive else math.nan, "tanh": tanh_found / fitted,
            "fitted": fitted / n_studies}


def _answer_rate(signal: bool, n_studies: int, seed: int) -> dict[str, float]:
    """The importance answer on calib_importance's grid: any parameter above noise, act first."""
    from calib_importance import simulated_study as grid_study

    from studies.analysis._importance import importance_with_ci
    from studies.analysis._answer import importance_answer

    rng = np.random.default_rng(seed)
    flagged = act = 0
    tests = set()
    for s in range(n_studies):
        study = grid_study(design="grid", signal=signal, rng=rng)
        answer = importance_answer(importance_with_ci(study, evaluators=("anova",), n_bootstrap=0, seed=seed + s))
        tests.add(answer["test"])
        flagged += bool(answer["mattered"])
        act += answer["mattered"][:1] == ["act"]
    assert tests == {"F-test"}, tests  # a full grid: the answer's verdict is the ANOVA's F-tests
    return {"any": flagged / n_studies, "act": act / n_studies}


def _level(n_studies: int, alpha: float = 0.05) -> float:
    """Target of a false-positive rate measured over ``n_studies``: alpha + 2 binomial SE (an exact
    level-alpha test exceeds it in about 2% of calibration runs)."""
    return round(alpha + 2 * math.sqrt(alpha * (1 - alpha) / n_studies), 3)


def _check(name: str, measured: float, op: str, bound: float) -> dict[str, Any]:
    passed = measured <= bound if op == "<=" else measured >= bound
    return {"check": name, "measured": float(measured), "target": f"{op} {bound:g}", "passed": bool(passed)}


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    """The checks; ``quick``: fewer studies (a fast fixed-seed subset with looser bounds)."""
    n_random, n_tpe = (40, 12) if quick else (400, 200)
    checks = []
    for design, noise, n in (("random", "normal", 1000), ("tpe", "normal", n_tpe), ("random", "t3", n_random),
                             ("random", "unequal", n_random)):
        if quick and noise != "normal":
            continue
        n = n_random if quick and design == "random" else n
        null = _rates(design, "null", noise, n, seed + 1)
        bound = _level(n) if not quick else (0.15 if design == "random" else 0.25)
        checks.append(_check(f"choices_null_any_matters_{design}_{noise}", null["any"], "<=", bound))
    bump = _rates("tpe", "bump", "normal", n_tpe, seed + 2)
    checks.append(_check("choices_bump_lr_only_others_matter_tpe", bump["others"], "<=",
                         0.25 if quick else _level(n_tpe)))
    signal = _rates("tpe", "signal", "normal", n_tpe, seed + 3)
    checks.append(_check("choices_signal_max_abs_bias_sd_tpe", signal["bias"], "<=", 0.3 if quick else 0.1))
    checks.append(_check("choices_signal_simultaneous_coverage_tpe", signal["covered"], ">=", 0.75 if quick else 0.93))
    checks.append(_check("choices_signal_tanh_found_tpe", signal["tanh"], ">=", 0.8))
    confounded = _rates("correlated", "signal", "normal", n_random, seed + 4)
    checks.append(_check("choices_signal_naive_tanh_bias_sd_correlated", abs(confounded["naive_bias"]), ">=", 0.3))
    checks.append(_check("choices_signal_max_abs_bias_sd_correlated", confounded["bias"], "<=", 0.3 if quick else 0.1))
    if not quick:
        checks.append(_check("choices_signal_simultaneous_coverage_correlated", confounded["covered"], ">=", 0.93))
    n_grid = 20 if quick else 1000
    grid_null = _answer_rate(False, n_grid, seed + 5)
    checks.append(_check("answer_null_any_above_noise_grid", grid_null["any"], "<=", 0.15 if quick else _level(n_grid)))
    n_grid = 20 if quick else 400
    grid_signal = _answer_rate(True, n_grid, seed + 6)
    checks.append(_check("answer_signal_act_first_above_noise_grid", grid_signal["act"], ">=", 0.95))
    return checks


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for c in run(quick="--quick" in sys.argv):
        print(f"calibration: {c['check']} {c['measured']:.4g} target {c['target']} {'PASS' if c['passed'] else 'FAIL'}")
