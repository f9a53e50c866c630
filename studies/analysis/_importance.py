"""Which parameters mattered, with error bars: Optuna's importance evaluators over bootstrap
resamples of seed repeats, and the split of the objective's variance into config and seed noise.

Optuna's evaluators give point estimates. Here each evaluator also runs on ``n_bootstrap``
resampled studies: the config set stays fixed and only the seed noise is resampled, by drawing
seeds with replacement jointly across configs when every config ran the same seeds (layerlab's
paired design), else each config's repeats independently; the forest-based evaluators get a fresh
seed each time. The percentile interval of those replicates is the importance CI.

fANOVA and mean decrease impurity use only parameters present in every completed trial, so
conditional parameters are reported separately (how often active; PED-ANOVA, which Optuna 5
evaluates over the trials where a parameter is active; fANOVA within the active subset) instead
of being dropped silently. Orderings are categorical parameters and are evaluated like any other.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.importance import (
    FanovaImportanceEvaluator,
    MeanDecreaseImpurityImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial
from tqdm.auto import tqdm

from searchspace._errors import valid_list
from studies.analysis._collect import AnalysisError, StudyTable, collect, resample_rows
from studies.analysis._leaderboard import _compare_groups
from studies.analysis._stats import blocked_components, variance_components, verdict

EVALUATORS = ("fanova", "ped_anova", "mdi")
# Optuna's fANOVA one-hot encodes a categorical parameter and enumerates every combination of
# split points over its columns to get the parameter's marginal variance, so its cost grows
# exponentially with the number of choices. Measured on this 2-core machine (16 trees, 3 trials
# per choice): 10 choices 0.24 s, 14 choices 3 s, 16 choices 14 s, 18 choices 84 s per
# evaluation, times (1 + n_bootstrap). Above this many choices fANOVA is skipped with a note.
FANOVA_MAX_CHOICES = 10
EVALUATOR_NAMES = {
    "fanova": "fANOVA (FanovaImportanceEvaluator)",
    "ped_anova": "PED-ANOVA (PedAnovaImportanceEvaluator)",
    "mdi": "mean decrease impurity (MeanDecreaseImpurityImportanceEvaluator)",
}


def _evaluator(name: str, seed: int, n_trees: int) -> optuna.importance.BaseImportanceEvaluator:
    if name == "fanova":
        return FanovaImportanceEvaluator(n_trees=n_trees, seed=seed)
    if name == "mdi":
        return MeanDecreaseImpurityImportanceEvaluator(n_trees=n_trees, seed=seed)
    return PedAnovaImportanceEvaluator()


def harmonise(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Copies of ``trials`` whose parameters share one distribution each (the union of ranges or
    choices), so Optuna's evaluators accept a study whose search space changed along the way
    (they refuse "dynamic search spaces" when parameters are named). Unchanged trials pass as is."""
    merged: dict[str, Any] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            merged[name] = dist if name not in merged else _union(merged[name], dist)
    if all(t.distributions[n] == merged[n] for t in trials for n in t.distributions):
        return list(trials)
    out = []
    for t in trials:
        copy = optuna.trial.create_trial(
            params=t.params, distributions={n: merged[n] for n in t.params}, value=t.value, user_attrs=t.user_attrs
        )
        out.append(copy)
    return out


def _union(a: BaseDistribution, b: BaseDistribution) -> BaseDistribution:
    if a == b:
        return a
    if isinstance(a, CategoricalDistribution) and isinstance(b, CategoricalDistribution):
        return CategoricalDistribution(list(dict.fromkeys([*a.choices, *b.choices])))
    if isinstance(a, IntDistribution) and isinstance(b, IntDistribution):
        log = a.log and b.log
        step = a.step if a.step == b.step and not log else 1
        return IntDistribution(min(a.low, b.low), max(a.high, b.high), log=log, step=step)
    if isinstance(a, (IntDistribution, FloatDistribution)) and isinstance(b, (IntDistribution, FloatDistribution)):
        log = a.log and b.log
        return FloatDistribution(min(a.low, b.low), max(a.high, b.high), log=log)
    raise ValueError(f"parameter has incompatible distributions {a} and {b}")


