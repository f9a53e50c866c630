"""How the report shows numbers and tables: a presentation layer over whatever DataFrames the
analyses return (the known columns are catalogued in :mod:`studies.analysis._columns`).

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
from typing import Any

import numpy as np
import pandas as pd

from studies.analysis._columns import COLUMNS  # the column catalogue: headers, notes, what a "—" means

SIGNIFICANT = 3  # significant digits of every number in the HTML tables and figure labels
P_FLOOR = 0.001  # p-values below this print as "< 0.001"
MISSING = "—"


# Shown first, in this order, when present; any other column whose name contains "verdict" follows.
VERDICT_FIRST = ("rank", "verdict", "vs_best", "decision", "equivalence")
IDENTITY = ("label", "id", "variant", "config", "parameter", "contrast", "evaluator", "dataset", "config_1", "config_2",
            "baseline", "changed")
# Bookkeeping: shown last.
DETAIL_LAST = ("config_id", "ci_method", "design", "test", "ci_clipped", "n_variant", "n_baseline", "p_value")
LABEL_COLUMNS = {"label", "variant", "baseline", "changed", "config", "config_1", "config_2", "best", "dataset",
                 "contrast"}
TEXT_COLUMNS = {"parameter", "evaluator", "id", "kind"}  # left-aligned text, not labels
FOLD_COLUMNS = 6  # columns per folded table (beside the row's identity): narrower than a 1400 px page
HIDDEN = {"group", "params", "extra"}  # internal columns of the analysis frames
TRUNCATE = {"config_id": 14}  # shown shortened, in full on hover


DECIDE = ["verdict", "delta", "delta_ci", "p_adj", "repeats_needed"]  # what a reader decides on, in this order


def table_options(frame: pd.DataFrame, main: list[str], decision: list[str], ids: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` carrying the options :func:`table_html` reads (see there)."""
    frame = frame.copy()
    frame.attrs.update(main=main, decision=decision, ids=ids or {}, headers=headers or {})
    return frame


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
    if (isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2
            and all(is_number(v) or _missing(v) for v in value)):
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
    """The frame as display columns and rows of ``(text, hover or None)`` cells. A label found in
    ``frame.attrs["ids"]`` (label -> short config ID) shows as its ID, the label on hover."""
    ids = frame.attrs.get("ids") or {}
    frame = frame.copy(deep=False)
    frame.attrs = {}  # pandas deep-copies attrs into every row of iterrows: 2 million copies for 420 IDs
    frame = merge_intervals(frame)
    empty = [c for c in frame.columns if frame[c].map(_blank).all()]  # nothing to show: drop the column
    columns = order_columns([c for c in frame.columns if c not in empty])
    rows = []
    for _, row in frame[columns].iterrows():
        cells = []
        for col in columns:
            value = row[col]
            name = str(col)
            if (name.startswith("p_") or name.endswith("_p") or name == "p") and not isinstance(value, str):
                cells.append((fmt_p(value), None))
            elif name in TRUNCATE and isinstance(value, str) and len(value) > TRUNCATE[name]:
                cells.append((value[: TRUNCATE[name]] + "…", value))
            elif name in LABEL_COLUMNS and isinstance(value, str) and value in ids:
                cells.append((ids[value], round_floats(value)))
            elif name in LABEL_COLUMNS and isinstance(value, str):
                short = round_floats(value)
                cells.append((short, value if short != value else None))
            else:
                cells.append((fmt_cell(value), None))
        rows.append(cells)
    return columns, rows


