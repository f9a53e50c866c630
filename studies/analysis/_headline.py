"""The report's first section: what mattered, what did not, what is undecided and how many more
seed repeats would decide it, read off the ablation (else the leaderboard's comparisons with the
best config).

Repeats needed: when the analysis frame carries a ``repeats_needed`` (or ``mde``) column it is
used as is. Otherwise it is the sample size at which a two-sided t-test reaches 80% power for the
observed difference (statsmodels' ``TTestPower`` for paired designs, ``TTestIndPower`` for
unpaired ones; Cohen's d from the observed difference and the SD implied by its Student-t CI),
at a Bonferroni level alpha / m over the m comparisons, which is what Holm's first step needs and
so errs on the side of more repeats. It assumes the observed difference is the true one, so it
is a guide to the order of magnitude, not a promise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from studies.analysis._format import fmt_interval, fmt_number, fmt_p, round_floats

POWER = 0.8  # target power of the "repeats to decide" estimate
MAX_REPEATS = 1000  # beyond this the difference is negligible next to seed noise; said in words


def classify(verdict: Any) -> str:
    """``mattered``, ``no effect`` (an equivalence verdict) or ``undecided``."""
    text = str(verdict).lower()
    if "equivalent" in text or "negligible" in text:
        return "no effect"
    if "better" in text or "worse" in text:
        return "mattered"
    return "undecided"


def repeats_needed(delta: Any, low: Any, high: Any, n: Any, *, alpha: float, paired: bool = True,
                   power: float = POWER) -> int | None:
    """Runs per config for ``power`` to detect ``delta`` (t-test power analysis); None when the
    CI or n cannot give an SD (a single run, a zero-width interval, no difference)."""
    from statsmodels.stats.power import TTestIndPower, TTestPower

    values = (delta, low, high, n)
    if any(v is None or not np.isfinite(float(v)) for v in values) or int(n) < 2 or float(delta) == 0:
        return None
    n = int(n)
    t = stats.t.ppf(0.975, n - 1 if paired else 2 * n - 2)
    half = (float(high) - float(low)) / 2
    # paired: half = t * sd / sqrt(n); unpaired (equal n): half = t * sd * sqrt(2 / n)
    sd = half * math.sqrt(n) / t if paired else half / (t * math.sqrt(2 / n))
    if sd <= 0:
        return None
    d = abs(float(delta)) / sd
    solver = TTestPower() if paired else TTestIndPower()
    try:
        needed = solver.solve_power(effect_size=d, alpha=alpha, power=power, alternative="two-sided")
    except (ValueError, RuntimeError):
        return None
    needed = float(np.asarray(needed).ravel()[0])
    if not math.isfinite(needed):
        return None
    return max(2, math.ceil(needed))


def _rows(ablation_rows: pd.DataFrame, board: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if ablation_rows is not None and not ablation_rows.empty and "verdict" in ablation_rows:
        return ablation_rows, "ablation"
    if board is None or len(board) < 2 or "vs_best" not in board:
        return pd.DataFrame(), "none"
    rows = board.iloc[1:]
    best = board.iloc[0]
    frame = pd.DataFrame({
        "variant": rows["label"], "baseline": best["label"], "verdict": rows["vs_best"],
        "delta": rows["val_mean"] - best["val_mean"], "n_pairs": rows["n"],
    })
    for col in ("repeats_needed", "mde", "more_repeats"):
        if col in rows:
            frame[col] = rows[col]
    return frame.reset_index(drop=True), "leaderboard"


def headline(ablation_rows: pd.DataFrame, board: pd.DataFrame, *, alpha: float = 0.05,
             correction: str = "Dunnett (many-to-one)") -> dict[str, Any]:
    """``{"source", "mattered", "no_effect", "undecided", "lines"}``: each list holds one dict per
    comparison (variant, baseline, delta, ci, p, verdict, repeats_needed, more_repeats), ``lines``
    the sentences the report and the terminal print."""
    rows, source = _rows(ablation_rows, board)
    out: dict[str, Any] = {"source": source, "mattered": [], "no_effect": [], "undecided": [], "lines": [],
                           "correction": correction if source == "ablation" else "Tukey (all pairs with the best)"}
    if rows.empty:
        out["lines"].append("Nothing to decide: the study has a single config (no comparison).")
        return out
    m = len(rows)
    for _, row in rows.iterrows():
        kind = classify(row.get("verdict"))
        n = row.get("n_pairs") if "n_pairs" in row else row.get("n")
        if not (n is not None and np.isfinite(float(n)) and n > 0) and "n_variant" in row:
            n = row.get("n_variant")
        entry = {
            "variant": row.get("variant"), "baseline": row.get("baseline"), "verdict": row.get("verdict"),
            "delta": row.get("delta"), "ci_low": row.get("delta_ci_low"), "ci_high": row.get("delta_ci_high"),
            "p_adj": row.get("p_adj", row.get("vs_best_p")), "method": row.get("correction"),
            "n": None if n is None or not np.isfinite(float(n)) else int(n),
            "repeats_needed": None, "more_repeats": None,
        }
        if kind == "undecided":
            if "repeats_needed" in row:  # the analysis' own estimate; missing = more seeds alone cannot decide it
                needed = row.get("repeats_needed")
                needed = None if needed is None or not np.isfinite(float(needed)) else needed
                entry["unreachable"] = needed is None
            else:
                needed = repeats_needed(entry["delta"], entry["ci_low"], entry["ci_high"], entry["n"], alpha=alpha / m,
                                        paired=str(row.get("design", "paired")).startswith("paired"))
            if needed is not None and entry["n"]:
                needed = max(int(needed), entry["n"] + 1)  # undecided now: at least one more seed (Holm's
                # correction over the rows can leave a difference undecided where one test alone would not be)
            entry["repeats_needed"] = None if needed is None else int(needed)
            if entry["repeats_needed"] is not None and entry["n"]:
                entry["more_repeats"] = max(0, entry["repeats_needed"] - entry["n"])
            if "mde" in row and row.get("mde") is not None:
                entry["mde"] = row.get("mde")
        out[{"mattered": "mattered", "no effect": "no_effect", "undecided": "undecided"}[kind]].append(entry)
    out["mattered"].sort(key=lambda e: -abs(float(e["delta"] or 0)))
    out["lines"] = _sentences(out, source, alpha)
    return out


def method_name(correction: str) -> str:
    """The short name of an adjustment for a column header: "Dunnett", "Tukey", "Holm"..."""
    return str(correction).split(" ")[0] if correction else "adjusted"


def p_header(methods: Any) -> str:
    """The header of an adjusted p column, naming every method its rows used: "p (Dunnett)",
    "p (Dunnett / Bonferroni)"."""
    names = [method_name(m) for m in methods if isinstance(m, str) and m and m != "not tested"]
    names = list(dict.fromkeys(names))
    return f"p ({' / '.join(names)})" if names else "p (adjusted)"


def _effect(e: dict[str, Any], correction: str) -> str:
    text = f"Δ {_signed(e['delta'])}"
    if e.get("ci_low") is not None and np.isfinite(float(e["ci_low"])):
        text += f", simultaneous 95% CI {fmt_interval(e['ci_low'], e['ci_high'])}"
    if e.get("p_adj") is not None and np.isfinite(float(e["p_adj"])):
        method = e.get("method") if isinstance(e.get("method"), str) and e.get("method") else correction
        text += f", p ({method_name(method)}) {fmt_p(e['p_adj'])}"
    return text


def _signed(value: Any) -> str:
    if value is None or not np.isfinite(float(value)):
        return "—"
    text = fmt_number(float(value))
    return text if text.startswith("-") or text == "0" else "+" + text


def _name(e: dict[str, Any]) -> str:
    return round_floats(str(e["variant"]))


def _sentences(out: dict[str, Any], source: str, alpha: float) -> list[str]:
    against = "the baseline" if source == "ablation" else "the best config"
    lines = []
    if out["mattered"]:
        lines.append(f"Mattered ({len(out['mattered'])}, against {against} at alpha = {alpha}): " + "; ".join(
            f"{_name(e)} {e['verdict']} ({_effect(e, out['correction'])})" for e in out["mattered"]) + ".")
    else:
        lines.append(f"Nothing differed detectably from {against} at alpha = {alpha}.")
    if out["no_effect"]:
        lines.append(f"Did not matter (shown equivalent, {len(out['no_effect'])}): " + "; ".join(
            f"{_name(e)} ({_effect(e, out['correction'])})" for e in out["no_effect"]) + ".")
    if out["undecided"]:
        parts = []
        for e in out["undecided"]:
            need = e["repeats_needed"]
            if need is None and e.get("unreachable"):
                decide = ("more repeats alone would not decide it (the difference is within the evaluation set's "
                          "resolution or noise)")
            elif need is None:
                decide = "no estimate of the repeats needed (needs 2 or more runs and a non-zero difference)"
            elif need > MAX_REPEATS:
                decide = f"more than {MAX_REPEATS} repeats per config would be needed: negligible next to seed noise"
            else:
                decide = f"about {need} repeats per config would decide it" + (
                    f" ({e['more_repeats']} more)" if e["more_repeats"] else "")
            parts.append(f"{_name(e)} ({_effect(e, out['correction'])}; {decide})")
        lines.append(f"Undecided ({len(out['undecided'])}: no detectable difference, which is not evidence of none): "
                     + "; ".join(parts) + ".")
    return lines


def headline_count(out: dict[str, Any]) -> str:
    """One sentence: how many comparisons mattered, did not, and are undecided."""
    total = len(out["mattered"]) + len(out["no_effect"]) + len(out["undecided"])
    if not total:
        return out["lines"][0]
    return (f"Of {total} comparison(s): {len(out['mattered'])} mattered, {len(out['no_effect'])} shown not to matter "
            f"(equivalent), {len(out['undecided'])} undecided. Undecided means no detectable difference with these "
            "seeds, which is not evidence of none; the column 'Repeats to decide' says how many seed repeats per "
            "config would decide it.")


def headline_table(out: dict[str, Any]) -> pd.DataFrame:
    """The verdict section's table: mattered (largest effect first), equivalent, then undecided."""
    rows = []
    for kind in ("mattered", "no_effect", "undecided"):
        for e in out[kind]:
            need = e["repeats_needed"]
            rows.append({
                "verdict": e["verdict"], "variant": e["variant"], "delta": e["delta"],
                "delta_ci_low": e["ci_low"], "delta_ci_high": e["ci_high"], "p_adj": e["p_adj"], "n": e["n"],
                "repeats_needed": (f"> {MAX_REPEATS}" if need is not None and need > MAX_REPEATS else need)
                if kind == "undecided" else None,
            })
    return pd.DataFrame(rows)