def _study_of(trials: Sequence[FrozenTrial], direction: str) -> optuna.Study:
    """An in-memory study holding ``trials`` (the evaluators take a study, not a trial list)."""
    study = optuna.create_study(direction=direction)
    study.add_trials(trials)
    return study


def _importances(trials: Sequence[FrozenTrial], direction: str, name: str, params: list[str], seed: int, n_trees: int) -> dict[str, float]:
    # Names go in sorted: Optuna 5.0's MeanDecreaseImpurityImportanceEvaluator sorts the
    # distributions by name but labels its result in the order of ``params``, so an unsorted list
    # swaps the importances between parameters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature and "too few trials" warnings
        out = get_param_importances(_study_of(trials, direction), evaluator=_evaluator(name, seed, n_trees), params=sorted(params))
    return {k: float(out.get(k, 0.0)) for k in params}


def classify_params(table: StudyTable) -> tuple[list[str], dict[str, str], list[str]]:
    """(evaluated, left out with reason, conditional) over the completed trials."""
    n = len(table.trials)
    evaluated, left_out, conditional = [], {}, []
    for name in table.param_names():
        present = [t.params[name] for t in table.trials if name in t.params]
        distinct = {repr(v) for v in present}
        if len(present) < n:
            left_out[name] = f"conditional: present in {len(present)}/{n} completed trials"
            if len(distinct) > 1:
                conditional.append(name)
        elif len(distinct) < 2:
            left_out[name] = f"constant: one value ({present[0]!r}) in all {n} completed trials"
        else:
            evaluated.append(name)
    return evaluated, left_out, conditional