def table_html(frame: pd.DataFrame, *, footnote: bool = True) -> str:
    """An HTML table of ``frame``: human headers with the explanation as a tooltip, verdict first,
    3 significant digits, intervals as ``[a, b]``, a line saying what a "—" means in each column
    that has one, and a footnote listing what each column means.

    Per-table options ride on ``frame.attrs`` (they survive the analyses' copies):
    ``main``: the columns of the table, in order (names after the intervals are merged, e.g.
    ``delta_ci``); the others go below it in folded tables of :data:`FOLD_COLUMNS` columns each, so
    no table is wider than the page. ``decision``: the columns marked ``data-decision`` (the ones
    a reader decides on; the browser test checks they are on screen at 800 px). ``headers``:
    header overrides, e.g. ``{"p_adj": "p (Dunnett)"}``. ``ids``: label -> short config ID."""
    if frame.empty:
        return "<p class='empty'>(no rows)</p>"
    opts = frame.attrs
    columns, rows = present(frame)
    headers = {**{str(c): header_of(str(c)) for c in columns}, **(opts.get("headers") or {})}
    decision = set(opts.get("decision") or ())
    main = [c for c in opts.get("main") or columns if c in columns]
    rest = [c for c in columns if c not in main]
    index = {c: i for i, c in enumerate(columns)}
    parts = [_table(main, [[cells[index[c]] for c in main] for cells in rows], headers, decision)]
    dashes = [c for c in main if any(cells[index[c]][0] == MISSING for cells in rows) and COLUMNS.get(str(c))
              and COLUMNS[str(c)].missing]
    if dashes:
        parts.append("<p class='dash'>" + " ".join(f"— in {html.escape(headers[str(c)])}: "
                                                   f"{html.escape(COLUMNS[str(c)].missing)}." for c in dashes) + "</p>")
    if rest:
        key = next((c for c in main if c in IDENTITY), None)
        chunks = [rest[i:i + FOLD_COLUMNS] for i in range(0, len(rest), FOLD_COLUMNS)]
        lead = [key] if key else []
        folded = "".join(_table(lead + chunk, [[cells[index[c]] for c in lead + chunk] for cells in rows], headers,
                                set()) for chunk in chunks)
        names = ", ".join(headers[str(c)] for c in rest)
        parts.append(f"<details class='more'><summary>{len(rest)} more column(s): {html.escape(names)}</summary>"
                     f"{folded}</details>")
    notes = [(headers[str(c)], help_of(str(c))) for c in columns if help_of(str(c))]
    if footnote and notes:
        items = "".join(f"<dt>{html.escape(h)}</dt><dd>{html.escape(t)}</dd>" for h, t in notes)
        parts.append(f"<details class='columns'><summary>What the columns mean</summary><dl>{items}</dl></details>")
    return "".join(parts)


def _table(columns: Sequence[str], rows: Sequence[Sequence[tuple[str, str | None]]], headers: Mapping[str, str],
           decision: set[str]) -> str:
    def th(c: Any) -> str:
        cls = "left" if str(c) in LABEL_COLUMNS | TEXT_COLUMNS or _cell_class(str(c), "").startswith("verdict") else ""
        cls += " nw" if len(headers[str(c)]) <= 12 else ""  # a short header stays on one line ("p (max-t)")
        attrs = f" class='{cls.strip()}'" if cls.strip() else ""
        attrs += " data-decision='1'" if str(c) in decision else ""
        attrs += f" title='{html.escape(help_of(str(c)), quote=True)}'" if help_of(str(c)) else ""
        return f"<th{attrs}>{html.escape(headers[str(c)])}</th>"

    body = []
    for cells in rows:
        tds = []
        for col, (text, hover) in zip(columns, cells):
            cls = _cell_class(str(col), text)
            title = f" title='{html.escape(hover, quote=True)}'" if hover else ""
            klass = f" class='{cls}'" if cls else ""
            tds.append(f"<td{klass}{title}>{_cell_html(str(col), text)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    head = "".join(th(c) for c in columns)
    return f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _cell_html(column: str, text: str) -> str:
    """A label cell breaks between its ``key=value`` items, never inside one; other cells do not
    wrap at all (CSS); a number in scientific notation never wraps (``1.78e-`` / ``06``)."""
    if column in LABEL_COLUMNS and ", " in text:
        return ", ".join(f"<span class='nw'>{nowrap_numbers(html.escape(item))}</span>" for item in text.split(", "))
    return nowrap_numbers(html.escape(text))


_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][-+]?\d+")


def nowrap_numbers(escaped: str) -> str:
    """Escaped HTML text with each number in scientific notation in a no-wrap span: Chromium breaks
    ``1.78e-06`` after its hyphen when a line is full."""
    return _SCIENTIFIC.sub(lambda m: f"<span class='nw'>{m.group(0)}</span>", escaped)


def _cell_class(column: str, text: str) -> str:
    if column in VERDICT_FIRST[1:] or "verdict" in column:
        for word, cls in (("better", "good"), ("worse", "bad"), ("equivalent", "same"), ("best", "good"),
                          ("above noise", "good")):
            if word in text:
                return f"verdict {cls}"
        return "verdict undecided"
    if column in LABEL_COLUMNS:
        return "label"
    if column in TEXT_COLUMNS:
        return "text"
    return ""


def concordance_line(result: Mapping[str, Any]) -> str:
    """"of the pairs settled in both studies, 26/26 agree; concordance >= 0.89" for a
    :func:`compare_studies` result."""
    c = result["concordance"]
    if c.get("method", "none") == "none":
        return f"settled pairs: none ({c.get('reason', 'no noise estimate')})"
    if not c["settled"]:
        return (f"settled pairs: none of the {c['pairs']} pairs is settled in both studies "
                f"({c['settled_a']} in A, {c['settled_b']} in B): no concordance to state")
    return (f"of the {c['settled']} pairs settled in both studies (of {c['pairs']}), {c['agree']}/{c['settled']} "
            f"agree; concordance >= {c['low']:.2f} ({100 * c['confidence']:g}% one-sided exact bound)")
