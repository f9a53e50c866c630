"""Plain-text renderings of analysis results, as ``study report`` (:func:`format_summary`),
``study compare`` and ``study datasets`` print them.

They live here, not in the CLI, so a Python user gets the same text from the same function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from studies.analysis._format import concordance_line
from studies.analysis._headline import headline_count, method_name

if TYPE_CHECKING:
    from studies.analysis._report import Report


def _ci(low: float | None, high: float | None) -> str:
    return "no CI" if low is None else f"95% CI {low:.2f} to {high:.2f}"


def format_comparison(result: Mapping[str, Any]) -> str:
    """The text ``study compare`` prints for a :func:`compare_studies` result: the settled pairs
    and their concordance, rank correlations with their CIs, the cost to decide, top-k agreement,
    the ranks side by side, the pairs that flip order and the pairs least sure to keep it."""
    tau, rho = result["kendall_tau"], result["spearman_rho"]
    tau_ci, rho_ci = _ci(result["kendall_ci_low"], result["kendall_ci_high"]), _ci(result["spearman_ci_low"],
                                                                                     result["spearman_ci_high"])
    lines = [
        f"{result['n_shared']} shared configs (matched on {', '.join(result['matched_on'])}); "
        f"metric: mean {result['metric']}",
        concordance_line(result),
        f"Kendall tau  {'n/a' if tau is None else f'{tau:+.3f}'} ({tau_ci} for the true config means)",
        f"Spearman rho {'n/a' if rho is None else f'{rho:+.3f}'} ({rho_ci}, bootstrap of the observed rho)",
    ]
    if result["kendall_ci"].get("method", "none") != "none":
        lines.append(f"  (tau CI {result['kendall_ci']['method']})")
    lines.append(result["cost_sentence"])
    lines.append(f"top-{result['top_k']} agreement {result['top_k_overlap']}/{result['top_k']}; "
                 f"same best: {result['same_best']}")
    lines.append(f"{'rank A':>6} {'rank B':>6} {'mean A':>8} {'mean B':>8}  config")
    for c in result["configs"]:
        lines.append(f"{c['rank_a']:>6} {c['rank_b']:>6} {c['mean_a']:>8.4f} {c['mean_b']:>8.4f}  {c['config']}")
    flips = result["flips"]
    lines.append(f"{len(flips)} of {result['n_pairs']} pairs flip order" + (":" if flips else ""))
    for f in flips[:20]:
        settled = _settled_note(result, f["config_1"], f["config_2"])
        lines.append(f"  {f['config_1']} vs {f['config_2']}: A {f['a'][0]:.4f}/{f['a'][1]:.4f}, "
                     f"B {f['b'][0]:.4f}/{f['b'][1]:.4f}{settled}")
    doubtful = [p for p in result["pairs"] if p["same_order_probability"] is not None][:5]
    if doubtful:
        lines.append("least sure to keep their order (probability both studies order the pair the same way):")
        for p in doubtful:
            lines.append(f"  {p['same_order_probability']:.2f}  {p['config_1']} vs {p['config_2']}")
    return "\n".join(lines)


def _settled_note(result: Mapping[str, Any], first: str, second: str) -> str:
    """" (settled in both: a real disagreement)" or who settles a flipped pair."""
    for p in result.get("settled_pairs", ()):
        if {p["config_1"], p["config_2"]} == {first, second}:
            if p["status"] == "disagree":
                return "  (settled in both: a real disagreement)"
            where = [n for n, v in (("A", p["settled_a"]), ("B", p["settled_b"])) if v]
            return f"  (settled in {' and '.join(where)} only)" if where else "  (settled in neither: noise)"
    return ""


def format_datasets(info: Mapping[str, Mapping[str, Any]]) -> str:
    """The table ``study datasets`` prints for ``{name: dataset_statistics(name)}``: size, classes,
    imbalance and the two entropies, with a legend."""
    lines = [f"{'dataset':<16} {'images':>7} {'size':>10} {'K':>3} {'imbal.':>6} {'H(label)':>8} {'H(pixels)':>9}"]
    for name, d in info.items():
        size = f"{d['height']}x{d['width']}x{d['channels']}"
        lines.append(f"{name:<16} {d['images']:>7} {size:>10} {d['num_classes']:>3} {d['imbalance_ratio']:>6.2f} "
                     f"{d['label_entropy_bits']:>8.3f} {d['intensity_entropy_bits_mean']:>9.3f}")
    lines.append("H(label): Shannon entropy of the class distribution (bits); H(pixels): mean over images of the "
                 "entropy of the 256-bin grey-level histogram (bits, BT.601 luma for RGB)")
    return "\n".join(lines)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def _transfer_lines(result: dict[str, Any]) -> list[str]:
    """Rank transfer (``--compare-with``) in a few terminal lines."""
    def corr(name: str, value: Any, low: Any, high: Any) -> str:
        if value is None:
            return f"{name} n/a"
        return f"{name} {value:+.3f}" + ("" if low is None else f" [{low:+.2f}, {high:+.2f}]")

    return [
        f"rank transfer {result['study_a']!r} -> {result['study_b']!r}: {result['n_shared']} shared configs, "
        + corr("Kendall tau", result["kendall_tau"], result["kendall_ci_low"], result["kendall_ci_high"])
        + " (true means), "
        + corr("Spearman rho", result["spearman_rho"], result["spearman_ci_low"], result["spearman_ci_high"]),
        f"  {concordance_line(result)}",
        f"  {result['cost_sentence']}",
        f"  top-{result['top_k']} agreement {result['top_k_overlap']}/{result['top_k']}; same best config: "
        f"{result['same_best']}; {len(result['flips'])} of {result['n_pairs']} pairs flip order",
        *race_lines(result),
    ]


def race_lines(result: Mapping[str, Any]) -> list[str]:
    """The transfer race's verdict (``result["race"]``, set by the report), indented."""
    if not result.get("race"):
        return []
    from studies.engine._race_transfer import answer_lines

    return [f"  {line.strip()}" for line in answer_lines(result["race"], result["study_a"], result["study_b"])]


