"""Which parameters mattered, how sure we are, and how much of the objective is config versus
seed noise.

Evaluators (``importance_with_ci(evaluators=...)``; names or Optuna ``BaseImportanceEvaluator``
instances):

- ``anova`` (the default headline): a factorial ANOVA with seed as a block (:mod:`._anova`):
  per parameter, partial omega-squared with a noncentral-F CI and the F-test p-value; on a grid,
  also the two-way interactions the design has degrees of freedom for.
- ``fanova``, ``ped_anova``, ``mdi``: Optuna's evaluators, normalised to sum to 1, with a
  percentile bootstrap CI over seed repeats (seeds drawn jointly across configs when every config
  ran the same seeds, else each config's repeats independently; forests get a fresh seed).

Every evaluator also gets a permutation null (:mod:`._permutation`): each parameter's values
are shuffled across configs and the importance recomputed, giving a p-value and an
``above_noise`` flag (Holm over the parameters). A bootstrap over seeds holds the configs fixed,
so it cannot show an evaluator's built-in preference for a parameter type; the permutation null
can.

Optuna's evaluators see one row per config, its mean over repeats: repeats are noise about the
same config, not extra configs, and a study of 5,000 trials becomes a few hundred rows. The rows
are built once, as plain ``FrozenTrial`` objects handed to the evaluators through a read-only
study view, with no storage and no deep copies.

fANOVA, MDI and the ANOVA use only parameters present in every completed trial; conditional
parameters are reported separately (how often active; PED-ANOVA, which Optuna 5 evaluates over
the configs where a parameter is active; fANOVA within the active subset) and never in the
headline.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import (
    BaseImportanceEvaluator,
    FanovaImportanceEvaluator,
    MeanDecreaseImpurityImportanceEvaluator,
    PedAnovaImportanceEvaluator,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from patsy import PatsyError
from tqdm.auto import tqdm

from searchspace.errors import valid_list
from studies.analysis._anova import MainEffects, factorial_anova, make_design
from studies.analysis._collect import AnalysisError, StudyTable, collect, resample_rows
from studies.analysis._leaderboard import _compare_groups
from studies.analysis._permutation import EARLY_STOP, default_permutations, permutation_null
from studies.analysis._stats import blocked_components, variance_components, verdict

EVALUATORS = ("anova", "fanova", "ped_anova", "mdi")
# Optuna's fANOVA one-hot encodes a categorical parameter and enumerates every combination of
# split points over its columns to get the parameter's marginal variance, so its cost grows
# exponentially with the number of choices. Measured on this 2-core machine (16 trees, 3 trials
# per choice): 10 choices 0.24 s, 14 choices 3 s, 16 choices 14 s, 18 choices 84 s per
# evaluation, times (1 + n_bootstrap). Above this many choices fANOVA is skipped with a note.
FANOVA_MAX_CHOICES = 10
EVALUATOR_NAMES = {
    "anova": "factorial ANOVA with seed as a block (statsmodels ols + anova_lm, Type II; value: partial omega-squared)",
    "fanova": "fANOVA (FanovaImportanceEvaluator)",
    "ped_anova": "PED-ANOVA (PedAnovaImportanceEvaluator)",
    "mdi": "mean decrease impurity (MeanDecreaseImpurityImportanceEvaluator)",
}
_CLASS_NAMES = {FanovaImportanceEvaluator: "fanova", PedAnovaImportanceEvaluator: "ped_anova",
                MeanDecreaseImpurityImportanceEvaluator: "mdi"}


class AnovaImportanceEvaluator(BaseImportanceEvaluator):
    """The factorial ANOVA as an Optuna importance evaluator: partial omega-squared per parameter
    (seed as a block when trials carry layerlab's ``seed``/``repeat``), usable with
    ``optuna.importance.get_param_importances(study, evaluator=AnovaImportanceEvaluator())``."""

    def evaluate(self, study: optuna.Study, params: list[str] | None = None, *, target: Any = None) -> dict[str, float]:
        if target is not None:
            raise ValueError("AnovaImportanceEvaluator analyses the study's objective value; target is not supported")
        inputs = _inputs(collect(study))
        names = [p for p in (params or inputs.evaluated) if p in inputs.evaluated]
        table = factorial_anova(_design(inputs, names))
        res = {t["params"][0]: t["omega_sq"] for t in table["terms"] if len(t["params"]) == 1}
        return dict(sorted(res.items(), key=lambda kv: -kv[1]))


# -- inputs, built once --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    """Everything the evaluators need, in one pass over the trials: per config its parameters,
    per trial row its config index, value and seed block, and one distribution per parameter
    (the union of ranges or choices, when the search space changed along the way)."""

    table: StudyTable
    evaluated: list[str]
    left_out: dict[str, str]
    conditional: list[str]
    config_params: list[dict[str, Any]]
    distributions: dict[str, BaseDistribution]
    row_config: np.ndarray
    values: np.ndarray
    block: np.ndarray | None

    @property
    def n_configs(self) -> int:
        return len(self.config_params)

    def means(self, rows: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Each config's mean value (over ``rows[c]`` when given: a bootstrap replicate)."""
        if rows is None:
            counts = np.bincount(self.row_config, minlength=self.n_configs)
            return np.bincount(self.row_config, weights=self.values, minlength=self.n_configs) / counts
        return np.array([self.values[r].mean() for r in rows])


def _inputs(table: StudyTable) -> _Inputs:
    codes, _ = pd.factorize(table.frame["group"])  # first-seen order, as table.groups
    first = np.full(codes.max() + 1, -1)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    config_params = [dict(table.trials[i].params) for i in first]
    distributions: dict[str, BaseDistribution] = {}
    for t in table.trials:
        for name, dist in t.distributions.items():
            old = distributions.get(name)
            if old is None:
                distributions[name] = dist
            elif old is not dist and (type(old) is not type(dist) or old.__dict__ != dist.__dict__):
                # (comparing __dict__: BaseDistribution.__eq__ is slow, and this runs per trial)
                distributions[name] = _union(old, dist)
    evaluated, left_out, conditional = classify_params(table)
    block = None
    if table.pairing != "none":
        block = pd.factorize(table.frame["pair"].map(repr))[0]
    return _Inputs(table, evaluated, left_out, conditional, config_params, distributions, codes.astype(int),
                   table.frame["value"].to_numpy(float), block)


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
    return [optuna.trial.create_trial(params=t.params, distributions={n: merged[n] for n in t.params}, value=t.value,
                                      user_attrs=t.user_attrs) for t in trials]


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


_STAMP = datetime(2000, 1, 1)  # config rows are not runs; a completed trial must carry some time


class _TrialsView:
    """The read-only part of ``optuna.Study`` that Optuna's importance evaluators use
    (``get_trials``, ``direction(s)``), over a list of trials. Building a real in-memory study
    copies every trial through the storage, deep copies included; at a few hundred configs times
    hundreds of bootstrap and permutation refits that dominated a report's time."""

    def __init__(self, trials: list[FrozenTrial], direction: str):
        self._trials = trials
        self.direction = StudyDirection.MAXIMIZE if direction == "maximize" else StudyDirection.MINIMIZE
        self.directions = [self.direction]

    def _is_multi_objective(self) -> bool:
        return False

    def get_trials(self, deepcopy: bool = False, states: Any = None) -> list[FrozenTrial]:
        return self._trials


def _config_trials(inputs: _Inputs, params: Sequence[str], means: np.ndarray, configs: Sequence[int] | None = None,
                   moved: tuple[str, np.ndarray] | None = None) -> list[FrozenTrial]:
    """One trial per config (value: its mean), parameters restricted to ``params``; ``moved``
    = (name, permutation) gives config ``c`` the value of ``name`` from config ``permutation[c]``."""
    out = []
    for i, c in enumerate(range(inputs.n_configs) if configs is None else configs):
        source = inputs.config_params[c]
        p = {n: source[n] for n in params if n in source}
        if moved is not None and moved[0] in p:
            p[moved[0]] = inputs.config_params[int(moved[1][c])][moved[0]]
        out.append(FrozenTrial(number=i, state=TrialState.COMPLETE, value=float(means[c]), datetime_start=_STAMP,
                               datetime_complete=_STAMP, params=p,
                               distributions={n: inputs.distributions[n] for n in p},
                               user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=i))
    return out


def _raw(
    evaluator: BaseImportanceEvaluator, trials: list[FrozenTrial], direction: str, params: list[str]
) -> dict[str, float]:
    # Names go in sorted: Optuna 5.0's MeanDecreaseImpurityImportanceEvaluator sorts the
    # distributions by name but labels its result in the order of ``params``, so an unsorted list
    # swaps the importances between parameters.
    if type(evaluator) in _CLASS_NAMES:
        study: Any = _TrialsView(trials, direction)
    else:  # an evaluator we do not know may use any part of the Study API: give it a real one
        study = optuna.create_study(direction=direction)
        study.add_trials(trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature and "too few trials" warnings
        out = evaluator.evaluate(study, params=sorted(params))
    return {k: max(0.0, float(out.get(k, 0.0))) for k in params}


def _normalised(raw: dict[str, float]) -> dict[str, float]:
    """As ``optuna.importance.get_param_importances(normalize=True)``: shares summing to 1."""
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()} if total > 0 else {k: 1.0 / len(raw) for k in raw}


def _importances(
    trials: Sequence[FrozenTrial], direction: str, name: str, params: list[str], seed: int, n_trees: int
) -> dict[str, float]:
    """Normalised importances of ``params`` by evaluator ``name`` over ``trials`` as given."""
    return _normalised(_raw(_evaluator(name, seed, n_trees), list(harmonise(trials)), direction, params))


def _evaluator(name: str, seed: int, n_trees: int) -> BaseImportanceEvaluator:
    if name == "fanova":
        return FanovaImportanceEvaluator(n_trees=n_trees, seed=seed)
    if name == "mdi":
        return MeanDecreaseImpurityImportanceEvaluator(n_trees=n_trees, seed=seed)
    return PedAnovaImportanceEvaluator()


def _resolve(evaluators: Sequence[str | BaseImportanceEvaluator]) -> list[tuple[str, BaseImportanceEvaluator | None]]:
    """(name, instance or None for "build it per replicate") for each requested evaluator."""
    out: list[tuple[str, BaseImportanceEvaluator | None]] = []
    for ev in evaluators:
        if isinstance(ev, str):
            if ev not in EVALUATORS:
                raise AnalysisError(f"unknown importance evaluator {ev!r}; valid: {valid_list(EVALUATORS)} "
                                    "or an optuna.importance.BaseImportanceEvaluator instance")
            out.append((ev, None))
        elif isinstance(ev, AnovaImportanceEvaluator):
            out.append(("anova", None))
        elif isinstance(ev, BaseImportanceEvaluator):
            name = _CLASS_NAMES.get(type(ev), type(ev).__name__)
            out.append((name, ev))
        else:
            raise AnalysisError(f"importance evaluator {ev!r} is neither a name ({valid_list(EVALUATORS)}) nor an "
                                "optuna.importance.BaseImportanceEvaluator instance")
    names = [n for n, _ in out]
    if len(set(names)) < len(names):
        raise AnalysisError(f"importance evaluators repeat a name: {valid_list(names)}")
    return out


def classify_params(table: StudyTable) -> tuple[list[str], dict[str, str], list[str]]:
    """(evaluated, left out with reason, conditional) over the completed trials."""
    n = len(table.trials)
    present: dict[str, list[Any]] = {}
    for t in table.trials:
        for k, v in t.params.items():
            present.setdefault(k, []).append(v)
    evaluated, left_out, conditional = [], {}, []
    for name, values in present.items():
        distinct = {repr(v) for v in values}
        if len(values) < n:
            left_out[name] = f"conditional: present in {len(values)}/{n} completed trials"
            if len(distinct) > 1:
                conditional.append(name)
        elif len(distinct) < 2:
            left_out[name] = f"constant: one value ({values[0]!r}) in all {n} completed trials"
        else:
            evaluated.append(name)
    return evaluated, left_out, conditional


# -- the public entry point ----------------------------------------------------------------------


def importance_with_ci(
    study: optuna.Study | StudyTable,
    *,
    evaluators: Sequence[str | BaseImportanceEvaluator] = EVALUATORS,
    n_bootstrap: int = 100,
    n_permutations: int | None = None,
    permute: Sequence[str] | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    seed: int = 0,
    n_trees: int = 16,
    progress: bool = False,
) -> dict[str, Any]:
    """Importance of every parameter by each evaluator, with a CI, a permutation p-value and an
    "above noise" flag (``progress``: a bar on stderr over the refits).

    ``evaluators``: names from ``EVALUATORS`` or ``optuna.importance.BaseImportanceEvaluator``
    instances (an instance is used as given: its own seed, the same for every replicate).
    ``n_permutations``: shuffles per parameter for the permutation null (None: enough for Holm
    at ``alpha`` over the evaluated parameters, see :func:`default_permutations`; 0: none).
    ``permute``: the evaluators (names) that get the permutation null (None: all). Each shuffle
    refits the evaluator, so fANOVA (about 0.2 s a fit) and MDI cost far more than the ANOVA or
    PED-ANOVA; the report permutes only those two by default.

    Returns ``{"available", "reason", "evaluated", "left_out", "conditional", "evaluators",
    "by_evaluator": {evaluator: {param: {"value", "ci_low", "ci_high", "p_value", "p_holm",
    "above_noise", ...}}}, "headline": {"evaluator", "params"}, "anova", "bootstrap",
    "permutation", "notes"}``. ``headline`` is the first evaluator that produced a result,
    restricted to the evaluated parameters (a conditional one never appears there).
    """
    resolved = _resolve(evaluators)
    if n_bootstrap < 0:
        raise AnalysisError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if n_permutations is not None and n_permutations < 0:
        raise AnalysisError(f"n_permutations must be >= 0, got {n_permutations}")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1, got {alpha}")
    table = collect(study)
    inputs = _inputs(table)
    evaluated, left_out, conditional = inputs.evaluated, inputs.left_out, inputs.conditional
    out: dict[str, Any] = {
        "evaluated": evaluated,
        "left_out": left_out,
        "evaluators": {n: EVALUATOR_NAMES.get(n, f"{n} (an Optuna evaluator instance)") for n, _ in resolved},
        "by_evaluator": {},
        "headline": {"evaluator": None, "params": {}},
        "conditional": {},
        "notes": [],
    }
    if inputs.n_configs < 2:
        return {**out, "available": False,
                "reason": f"importance needs 2 or more distinct configs; the study has {inputs.n_configs}"}
    if not evaluated and not conditional:
        return {**out, "available": False, "reason": "no parameter varies across the completed trials"}
    resamplable = bool(np.any(np.bincount(inputs.row_config) > 1))
    n_boot = n_bootstrap if resamplable else 0
    plan, scheme = resample_rows(table, np.random.default_rng(seed), n_boot)
    n_perm = default_permutations(max(1, len(evaluated)), alpha) if n_permutations is None else n_permutations
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
    out["permutation"] = {
        "permutations": n_perm, "alpha": alpha, "available": n_perm > 0 and inputs.n_configs > 2,
        "method": (f"each parameter's values shuffled across configs (repeats kept together), up to {n_perm} times, "
                   f"stopping after {EARLY_STOP} shuffles beat the observed value; "
                   f"above noise: Holm-adjusted p <= {alpha:g}"),
    }
    if inputs.n_configs <= 2 and n_perm:
        out["permutation"]["reason"] = "2 configs: a shuffle can only swap them, so no permutation null"
    elif len(evaluated) + len(conditional) == 1 and n_perm:
        # one parameter that tells every config apart: a shuffle only relabels the same groups, so
        # every shuffle scores the same and the null could never flag it
        out["permutation"]["available"] = False
        out["permutation"]["reason"] = ("a single varying parameter: shuffling its values across configs only relabels "
                                        "the same groups, so no permutation null "
                                        "(the ablation and the variance split test it)")
    names = [n for n, _ in resolved]
    permuted = set(names if permute is None else permute)
    if unknown := sorted(permuted - set(names)):
        raise AnalysisError(f"permute names evaluator(s) {valid_list(unknown)} "
                            f"not among the evaluators {valid_list(names)}")
    out["permutation"]["evaluators"] = [n for n in names if n in permuted]
    rng = np.random.default_rng(seed + 7919)
    per_perm = max(1, len(evaluated))
    bar = tqdm(total=sum(1 + (n_boot if n != "anova" else 0) + n_perm * per_perm * (n in permuted) for n in names),
               unit="fit", desc="importance", disable=not progress, leave=False)
    for name, instance in resolved:
        bar.set_postfix_str(name)
        shuffles = n_perm if out["permutation"]["available"] and name in permuted else 0
        try:
            if name == "anova":
                result = _anova(inputs, confidence, out, shuffles, alpha, rng, bar)
            else:
                result = _optuna(inputs, name, instance, plan, confidence, shuffles, alpha, seed, n_trees, rng, bar,
                                 out["notes"])
        except (ValueError, RuntimeError, np.linalg.LinAlgError, PatsyError) as exc:
            # an evaluator that cannot handle this study: say so
            out["notes"].append(f"{name}: not evaluated ({type(exc).__name__}: {exc})")
            continue
        if result is not None:
            out["by_evaluator"][name] = result
    bar.close()
    for name in conditional:
        out["conditional"][name] = _conditional(inputs, name, out["by_evaluator"].get("ped_anova", {}), seed, n_trees)
    for name, res in out["by_evaluator"].items():
        shown = {p: r for p, r in res.items() if p in evaluated}
        if shown:
            out["headline"] = {"evaluator": name, "params": shown}
            break
    if not evaluated:
        out["notes"].append("every varying parameter is conditional: the ANOVA, fANOVA and MDI had nothing to evaluate")
    if len(evaluated) + len(conditional) == 1:
        out["notes"].append("a single varying parameter: its normalised importance is 1 by construction; "
                            "the ablation and the variance split say whether it matters beyond seed noise")
    return {**out, "available": True, "reason": ""}


def _design(inputs: _Inputs, params: list[str]):
    log = {p for p in params if getattr(inputs.distributions.get(p), "log", False)}
    return make_design(params, inputs.config_params, log, inputs.row_config, inputs.values, inputs.block)


def _anova(inputs: _Inputs, confidence: float, out: dict[str, Any], n_perm: int, alpha: float,
           rng: np.random.Generator, bar) -> dict[str, dict[str, Any]] | None:
    params = inputs.evaluated
    if not params:
        return None
    design = _design(inputs, params)
    table = factorial_anova(design, confidence=confidence)
    out["anova"] = table
    bar.update()
    if table["residual_df"] <= 0:
        out["notes"].append("anova: no residual degrees of freedom (one run per config and as many terms as configs): "
                            "no F-test; the permutation null still applies")
    mains = {t["params"][0]: t for t in table["terms"] if len(t["params"]) == 1}
    res: dict[str, dict[str, Any]] = {}
    for p in params:
        t = mains.get(p, {})
        omega = t.get("omega_sq", 0.0)
        res[p] = {"value": omega if omega is not None and math.isfinite(omega) else 0.0,
                  "ci_low": t.get("ci_low"), "ci_high": t.get("ci_high"),
                  "eta_sq": t.get("eta_sq"), "F": t.get("F"), "df": t.get("df"), "p_f": t.get("p_value")}
    if n_perm:
        model = MainEffects(design)
        null = permutation_null(model.statistic, params, inputs.n_configs, n_permutations=n_perm, alpha=alpha, rng=rng,
                                tick=bar.update)
        for p in params:
            res[p].update(null[p])
    return dict(sorted(res.items(), key=lambda kv: -(kv[1]["value"] or 0.0)))


def _optuna(inputs: _Inputs, name: str, instance: BaseImportanceEvaluator | None, plan: list, confidence: float,
            n_perm: int, alpha: float, seed: int, n_trees: int, rng: np.random.Generator, bar,
            notes: list[str]) -> dict[str, dict[str, Any]] | None:
    # PED-ANOVA (Optuna >= 5) evaluates conditional parameters over the configs where they are
    # active; fANOVA and MDI need parameters present in every config.
    params = inputs.evaluated + inputs.conditional if name == "ped_anova" else list(inputs.evaluated)
    if not params:
        return None
    if name == "fanova" and (wide := _too_many_choices(inputs.distributions, params)):
        notes.append(f"fanova: not evaluated: {wide} (more than {FANOVA_MAX_CHOICES}; Optuna's fANOVA cost grows "
                     f"exponentially with a categorical's choices); see the ANOVA, PED-ANOVA and "
                     "mean decrease impurity")
        return None
    direction = inputs.table.direction
    means = inputs.means()
    evaluator = instance or _evaluator(name, seed, n_trees)
    point = _normalised(_raw(evaluator, _config_trials(inputs, params, means), direction, params))
    bar.update()
    boots = np.empty((len(plan), len(params)))
    for r, replicate in enumerate(plan):
        ev = instance or _evaluator(name, seed + 1 + r, n_trees)
        res = _normalised(_raw(ev, _config_trials(inputs, params, inputs.means(replicate)), direction, params))
        boots[r] = [res[p] for p in params]
        bar.update()
    result = _with_ci(params, point, boots, confidence)
    if n_perm:
        def statistic(p: str, perm: np.ndarray | None) -> float:
            trials = _config_trials(inputs, params, means, moved=None if perm is None else (p, perm))
            return _raw(evaluator, trials, direction, params)[p]

        # conditional parameters are not shuffled: which configs they are active in is the design
        null = permutation_null(statistic, inputs.evaluated, inputs.n_configs, n_permutations=n_perm, alpha=alpha,
                                rng=rng, tick=bar.update)
        for p, entry in null.items():
            result[p].update(entry)
    return result


def _too_many_choices(distributions: dict[str, BaseDistribution], params: Sequence[str]) -> str:
    """'name has N choices' for the parameters fANOVA cannot afford, '' when there are none."""
    wide = {p: len(d.choices) for p in params if isinstance(d := distributions.get(p), CategoricalDistribution)
            and len(d.choices) > FANOVA_MAX_CHOICES}
    return ", ".join(f"{p} has {n} choices" for p, n in sorted(wide.items()))


def _with_ci(
    params: list[str], point: dict[str, float], boots: np.ndarray, confidence: float
) -> dict[str, dict[str, Any]]:
    tail = 100 * (1 - confidence) / 2
    res = {}
    for j, p in enumerate(params):
        if len(boots):
            low, high = np.percentile(boots[:, j], [tail, 100 - tail])
            res[p] = {"value": point[p], "ci_low": float(low), "ci_high": float(high)}
        else:
            res[p] = {"value": point[p], "ci_low": None, "ci_high": None}
    return dict(sorted(res.items(), key=lambda kv: -kv[1]["value"]))


def _conditional(inputs: _Inputs, name: str, ped: dict, seed: int, n_trees: int) -> dict[str, Any]:
    """A conditional parameter: how often active, PED-ANOVA over all configs, fANOVA within the
    subset of configs where it is active."""
    subset = [c for c in range(inputs.n_configs) if name in inputs.config_params[c]]
    entry: dict[str, Any] = {"presence": inputs.left_out[name], "ped_anova": ped.get(name)}
    first = inputs.config_params[subset[0]]
    shared = [p for p in first if all(p in inputs.config_params[c] for c in subset)
              and len({repr(inputs.config_params[c][p]) for c in subset}) > 1]
    if len(subset) < 2 or name not in shared:
        entry["fanova_within_active"] = None
        entry["reason"] = "fewer than 2 configs where it is active"
        return entry
    if wide := _too_many_choices(inputs.distributions, shared):
        entry["fanova_within_active"] = None
        entry["reason"] = f"fANOVA not evaluated: {wide} (more than {FANOVA_MAX_CHOICES})"
        return entry
    trials = _config_trials(inputs, shared, inputs.means(), configs=subset)
    entry["fanova_within_active"] = _normalised(
        _raw(_evaluator("fanova", seed, n_trees), trials, inputs.table.direction, shared)
    )
    entry["active_trials"] = int(np.isin(inputs.row_config, subset).sum())
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
    pairs = {g: table.column("pair")[table.row_numbers(g)].tolist() for g in table.groups}  # no DataFrame per config
    keys = [tuple(sorted(map(repr, pairs[g]))) for g in table.groups]
    if len(set(keys)) != 1 or len(set(keys[0])) != len(keys[0]):
        return {"available": False, "reason": "configs did not all run the same seeds exactly once"}
    matrix = np.array([
        [v for _, v in sorted(zip(map(repr, pairs[g]), table.values(g).tolist()))] for g in table.groups
    ])
    return blocked_components(matrix)


def _summary(split: dict[str, Any], confidence: float) -> str:
    if not split.get("available"):
        return f"variance split not available: {split.get('reason')}"
    share = split["config_share"]
    text = (
        f"configs explain {100 * share:.0f}% of the objective's variance "
        f"({100 * confidence:g}% CI {100 * split['config_share_ci_low']:.0f}-"
        f"{100 * split['config_share_ci_high']:.0f}%); "
        f"seed-to-seed noise SD {split['seed_noise_sd']:.4g}, "
        f"spread of config means SD {split['between_config_sd']:.4g}"
    )
    duel = split.get("best_vs_runner_up")
    blocked = split.get("seed_blocked") or {}
    if blocked.get("available") and blocked["shared_seed_share"] > 0.05:
        text += (f". {100 * blocked['shared_seed_share']:.0f}% of the variance is seed noise shared by all configs "
                 "(same seed, same luck), which paired comparisons cancel; "
                 f"paired noise SD {blocked['paired_noise_sd']:.4g}")
    if duel:
        if duel["within_noise"]:
            text += (f". The best config ({duel['best']}) leads the runner-up ({duel['runner_up']}) "
                     f"by {duel['gap']:.4g}, which is within seed noise ({duel['verdict']})")
        else:
            text += (f". The best config ({duel['best']}) beats the runner-up ({duel['runner_up']}) "
                     f"by {duel['gap']:.4g} beyond seed noise")
    return text