def importance_with_ci(
    study: optuna.Study | StudyTable,
    *,
    evaluators: Sequence[str] = EVALUATORS,
    n_bootstrap: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    n_trees: int = 16,
    progress: bool = False,
) -> dict[str, Any]:
    """Importance of every parameter by each evaluator, with bootstrap CIs over seed repeats
    (``progress``: a bar on stderr over evaluators x replicates; they take most of a report's time).

    Returns ``{"available", "reason", "evaluated", "left_out", "by_evaluator": {evaluator:
    {param: {"value", "ci_low", "ci_high"}}}, "conditional": {...}, "bootstrap": {...}, "notes"}``.
    Importances are Optuna's normalised ones (they sum to 1 per evaluator and are never negative,
    so a CI that "excludes zero" is weak evidence; compare a parameter's CI with the others').
    """
    unknown = [e for e in evaluators if e not in EVALUATORS]
    if unknown:
        raise AnalysisError(f"unknown importance evaluator(s) {valid_list(unknown)}; valid: {valid_list(EVALUATORS)}")
    if n_bootstrap < 0:
        raise AnalysisError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    table = collect(study)
    evaluated, left_out, conditional = classify_params(table)
    n_configs = len(table.groups)
    out: dict[str, Any] = {
        "evaluated": evaluated,
        "left_out": left_out,
        "evaluators": {e: EVALUATOR_NAMES[e] for e in evaluators},
        "by_evaluator": {},
        "conditional": {},
        "notes": [],
    }
    if n_configs < 2:
        return {**out, "available": False, "reason": f"importance needs 2 or more distinct configs; the study has {n_configs}"}
    if not evaluated and not conditional:
        return {**out, "available": False, "reason": "no parameter varies across the completed trials"}
    groups = [np.flatnonzero(table.frame["group"].to_numpy() == g) for g in table.groups]
    resamplable = any(len(g) > 1 for g in groups)
    n_boot = n_bootstrap if resamplable else 0
    plan, scheme = resample_rows(table, np.random.default_rng(seed), n_boot)
    out["bootstrap"] = {
        "replicates": n_boot,
        "resampling": scheme,
        "interval": f"{100 * confidence:g}% percentile",
        "available": n_boot > 0,
        "reason": "" if n_boot else (
            "every config has a single run: there are no repeats to resample, so no CI (point estimates only)"
            if not resamplable else "bootstrap disabled (n_bootstrap=0)"
        ),
    }
    replicates = [[int(i) for rows in replicate for i in rows] for replicate in plan]
    try:
        trials = harmonise(table.trials)
    except ValueError as exc:
        return {**out, "available": False, "reason": f"the search space changed incompatibly between trials ({exc})"}
    bar = tqdm(total=len(evaluators) * (1 + len(replicates)), unit="fit", desc="importance", disable=not progress, leave=False)
    for name in evaluators:
        # PED-ANOVA (Optuna >= 5) evaluates conditional parameters over the trials where they are
        # active; fANOVA and MDI need parameters present in every trial.
        params = evaluated + conditional if name == "ped_anova" else evaluated
        if not params:
            continue
        if name == "fanova" and (wide := _too_many_choices(trials, params)):
            out["notes"].append(f"fanova: not evaluated: {wide} (more than {FANOVA_MAX_CHOICES}; Optuna's fANOVA cost grows "
                                f"exponentially with a categorical's choices); see PED-ANOVA and mean decrease impurity")
            continue
        try:
            bar.set_postfix_str(name)
            point = _importances(trials, table.direction, name, params, seed, n_trees)
            bar.update()
            boots = np.empty((len(replicates), len(params)))
            for r, idx in enumerate(replicates):
                res = _importances([trials[i] for i in idx], table.direction, name, params, seed + 1 + r, n_trees)
                boots[r] = [res[p] for p in params]
                bar.update()
        except (ValueError, RuntimeError) as exc:  # an evaluator that cannot handle this study: say so
            out["notes"].append(f"{name}: not evaluated ({type(exc).__name__}: {exc})")
            continue
        out["by_evaluator"][name] = _with_ci(params, point, boots, confidence)
    bar.close()
    for name in conditional:
        out["conditional"][name] = _conditional(trials, name, left_out[name], out["by_evaluator"].get("ped_anova", {}),
                                                table.direction, seed, n_trees)
    if not evaluated:
        out["notes"].append("every varying parameter is conditional: fANOVA/MDI had nothing to evaluate")
    if len(evaluated) + len(conditional) == 1:
        out["notes"].append("a single varying parameter: its normalised importance is 1 by construction; "
                            "the variance split says whether it matters beyond seed noise")
    return {**out, "available": True, "reason": ""}


def _too_many_choices(trials: Sequence[FrozenTrial], params: Sequence[str]) -> str:
    """'name has N choices' for the parameters fANOVA cannot afford, '' when there are none."""
    wide = {}
    for t in trials:
        for p in params:
            dist = t.distributions.get(p)
            if isinstance(dist, CategoricalDistribution) and len(dist.choices) > FANOVA_MAX_CHOICES:
                wide[p] = len(dist.choices)
    return ", ".join(f"{p} has {n} choices" for p, n in sorted(wide.items()))


def _with_ci(params: list[str], point: dict[str, float], boots: np.ndarray, confidence: float) -> dict[str, dict[str, float | None]]:
    tail = 100 * (1 - confidence) / 2
    res = {}
    for j, p in enumerate(params):
        if len(boots):
            low, high = np.percentile(boots[:, j], [tail, 100 - tail])
            res[p] = {"value": point[p], "ci_low": float(low), "ci_high": float(high)}
        else:
            res[p] = {"value": point[p], "ci_low": None, "ci_high": None}
    return dict(sorted(res.items(), key=lambda kv: -kv[1]["value"]))


