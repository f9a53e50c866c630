"""The sections a reader decides on: the first screen (a grid's verdicts against the baseline, a
sampled study's per-choice effects with the importance answer) and the importance section (the
one answer first, the other evaluators behind a fold that says why they differ). The other
sections are in :mod:`studies.analysis._sections`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from studies.analysis._format import DECIDE, table_options
from studies.analysis._headline import headline_count, headline_table, p_header
from studies.analysis._sections import Fold, Section


def verdict_section(verdict: dict[str, Any], ablation, ids: dict[str, str] | None = None) -> Section:
    """The first section of a grid study: how many choices mattered, and against what."""
    any_rows = verdict["mattered"] or verdict["undecided"] or verdict["no_effect"]
    methods = [e.get("method") for kind in ("mattered", "no_effect", "undecided") for e in verdict[kind]]
    table = table_options(headline_table(verdict), ["verdict", "variant", *DECIDE[1:], "n"], DECIDE, ids,
                     {"p_adj": p_header(methods or [verdict["correction"]])})
    return Section("Verdict: what mattered", [headline_count(verdict)] + _verdict_how(verdict, ablation),
                   [table] if any_rows else [])


def choices_section(choices: dict[str, Any], answer: dict[str, Any], fig, notes: list[str]) -> Section:
    """The first section of a sampled study: which choices mattered (per-choice effects, decision
    columns first), which parameters matter beyond noise (the importance answer); how it was
    computed behind a fold. The configs come after."""
    paras, tables, how = [], [], []
    if choices.get("available"):
        rows = choices["rows"]
        n_decided = int((rows["verdict"] != "no detectable effect").sum())
        paras.append(f"Of {len(rows)} effect(s) of the sampled choices, {n_decided} decided and "
                     f"{len(rows) - n_decided} undecided (no detectable effect, which is not evidence of none). Each "
                     f"effect is adjusted for every other parameter over the {choices['n_configs']} sampled configs, "
                     "and the verdicts and intervals are simultaneous over all of them.")
        main = ["verdict", "parameter", "contrast", "effect", "effect_ci", "p_adj", "configs_needed"]
        tables.append(table_options(rows, main, ["verdict", "effect", "effect_ci", "p_adj", "configs_needed"],
                               headers={"p_adj": "p (max-t)"}))
        refs = ", ".join(f"{k}={v}" for k, v in choices["reference"].items())
        how.append(f"{choices['method']}. Model: {choices['formula']}. Reference levels: {refs or 'none'}. A numeric "
                   "parameter's trend is the fitted change from the low to the high end of its searched range (log "
                   "scale when sampled on one); its curvature, the fitted middle minus the mean of the two ends. The "
                   "regression is what keeps a choice TPE sampled together with a good one from taking its credit "
                   "(benchmarks/calib_choices.py measures the bias and the false 'matters' rate).")
        noise = choices.get("noise") or {}
        if noise.get("available"):
            how.append(f"Of the unexplained variance of the config means, {100 * noise['seed_share']:.0f}% is seed "
                       "noise (more repeats shrink it) and the rest is what the model does not explain (only more "
                       "configs shrink that part of the intervals).")
        how.extend(f"Left out: {k} ({v})." for k, v in choices["left_out"].items())
    else:
        paras.append(f"No per-choice effects: {choices.get('reason')}.")
    after = ["Importance: " + " ".join(answer["lines"]), *notes]
    return Section("Verdict: which choices mattered", paras, tables, [fig] if fig is not None else [],
                   [Fold("How these effects were computed", how)] if how else [], after=after)


def _verdict_how(verdict: dict[str, Any], ablation) -> list[str]:
    if verdict["source"] == "ablation":
        base = ", ".join(f"{k}={v}" for k, v in ablation.baseline.items())
        return [f"Each variant against the baseline {base} ({ablation.baseline_source}); "
                "details in the ablation section."]
    if verdict["source"] == "leaderboard":
        return ["No ablation baseline to compare with: each config against the best one (leaderboard's verdict)."]
    return []


def importance_section(importance: dict[str, Any], answer: dict[str, Any], fig) -> Section:
    """The one importance answer (its evaluator and noise verdict) first; the other evaluators,
    the ANOVA table and the methods behind a fold that says why the evaluators differ."""
    if not importance["available"]:
        return Section("Parameter importance", [f"No importance: {importance['reason']}."])
    from studies.analysis._answer import WHY_OTHERS, answer_table, others_table

    paras = [*answer["lines"], f"How: {answer['method']}."]
    for name, reason in importance["left_out"].items():
        paras.append(f"Left out: {name} ({reason}).")
    tables = [table_options(answer_table(answer), ["verdict", "parameter", "importance", "importance_ci", "p_noise"],
                       ["verdict", "importance", "importance_ci", "p_noise"])] if answer["params"] else []
    detail = [WHY_OTHERS] if answer["others"] else []
    boot = importance["bootstrap"]
    if answer["others"]:
        if boot["available"]:
            detail.append(f"Their CIs: {boot['interval']} over {boot['replicates']} bootstrap replicates "
                          f"({boot['resampling']}).")
        else:
            detail.append(f"Their CIs: not computed ({boot['reason']}; `--bootstrap N` adds them).")
    perm = importance.get("permutation", {})
    if perm.get("evaluators"):
        detail.append(f"Permutation null ({', '.join(perm['evaluators'])}): {perm['method']}.")
    elif perm.get("reason"):
        detail.append(f"Permutation null: {perm['reason']}.")
    detail.extend(f"Note: {n}." for n in importance["notes"])
    for name, entry in importance["conditional"].items():
        ped = entry.get("ped_anova")
        within = entry.get("fanova_within_active")
        text = f"Conditional {name}: {entry['presence']}"
        if ped:
            text += f"; PED-ANOVA importance {ped['value']:.3f}"
        if within:
            text += f"; fANOVA within the trials where it is active: {within.get(name, 0.0):.3f}"
        detail.append(text + ".")
    folded = [others_table(importance, answer)] if answer["others"] else []
    if importance.get("anova", {}).get("terms"):
        anova = importance["anova"]
        detail.append(f"ANOVA ({anova['formula']}; {'full grid' if anova['grid'] else 'not a full grid'}, "
                      f"residual df {anova['residual_df']:g}): main effects"
                      + (" and two-way interactions" if anova["interactions"] else "")
                      + "; its table is the last below (F-test p-values count every run as independent; the noise "
                      "verdict above does not).")
        folded.append(pd.DataFrame([{k: v for k, v in t.items() if k != "params"} for t in anova["terms"]]))
    others = ", ".join(answer["others"])
    summary = (f"Other evaluators ({others}) and why they differ; the ANOVA table" if others
               else "The ANOVA table and the methods")
    return Section("Parameter importance", paras, tables, [fig] if fig is not None else [],
                   [Fold(summary, detail, [t for t in folded if not t.empty])])
