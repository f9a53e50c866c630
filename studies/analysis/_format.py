"""How the report shows numbers and tables: a presentation layer over whatever DataFrames the
analyses return.

It knows nothing about which analysis made a frame. Known snake_case columns get a human header,
a unit and an explanation (a tooltip on the header and a footnote under the table); unknown
columns pass through with a readable header. Verdict-type columns come first, bookkeeping columns
last; ``x_ci_low``/``x_ci_high`` pairs become one ``[a, b]`` column beside ``x``; numbers print
with 3 significant digits and p-values below 0.001 as ``< 0.001``. Sampled floats inside config
labels (``lr=0.00045664880966915603``) are rounded for display, with the full label kept for the
hover text.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SIGNIFICANT = 3  # significant digits of every number in the HTML tables and figure labels
P_FLOOR = 0.001  # p-values below this print as "< 0.001"
MISSING = "—"


@dataclass(frozen=True)
class Column:
    header: str  # what the table shows
    help: str  # the tooltip and footnote


CI_HELP = ("95% confidence interval of the mean: Student t below 10 runs, BCa bootstrap from 10 on; "
           "accuracies clipped to [0, 1]")

# Known columns of the analysis frames. Anything else is shown with a readable header and no note.
COLUMNS: dict[str, Column] = {
    # leaderboard
    "rank": Column("Rank", "position by mean objective, best first"),
    "label": Column("Config", "the parameters that differ between configs (hover for the full value)"),
    "config_id": Column("Config id", "stable hash of the resolved config; groups the seed repeats of one config"),
    "n": Column("Runs", "completed trials (seed repeats) of this config"),
    "val_mean": Column("Objective (mean)", "mean objective over the runs: validation accuracy for layerlab's "
                       "objectives; the selection metric"),
    "val_std": Column("Objective SD", "standard deviation of the objective over the runs (seed noise)"),
    "val_ci": Column("Objective 95% CI", CI_HELP),
    "ci_method": Column("CI method", "how the interval was computed (t: Student t; bca: bias-corrected bootstrap)"),
    "test_mean": Column("Test acc. (mean)", "mean test accuracy: reported beside the objective, never used to rank"),
    "test_std": Column("Test SD", "standard deviation of test accuracy over the runs"),
    "test_ci": Column("Test 95% CI", CI_HELP),
    "ci_clipped": Column("CI clipped", "yes: an interval was clipped to its metric's range ([0, 1] for accuracies, "
                         "[-1, 1] for their differences), because a t interval over few runs ignores the bound"),
    "model_params": Column("Parameters", "trainable parameters of the model"),
    "vs_best": Column("Verdict vs best", "this config against the best one: paired test by seed, Holm-corrected over "
                      "all configs; 'no detectable difference' means these seeds cannot separate them"),
    # ablation
    "verdict": Column("Verdict", "better / worse than the baseline at the study's alpha after Holm correction; "
                      "'no detectable difference' is not evidence of no effect (see the verdict section)"),
    "variant": Column("Variant", "the config compared with the baseline"),
    "baseline": Column("Baseline", "the baseline config it is compared with (same other parameters)"),
    "changed": Column("Changed", "parameters whose value differs from the baseline"),
    "n_variant": Column("Runs (variant)", "completed runs of the variant"),
    "n_baseline": Column("Runs (baseline)", "completed runs of the baseline"),
    "n_pairs": Column("Pairs", "runs paired by seed (repeat r of both configs trained with the same seed)"),
    "design": Column("Design", "paired by seed, or unpaired when the runs share no seeds"),
    "test": Column("Test", "the significance test used"),
    "variant_mean": Column("Variant (mean)", "mean objective of the variant"),
    "baseline_mean": Column("Baseline (mean)", "mean objective of the baseline"),
    "delta": Column("Δ objective", "variant minus baseline, mean over paired runs (accuracy points as a fraction)"),
    "delta_ci": Column("Δ 95% CI", "95% confidence interval of the difference"),
    "test_delta": Column("Δ test acc.", "variant minus baseline on test accuracy: reported, not tested"),
    "test_delta_ci": Column("Δ test 95% CI", "95% confidence interval of the test difference"),
    "p_value": Column("p", "p-value of the test, before multiple-comparison correction"),
    "p_holm": Column("p (Holm)", "p-value after Holm-Bonferroni correction over every row of the table: the one the "
                     "verdict uses"),
    "repeats_needed": Column("Repeats to decide", "seed repeats per config that would give 80% power to detect the "
                             "observed difference (t-test power; a rough guide that assumes the observed difference is real)"),
    "more_repeats": Column("More repeats", "repeats to add to the current ones to reach 80% power"),
    "mde": Column("Min. detectable effect", "the smallest difference these runs detect with 80% power"),
    "power": Column("Power", "probability of detecting the observed difference with these runs"),
    # importance
    "evaluator": Column("Evaluator", "Optuna's importance evaluator"),
    "parameter": Column("Parameter", "the searched parameter"),
    "importance": Column("Importance", "share of the objective's variance explained, normalised to sum to 1 per evaluator"),
    "ci": Column("95% CI", "bootstrap 95% confidence interval over resampled seeds"),
    # rank transfer
    "config": Column("Config", "the config matched between the two studies (hover for the full value)"),
    "rank_a": Column("Rank A", "rank in the first study"), "rank_b": Column("Rank B", "rank in the second study"),
    "mean_a": Column("Mean A", "mean metric in the first study"), "mean_b": Column("Mean B", "mean metric in the second study"),
    "ci_a": Column("95% CI A", CI_HELP), "ci_b": Column("95% CI B", CI_HELP),
    "config_1": Column("Config 1", "first config of a pair"),
    "config_2": Column("Config 2", "second config of the pair"),
    "a": Column("A", "value in the first study"), "b": Column("B", "value in the second study"),
    "gap": Column("Gap", "how far apart the pair is: |difference in A| + |difference in B|"),
    "status": Column("Settled", "agree / disagree: both studies order the pair beyond noise (Tukey-Kramer), alike or "
                     "oppositely; unsettled: at least one cannot"),
    "settled_a": Column("Settled A", "+1 / -1: study A orders config 1 above / below config 2 beyond noise; "
                        "0: it cannot"),
    "settled_b": Column("Settled B", "the same in study B"),
    "settled": Column("Settled pairs", "pairs both slices order beyond noise (Tukey-Kramer simultaneous intervals)"),
    "agree": Column("Agree", "settled pairs ordered alike by both"),
    "concordance_low": Column("Concordance ≥", "95% one-sided exact (Clopper-Pearson) bound of the concordance of the "
                              "settled pairs"),
    "tau": Column("Kendall τ", "rank correlation of the configs' mean objective: 1 same order, 0 unrelated, -1 reversed"),
    "tau_ci": Column("τ 95% CI", "95% interval of Kendall tau between the true config means (docs/importance.md)"),
    "rho": Column("Spearman ρ", "Spearman rank correlation of the configs' mean objective"),
    "n_shared": Column("Shared configs", "configs present in both slices"),
    # objective metrics, datasets
    "size": Column("Image size", "height x width x channels"),
    "images": Column("Images", "images in the official train + test parts"),
    "classes": Column("Classes", "number of classes"),
}

# Shown first, in this order, when present; any other column whose name contains "verdict" follows.
VERDICT_FIRST = ("rank", "verdict", "vs_best", "decision", "equivalence")
IDENTITY = ("label", "variant", "config", "parameter", "evaluator", "dataset", "config_1", "config_2", "baseline", "changed")
# Bookkeeping: shown last.
DETAIL_LAST = ("config_id", "ci_method", "design", "test", "ci_clipped", "n_variant", "n_baseline", "p_value")
LABEL_COLUMNS = {"label", "variant", "baseline", "changed", "config", "config_1", "config_2", "best", "dataset"}
HIDDEN = {"group", "params", "extra"}  # internal columns of the analysis frames
TRUNCATE = {"config_id": 14}  # shown shortened, in full on hover


def header_of(name: str) -> str:
    """The human header of a column: known names from :data:`COLUMNS`, others readable."""
    known = COLUMNS.get(name)
    if known is not None:
        return known.header
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text.islower() or "_" in name else text


def help_of(name: str) -> str | None:
    known = COLUMNS.get(name)
    return known.help if known is not None else None


# -- numbers --------------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(float(value))


def fmt_number(value: Any, digits: int = SIGNIFICANT) -> str:
    """3 significant digits; integers in full with thousands separators; NaN/None as a dash."""
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(float(value))):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value == 0:
            return "0"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        text = f"{value:.{digits}g}"
        if "e" in text:  # plain decimals down to 1e-4 read better than 1.23e-04
            exponent = int(text.split("e")[1])
            if -5 < exponent < 6:
                text = f"{value:.{max(digits - 1 - exponent, 0)}f}"
        return text
    return str(value)


def fmt_p(value: Any) -> str:
    if not is_number(value):
        return MISSING
    return f"< {P_FLOOR:g}" if float(value) < P_FLOOR else fmt_number(float(value))


def fmt_interval(low: Any, high: Any) -> str:
    if not (is_number(low) and is_number(high)):
        return MISSING
    return f"[{fmt_number(low)}, {fmt_number(high)}]"


def fmt_cell(value: Any) -> str:
    """Any table cell: numbers, pairs of numbers as intervals, mappings as key=value."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2 and all(is_number(v) or _missing(v) for v in value):
        return fmt_interval(*value)
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_cell(v) for v in value) or MISSING
    if isinstance(value, str):
        return value
    return fmt_number(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(float(value)))


