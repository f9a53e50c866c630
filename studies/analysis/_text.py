"""Plain-text renderings of analysis results, as ``study compare`` and ``study datasets`` print them.

They live here, not in the CLI, so a Python user gets the same text from the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _ci(low: float | None, high: float | None) -> str:
    return "no CI" if low is None else f"95% CI {low:.2f} to {high:.2f}"


def format_comparison(result: Mapping[str, Any]) -> str:
    """The text ``study compare`` prints for a :func:`compare_studies` result: rank correlations
    with their CIs, top-k agreement, the ranks side by side, the pairs that flip order and the
    pairs least sure to keep it."""
    tau, rho = result["kendall_tau"], result["spearman_rho"]
    lines = [
        f"{result['n_shared']} shared configs (matched on {', '.join(result['matched_on'])}); metric: mean {result['metric']}",
        f"Kendall tau  {'n/a' if tau is None else f'{tau:+.3f}'} ({_ci(result['kendall_ci_low'], result['kendall_ci_high'])})",
        f"Spearman rho {'n/a' if rho is None else f'{rho:+.3f}'} ({_ci(result['spearman_ci_low'], result['spearman_ci_high'])})",
    ]
    if result["kendall_ci"].get("method", "none") != "none":
        lines.append(f"  (tau CI for the true config means: {result['kendall_ci']['method']}; "
                     f"{result['kendall_ci']['settled_pairs']} of {result['n_pairs']} pairs ordered beyond noise in both studies)")
    lines.append(f"top-{result['top_k']} agreement {result['top_k_overlap']}/{result['top_k']}; same best: {result['same_best']}")
    lines.append(f"{'rank A':>6} {'rank B':>6} {'mean A':>8} {'mean B':>8}  config")
    for c in result["configs"]:
        lines.append(f"{c['rank_a']:>6} {c['rank_b']:>6} {c['mean_a']:>8.4f} {c['mean_b']:>8.4f}  {c['config']}")
    flips = result["flips"]
    lines.append(f"{len(flips)} of {result['n_pairs']} pairs flip order" + (":" if flips else ""))
    for f in flips[:20]:
        lines.append(f"  {f['config_1']} vs {f['config_2']}: A {f['a'][0]:.4f}/{f['a'][1]:.4f}, B {f['b'][0]:.4f}/{f['b'][1]:.4f}")
    doubtful = [p for p in result["pairs"] if p["same_order_probability"] is not None][:5]
    if doubtful:
        lines.append("least sure to keep their order (probability both studies order the pair the same way):")
        for p in doubtful:
            lines.append(f"  {p['same_order_probability']:.2f}  {p['config_1']} vs {p['config_2']}")
    return "\n".join(lines)


def format_datasets(info: Mapping[str, Mapping[str, Any]]) -> str:
    """The table ``study datasets`` prints for ``{name: describe_dataset(name)}``: size, classes,
    imbalance and the two entropies, with a legend."""
    lines = [f"{'dataset':<16} {'images':>7} {'size':>10} {'K':>3} {'imbal.':>6} {'H(label)':>8} {'H(pixels)':>9}"]
    for name, d in info.items():
        size = f"{d['height']}x{d['width']}x{d['channels']}"
        lines.append(f"{name:<16} {d['images']:>7} {size:>10} {d['num_classes']:>3} {d['imbalance_ratio']:>6.2f} "
                     f"{d['label_entropy_bits']:>8.3f} {d['intensity_entropy_bits_mean']:>9.3f}")
    lines.append("H(label): Shannon entropy of the class distribution (bits); H(pixels): mean over images of the entropy of "
                 "the 256-bin grey-level histogram (bits, BT.601 luma for RGB)")
    return "\n".join(lines)