def _conditional(trials: list[FrozenTrial], name: str, presence: str, ped: dict, direction: str, seed: int, n_trees: int) -> dict[str, Any]:
    """A conditional parameter: how often active, PED-ANOVA over all trials, fANOVA within the
    subset of trials where it is active."""
    subset = [t for t in trials if name in t.params]
    entry: dict[str, Any] = {"presence": presence, "ped_anova": ped.get(name)}
    shared = [p for p in subset[0].params if all(p in t.params for t in subset) and len({repr(t.params[p]) for t in subset}) > 1]
    configs = {tuple(sorted((k, repr(v)) for k, v in t.params.items())) for t in subset}
    if len(configs) < 2 or name not in shared:
        entry["fanova_within_active"] = None
        entry["reason"] = "fewer than 2 configs where it is active"
        return entry
    if wide := _too_many_choices(subset, shared):
        entry["fanova_within_active"] = None
        entry["reason"] = f"fANOVA not evaluated: {wide} (more than {FANOVA_MAX_CHOICES})"
        return entry
    entry["fanova_within_active"] = _importances(subset, direction, "fanova", shared, seed, n_trees)
    entry["active_trials"] = len(subset)
    return entry


def variance_split(
    study: optuna.Study | StudyTable, *, confidence: float = 0.95, alpha: float = 0.05, test: str = "t"
) -> dict[str, Any]:
    """How much of the objective's variance the config explains versus seed-to-seed noise, and
    whether the best config's lead over the runner-up is within that noise."""
    table = collect(study)
    out = variance_components([table.values(g) for g in table.groups], confidence)
    means = sorted(((float(np.mean(table.values(g))), g) for g in table.groups), reverse=table.maximize)
    if len(means) >= 2:
        (m1, best), (m2, second) = means[0], means[1]
        cmp = _compare_groups(table, best, second, test, confidence)
        word = verdict(cmp, cmp.p_value, alpha=alpha, maximize=table.maximize)
        out["best_vs_runner_up"] = {
            "best": table.label_of(best), "runner_up": table.label_of(second), "gap": m1 - m2,
            "ci_low": cmp.ci_low, "ci_high": cmp.ci_high, "p_value": cmp.p_value, "design": cmp.design,
            "verdict": word, "within_noise": word != "better",
        }
    out["seed_blocked"] = _seed_blocked(table)
    out["summary"] = _summary(out, confidence)
    return out


def _seed_blocked(table: StudyTable) -> dict[str, Any]:
    """The two-way split when every config ran the same seeds once each (a complete block)."""
    if table.pairing == "none":
        return {"available": False, "reason": "trials carry no seed/repeat to pair on"}
    keys = [tuple(sorted(map(repr, table.rows(g)["pair"]))) for g in table.groups]
    if len(set(keys)) != 1 or len(set(keys[0])) != len(keys[0]):
        return {"available": False, "reason": "configs did not all run the same seeds exactly once"}
    matrix = np.array([
        [v for _, v in sorted(zip(map(repr, table.rows(g)["pair"]), table.rows(g)["value"]))] for g in table.groups
    ])
    return blocked_components(matrix)


def _summary(split: dict[str, Any], confidence: float) -> str:
    if not split.get("available"):
        return f"variance split not available: {split.get('reason')}"
    share = split["config_share"]
    text = (
        f"configs explain {100 * share:.0f}% of the objective's variance "
        f"({100 * confidence:g}% CI {100 * split['config_share_ci_low']:.0f}-{100 * split['config_share_ci_high']:.0f}%); "
        f"seed-to-seed noise SD {split['seed_noise_sd']:.4g}, spread of config means SD {split['between_config_sd']:.4g}"
    )
    duel = split.get("best_vs_runner_up")
    blocked = split.get("seed_blocked") or {}
    if blocked.get("available") and blocked["shared_seed_share"] > 0.05:
        text += (f". {100 * blocked['shared_seed_share']:.0f}% of the variance is seed noise shared by all configs "
                 f"(same seed, same luck), which paired comparisons cancel; paired noise SD {blocked['paired_noise_sd']:.4g}")
    if duel:
        if duel["within_noise"]:
            text += (f". The best config ({duel['best']}) leads the runner-up ({duel['runner_up']}) by {duel['gap']:.4g}, "
                     f"which is within seed noise ({duel['verdict']})")
        else:
            text += f". The best config ({duel['best']}) beats the runner-up ({duel['runner_up']}) by {duel['gap']:.4g} beyond seed noise"
    return text