def fmt_value(value: Any) -> str:
    """A parameter value inside a label: floats at 3 significant digits, the rest as is."""
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        return fmt_number(value)
    return str(value)


_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{4,}(?:[eE][-+]?\d+)?|(?<![\w.])-?\d+(?:\.\d+)?[eE][-+]?\d+")


def round_floats(text: str, digits: int = SIGNIFICANT) -> str:
    """Round every long float in a label to ``digits`` significant digits:
    ``lr=0.00045664880966915603`` -> ``lr=0.000457``."""
    return _FLOAT.sub(lambda m: fmt_number(float(m.group(0)), digits), text)


def short_label(label: Any, width: int = 40, max_lines: int = 3) -> str:
    """A config label for a figure axis: floats rounded, wrapped at ``width`` characters on
    ``, `` and ``-`` boundaries with ``<br>``, abbreviated with an ellipsis past ``max_lines``."""
    text = round_floats(str(label))
    lines = textwrap.wrap(text.replace(", ", ",\u00a0"), width=width, break_long_words=True,
                          break_on_hyphens=True)
    lines = [line.replace("\u00a0", " ") for line in lines]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(width - 1, 1)] + "…"
    return "<br>".join(lines) or text


def unique_short_labels(labels: Sequence[Any], width: int = 40) -> list[str]:
    """:func:`short_label` of each, made unique (rounding can merge two labels) with a #n suffix."""
    out, seen = [], {}
    for label in labels:
        short = short_label(label, width)
        if short in seen:
            seen[short] += 1
            short = f"{short} #{seen[short]}"
        else:
            seen[short] = 1
        out.append(short)
    return out