def format_summary(report: Report, *, limit: int = 10) -> str:
    """A few lines for the terminal: top configs, ablation verdicts, importance, noise; floats at 4
    significant digits and no line wider than 100 columns (studies._terminal)."""
    data = report.data
    lines = [f"study {data['study']['name']!r}: {data['study']['completed_configs']} configs, "
             f"{data['study']['completed_trials']} completed trials"]
    choices = data.get("choices")  # a sampled study: which choices mattered comes first
    if choices is not None:
        lines.extend(f"choices: {line}" for line in choices["lines"])
    verdict = data.get("verdict")
    if verdict and choices is not None:  # each sampled config against the best: the count; the report has the rows
        lines.append(f"configs against the best: {headline_count(verdict).split('. ')[0]} (the report lists them)")
    elif verdict:
        lines.extend(f"verdict: {line}" for line in verdict["lines"])
    board = data["leaderboard"]
    for _, row in board.head(limit).iterrows():
        ci = f" [{row.val_ci_low:.4f}, {row.val_ci_high:.4f}]" if _number(row.val_ci_low) else ""
        test = f"  test {row.test_mean:.4f}" if _number(row.test_mean) else ""
        lines.append(f"{row['rank']:>3}. {row.val_mean:.4f}{ci} n={row.n}{test}  {row.label}  ({row.vs_best})")
    if len(board) > limit:
        lines.append(f"     ... {len(board) - limit} more configs")
    ab = data["ablation"]
    if ab["rows"]:
        lines.append(f"ablation vs {', '.join(f'{k}={v}' for k, v in ab['baseline'].items())} "
                     f"({ab['baseline_source']}):")
        for r in ab["rows"]:
            ci = f" [{r['delta_ci_low']:+.4f}, {r['delta_ci_high']:+.4f}]" if _number(r["delta_ci_low"]) else ""
            method = method_name(r.get("correction") or ab["correction"]).lower()
            p = f" p_{method}={r['p_adj']:.3g}" if _number(r.get("p_adj")) else ""
            lines.append(f"  {r['variant']}: {r['delta']:+.4f}{ci}{p} -> {r['verdict']}")
    answer = data.get("importance_answer")  # one evaluator and its noise verdict: no share the verdict calls noise
    if answer and answer["available"]:
        lines.extend(f"importance: {line}" for line in answer["lines"])
    lines.extend(data["summary"]["sentences"])
    variance = data.get("variance_sources")  # a --vary study (studies.analysis._variance)
    if variance is not None:
        lines.append(f"sources of variance (share of the summed variance, {100 * (1 - variance['alpha']):.0f}% CI): "
                     f"validation {variance['text']['value']}; test {variance['text']['test']}")
    transfer = data.get("compare")
    if transfer is not None:
        lines.extend(_transfer_lines(transfer))
    if data.get("aggregate_by_dataset") is not None:  # IQM and P(X > Y) over the datasets (_aggregate)
        from studies.analysis._aggregate_report import summary_lines

        lines.extend(summary_lines(data["aggregate_by_dataset"]))
    best = data.get("best_per_dataset")
    if best is not None and not best.empty:
        lines.append("best model per dataset (mean validation; test beside):")
        groups = [c[: -len(" best")] for c in best.columns if c.endswith(" best")]  # the table's column order
        for _, row in best.iterrows():
            cells = [f"{g}: {row.get(f'{g} best')} ({row.get(f'{g} val'):.4f} / {row.get(f'{g} test'):.4f})"
                     for g in groups if isinstance(row.get(f"{g} best"), str)]
            lines.append(f"  {row['dataset']}: " + "; ".join(cells))
    lines.extend(f"note: {n}" for n in data["notes"])
    from studies._terminal import fit_lines

    return fit_lines(lines)  # 4 significant digits, 100 columns (wrapped under each line's start)
