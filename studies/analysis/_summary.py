"""The report's summary sentences, each generated from the numbers the tables show.

Why a module of its own: a summary written from different numbers than its tables can contradict
them (a report once said "the best config leads the runner-up by 0.322, which is within seed
noise" beside a seed-noise SD of 0.049: the words came from a test verdict, the number from the
means). Here every sentence is built from one ``facts`` dict, itself read off the leaderboard,
the ablation table and the variance split, and words like "within seed noise" are used only when
the numbers say so (the gap is no larger than the seed-noise SD). :func:`summary_facts` returns
the facts (JSON: ``report.data["summary"]["facts"]``) so tests can check every sentence.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from studies.analysis._collect import StudyTable


def _num(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def summary_facts(table: StudyTable, board: pd.DataFrame, ablation: Any, split: dict[str, Any]) -> dict[str, Any]:
    """The numbers the summary speaks of, taken from the same tables the report shows."""
    facts: dict[str, Any] = {"configs": len(board), "maximize": table.maximize}
    facts["noise"] = "seeds + images" if (board["noise"] == "seeds + images").all() else "seeds"
    best = board.iloc[0]
    facts["best"] = {"label": best["label"], "mean": _num(best["val_mean"]), "ci_low": _num(best["val_ci_low"]),
                     "ci_high": _num(best["val_ci_high"]), "n": int(best["n"])}
    if split.get("available"):
        facts["seed_noise_sd"] = _num(split.get("seed_noise_sd"))
        facts["config_share"] = _num(split.get("config_share"))
        facts["config_share_ci"] = [_num(split.get("config_share_ci_low")), _num(split.get("config_share_ci_high"))]
    if len(board) >= 2:
        second = board.iloc[1]
        gap = abs(float(best["val_mean"]) - float(second["val_mean"]))
        sd = facts.get("seed_noise_sd")
        facts["runner_up"] = {
            "label": second["label"], "mean": _num(second["val_mean"]), "gap": gap,
            "gap_in_seed_sd": gap / sd if sd else None,
            "vs_best": second["vs_best"], "p_adjusted": _num(second.get("vs_best_p")), "n": int(second["n"]),
        }
    rows = ablation.rows
    if not rows.empty:
        verdicts = list(rows["verdict"])
        facts["ablation"] = {
            "baseline_source": ablation.baseline_source,
            "rows": len(rows),
            "better": [v for v, w in zip(rows["variant"], verdicts) if w == "better"],
            "worse": [v for v, w in zip(rows["variant"], verdicts) if w == "worse"],
            "no_difference": [v for v, w in zip(rows["variant"], verdicts) if w == "no detectable difference"],
            "equivalent": [v for v, w in zip(rows["variant"], verdicts) if str(w).startswith("equivalent")],
            "undecided": [v for v, w in zip(rows["variant"], verdicts) if w == "undecided"],
            "margin": ablation.margin,
        }
        quiet = rows[[str(v) in ("no detectable difference", "undecided") for v in verdicts]]
        mde = [m for m in (quiet["mde"] if "mde" in quiet else []) if _num(m) is not None]
        facts["ablation"]["mde_range"] = [min(mde), max(mde)] if mde else None
        facts["ablation"]["n_pairs"] = int(rows["n_pairs"].max()) if "n_pairs" in rows else None
    return facts


def summary_sentences(facts: dict[str, Any]) -> list[str]:
    """Plain sentences from :func:`summary_facts` (and nothing else)."""
    out = []
    best = facts["best"]
    ci = f" (95% CI {best['ci_low']:.4g} to {best['ci_high']:.4g})" if best["ci_low"] is not None else ""
    out.append(f"Best config: {best['label']}, mean objective {best['mean']:.4g}{ci} over {best['n']} run(s).")
    sd = facts.get("seed_noise_sd")
    if sd is not None:
        low, high = facts["config_share_ci"]
        share = f"{100 * facts['config_share']:.0f}%" if facts.get("config_share") is not None else "an unknown share"
        rng = f" (95% CI {100 * low:.0f}-{100 * high:.0f}%)" if low is not None and high is not None else ""
        out.append(f"Configs explain {share}{rng} of the objective's variance; the seed-to-seed noise SD is {sd:.4g}.")
    duel = facts.get("runner_up")
    if duel:
        gap, ratio = duel["gap"], duel["gap_in_seed_sd"]
        size = f" ({ratio:.2g} seed-noise SDs)" if ratio is not None else ""
        lead = f"It leads the runner-up ({duel['label']}) by {gap:.4g}{size}"
        p = f", selection-adjusted p = {duel['p_adjusted']:.3g}" if duel["p_adjusted"] is not None else ""
        if duel["vs_best"] == "worse":
            out.append(f"{lead}; the runner-up is detectably worse{p}.")
        elif str(duel["vs_best"]).startswith("not tested"):
            out.append(f"{lead}; the two were not compared ({duel['vs_best'][len('not tested: '):]}).")
        elif ratio is not None and ratio <= 1:
            out.append(f"{lead}, which is within seed noise: the ranking of the two is not settled{p}.")
        else:
            out.append(f"{lead}, more than the seed-noise SD, yet the comparison does not separate them with "
                       f"{duel['n']} paired run(s){p}: their per-seed differences vary too much (or the best was "
                       "picked from many configs).")
    ab = facts.get("ablation")
    if ab:
        parts = []
        for key, word in (("better", "better"), ("worse", "worse"),
                          ("equivalent", f"equivalent within +-{ab['margin']}"),
                          ("undecided", "undecided"), ("no_difference", "without detectable difference")):
            if ab[key]:
                parts.append(f"{len(ab[key])} {word}")
        untested = ab["rows"] - sum(len(ab[k]) for k in ("better", "worse", "equivalent", "undecided", "no_difference"))
        if untested:
            parts.append(f"{untested} not tested (too few runs)")
        out.append(f"Ablation against the baseline ({ab['baseline_source']}): {ab['rows']} variant(s): "
                   + ", ".join(parts) + ".")
        if ab["mde_range"] is not None:
            lo, hi = ab["mde_range"]
            span = f"{lo:.3g}" if math.isclose(lo, hi, rel_tol=0.05) else f"{lo:.3g} to {hi:.3g}"
            out.append(f"Those without a detectable difference could have missed effects up to {span} (the minimum "
                       f"detectable effect at 80% power with {ab['n_pairs']} paired run(s)): 'no detectable "
                       "difference' is not evidence of no effect"
                       + (" (give --margin for equivalence tests)." if not ab["margin"] else "."))
    return out  # which noise the verdicts count is the report's first note (facts["noise"])