# -- tables ---------------------------------------------------------------------------------------


def merge_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """``x_ci_low``/``x_ci_high`` (and ``ci_low_x``/``ci_high_x``, ``ci_low``/``ci_high``) become one
    ``x_ci`` column of ``(low, high)`` placed where ``x_ci_low`` was."""
    frame = frame.copy()
    columns = list(frame.columns)
    for col in columns:
        if col not in frame.columns:
            continue
        match = re.fullmatch(r"(?:(.+)_)?ci_low(?:_(.+))?", str(col))
        if not match:
            continue
        prefix, suffix = match.groups()
        high = str(col).replace("ci_low", "ci_high")
        if high not in frame.columns:
            continue
        name = "_".join(p for p in (prefix, "ci", suffix) if p)
        if prefix == "val":
            name = "val_ci"
        pairs = list(zip(frame[col], frame[high]))
        position = list(frame.columns).index(col)
        frame = frame.drop(columns=[col, high])
        frame.insert(min(position, len(frame.columns)), name, pairs)
    return frame


def _blank(value: Any) -> bool:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return all(_missing(v) for v in value)
    return _missing(value) or (isinstance(value, str) and not value)


def order_columns(columns: Sequence[str]) -> list[str]:
    """Verdict-type columns first (after the rank), then the config's identity, the rest in their
    given order, bookkeeping last."""
    cols = [c for c in columns if c not in HIDDEN]
    first = [c for c in VERDICT_FIRST if c in cols]
    first += [c for c in cols if "verdict" in str(c).lower() and c not in first]
    identity = [c for c in IDENTITY if c in cols and c not in first]
    last = [c for c in DETAIL_LAST if c in cols and c not in first]
    middle = [c for c in cols if c not in first and c not in identity and c not in last]
    return first + identity + middle + last


