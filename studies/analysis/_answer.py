"""One importance answer: which parameters matter beyond seed noise, from one evaluator and its
own noise verdict, and why the other evaluators' numbers differ.

A report that printed four evaluators side by side (ANOVA 0.969, fANOVA 0.07, PED-ANOVA 0.98,
MDI 0.2 for one parameter) left the reader to pick one, and it printed the ANOVA's share beside
its own "above noise: no". Here the answer is the factorial ANOVA (the calibrated default of
:func:`studies.analysis.importance_with_ci`): a parameter's share (partial omega-squared with
its CI) is shown only when its noise verdict says it matters; the others are named as not
distinguishable from noise, without a number that would read as a finding.

The noise verdict, Holm over the parameters: on a full factorial grid, the ANOVA's own F-tests (the
randomised-block factorial analysis: each config is a cell and its repeats are true replicates,
so the F reference is exact under normal noise; the permutation null cannot reach Holm's level on
a small grid, where few shuffles are distinct: 4 x 2 configs gave p = 0.08 for an F of 2,000); on
any other design the permutation null (a sampled config's repeats are not replicates of the
parameters' effects, and the F-tests count them as such); an F-test for a single factor when no
permutation null could run; else none, and that is said. Both are calibrated in
benchmarks/calib_choices.py and benchmarks/calib_importance.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from studies.analysis._format import fmt_interval, fmt_number, fmt_p
from studies.analysis._stats import holm

ANSWER_EVALUATOR = "anova"
WHY_OTHERS = (
    "Why the other evaluators differ from this answer: they answer other questions, and the report gives them no noise "
    "verdict. fANOVA, PED-ANOVA and mean decrease impurity (MDI) are normalised to sum to 1 over the parameters, so "
    "even when nothing matters their shares add up to 1 and one of them looks large; the ANOVA's value is partial "
    "omega-squared, a share of the objective's variance net of the other parameters and the seed, on another scale. "
    "fANOVA splits the variance of a random-forest fit over the whole search space, including regions few configs "
    "sampled; PED-ANOVA asks which parameters separate the best configs (a top quantile) from the rest, a local "
    "question; MDI favours parameters with many distinct values (sampled floats, wide categoricals). Two of them can "
    "disagree by 100x on a parameter that does not matter. Read them as descriptions of this sample, not as evidence: "
    "the calibration (docs/importance.md) measures how often each calls noise important."
)


def importance_answer(importance: Mapping[str, Any], *, alpha: float = 0.05) -> dict[str, Any]:
    """``{"available", "evaluator", "test", "method", "params": [{parameter, verdict, value,
    ci_low, ci_high, p, shown}], "mattered", "noise", "lines", "others"}`` from an
    :func:`importance_with_ci` result. ``shown``: the share is printed (its verdict says it
    matters, or no verdict exists)."""
    out: dict[str, Any] = {"available": False, "evaluator": None, "test": "none", "method": "", "params": [],
                           "mattered": [], "noise": [], "lines": [], "others": []}
    if not importance.get("available"):
        out["lines"] = [f"No importance: {importance.get('reason')}."]
        return out
    by = importance["by_evaluator"]
    name = ANSWER_EVALUATOR if ANSWER_EVALUATOR in by else importance["headline"]["evaluator"]
    if name is None:
        out["lines"] = ["No importance: no evaluator produced a result (see the notes)."]
        return out
    result = {p: r for p, r in by[name].items() if p in importance["evaluated"]}
    anova = importance.get("anova", {}) if name == "anova" else {}
    test, p_values = _noise_test(result, anova.get("kinds", {}), bool(anova.get("grid")))
    out.update(available=True, evaluator=name, test=test, method=_method(name, test, len(result), alpha))
    for p, r in result.items():
        p_value = p_values.get(p)
        if test == "none":
            verdict = "no noise verdict"
        else:
            above = p_value is not None and p_value < alpha * (1 + 1e-9)
            verdict = "above noise" if above else "not distinguishable from noise"
        entry = {"parameter": p, "verdict": verdict, "value": r.get("value"), "ci_low": r.get("ci_low"),
                 "ci_high": r.get("ci_high"), "p": p_value, "shown": verdict != "not distinguishable from noise"}
        out["params"].append(entry)
    out["params"].sort(key=lambda e: (e["verdict"] != "above noise", -(e["value"] or 0.0)))
    out["mattered"] = [e["parameter"] for e in out["params"] if e["verdict"] == "above noise"]
    out["noise"] = [e["parameter"] for e in out["params"] if e["verdict"] == "not distinguishable from noise"]
    out["others"] = [n for n in by if n != name]
    out["lines"] = _lines(out)
    return out


def _noise_test(result: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str],
                grid: bool) -> tuple[str, dict[str, float | None]]:
    tested = [p for p, r in result.items() if kinds.get(p) == "factor" and r.get("p_f") is not None]
    f_test = bool(tested) and len(tested) == len(result)
    if f_test and grid:
        return "F-test", dict(zip(tested, holm([result[p]["p_f"] for p in tested])))
    if result and all("p_holm" in r for r in result.values()):
        return "permutation", {p: r["p_holm"] for p, r in result.items()}
    if f_test and len(result) == 1:
        return "F-test", {tested[0]: result[tested[0]]["p_f"]}
    return "none", {}


def _method(name: str, test: str, k: int, alpha: float) -> str:
    what = ("factorial ANOVA with seed as a block; share = partial omega-squared with its 95% CI" if name == "anova"
            else f"{name} (normalised importance)")
    if test == "permutation":
        return f"{what}; noise verdict: permutation null, Holm over the {k} parameter(s) at alpha = {alpha:g}"
    if test == "F-test":
        return (f"{what}; noise verdict: the ANOVA's F-tests (a full grid: each config's repeats are replicates), Holm "
                f"over the {k} parameter(s) at alpha = {alpha:g}")
    return f"{what}; no noise verdict (no permutation null could run, e.g. 2 configs)"


def _share(e: Mapping[str, Any]) -> str:
    text = fmt_number(e["value"])
    if e.get("ci_low") is not None:
        text += f" {fmt_interval(e['ci_low'], e['ci_high'])}"
    return text + (f", p {fmt_p(e['p'])}" if e.get("p") is not None else "")


def _lines(out: Mapping[str, Any]) -> list[str]:
    share = "partial omega-squared" if out["evaluator"] == "anova" else "importance"
    above = [e for e in out["params"] if e["verdict"] == "above noise"]
    lines = []
    if out["test"] == "none":
        shares = "; ".join(f"{e['parameter']} {_share(e)}" for e in out["params"])
        lines.append(f"Importance ({out['method']}): {shares}. Without a noise verdict these shares may be noise.")
        return lines
    if above:
        lines.append(f"Parameters that matter beyond seed noise ({share}): "
                     + "; ".join(f"{e['parameter']} {_share(e)}" for e in above) + ".")
    else:
        lines.append("No parameter's share of the objective's variance is distinguishable from seed noise.")
    if out["noise"]:
        lines.append("Not distinguishable from noise: " + ", ".join(out["noise"]) + " (no share shown: one the noise "
                     "verdict cannot tell from noise would read as a finding).")
    return lines


def answer_table(answer: Mapping[str, Any]) -> pd.DataFrame:
    """The answer as a table: verdict first; the share only where the verdict lets it stand."""
    rows = [{"verdict": e["verdict"], "parameter": e["parameter"],
             "importance": e["value"] if e["shown"] else None,
             "importance_ci_low": e["ci_low"] if e["shown"] else None,
             "importance_ci_high": e["ci_high"] if e["shown"] else None,
             "p_noise": e["p"]} for e in answer["params"]]
    return pd.DataFrame(rows)


def others_table(importance: Mapping[str, Any], answer: Mapping[str, Any]) -> pd.DataFrame:
    """The other evaluators' values (and CIs when bootstrapped), for the fold."""
    rows = [{"evaluator": name, "parameter": p, "importance": r["value"], "importance_ci_low": r.get("ci_low"),
             "importance_ci_high": r.get("ci_high")}
            for name, res in importance.get("by_evaluator", {}).items() if name in answer["others"]
            for p, r in res.items()]
    return pd.DataFrame(rows)


def disagreements(answer: Mapping[str, Any], choices: Mapping[str, Any]) -> list[str]:
    """Parameters on which the per-choice effects and the importance verdict disagree, in words."""
    if not answer.get("available") or answer["test"] == "none" or not choices.get("available"):
        return []
    rows = choices["rows"]
    decided = set(rows.loc[rows["verdict"] != "no detectable effect", "parameter"])
    tested = set(rows["parameter"])
    above = set(answer["mattered"])
    odd = sorted((decided - above) | ((above & tested) - decided))
    if not odd:
        return []
    return [f"The per-choice effects and the importance verdict disagree on {', '.join(odd)}: an effect tests one "
            "contrast (a level against the reference, a trend) with the other parameters held fixed, the importance "
            "verdict a parameter's whole share against a permutation null, so one can separate from noise where the "
            "other does not."]