def present(frame: pd.DataFrame) -> tuple[list[str], list[list[tuple[str, str | None]]]]:
    """The frame as display columns and rows of ``(text, hover or None)`` cells."""
    frame = merge_intervals(frame)
    empty = [c for c in frame.columns if frame[c].map(_blank).all()]  # nothing to show: drop the column
    columns = order_columns([c for c in frame.columns if c not in empty])
    rows = []
    for _, row in frame[columns].iterrows():
        cells = []
        for col in columns:
            value = row[col]
            name = str(col)
            if (name.startswith("p_") or name in ("p", "p_value", "kendall_p")) and not isinstance(value, str):
                cells.append((fmt_p(value), None))
            elif name in TRUNCATE and isinstance(value, str) and len(value) > TRUNCATE[name]:
                cells.append((value[: TRUNCATE[name]] + "…", value))
            elif name in LABEL_COLUMNS and isinstance(value, str):
                short = round_floats(value)
                cells.append((short, value if short != value else None))
            else:
                cells.append((fmt_cell(value), None))
        rows.append(cells)
    return columns, rows


def table_html(frame: pd.DataFrame, *, footnote: bool = True) -> str:
    """An HTML table of ``frame``: human headers with the explanation as a tooltip, verdict first,
    3 significant digits, intervals as ``[a, b]``, and a footnote listing what each column means."""
    if frame.empty:
        return "<p class='empty'>(no rows)</p>"
    columns, rows = present(frame)
    def th(c: Any) -> str:
        left = " class='left'" if str(c) in LABEL_COLUMNS or _cell_class(str(c), "").startswith("verdict") else ""
        tip = f" title='{html.escape(help_of(str(c)), quote=True)}'" if help_of(str(c)) else ""
        return f"<th{left}{tip}>{html.escape(header_of(str(c)))}</th>"

    head = "".join(th(c) for c in columns)
    body = []
    for cells in rows:
        tds = []
        for col, (text, hover) in zip(columns, cells):
            cls = f" class='{_cell_class(str(col), text)}'" if _cell_class(str(col), text) else ""
            title = f" title='{html.escape(hover, quote=True)}'" if hover else ""
            tds.append(f"<td{cls}{title}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    parts = [f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"]
    notes = [(header_of(str(c)), help_of(str(c))) for c in columns if help_of(str(c))]
    if footnote and notes:
        items = "".join(f"<dt>{html.escape(h)}</dt><dd>{html.escape(t)}</dd>" for h, t in notes)
        parts.append(f"<details class='columns'><summary>What the columns mean</summary><dl>{items}</dl></details>")
    return "".join(parts)


def _cell_class(column: str, text: str) -> str:
    if column in VERDICT_FIRST[1:] or "verdict" in column:
        for word, cls in (("better", "good"), ("worse", "bad"), ("equivalent", "same"), ("best", "good")):
            if word in text:
                return f"verdict {cls}"
        return "verdict undecided"
    if column in LABEL_COLUMNS:
        return "label"
    return ""
