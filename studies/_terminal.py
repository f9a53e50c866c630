"""How layerlab's terminal output reads: floats at 4 significant digits (a sampled
``dropout=0.07370005125661033`` prints as ``dropout=0.0737``) and lines that fit 100 columns (a
verdict of several hundred characters wraps, its continuation indented under it).

Hand-written, and not ``studies.analysis._format``'s rounding, because that one serves the HTML
report (3 digits) and imports numpy and pandas, which ``study launch``'s output does not need.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

WIDTH = 100  # columns of every line the CLI prints about a study (pasteable commands excepted)
DIGITS = 4  # significant digits of a float in a config label or a verdict

# A float written with five or more decimals or with an exponent, not inside a word or a number.
_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{5,}(?:[eE][-+]?\d+)?(?![\w.])|(?<![\w.])-?\d+(?:\.\d+)?[eE][-+]?\d+(?![\w.])")


def short_number(value: float, digits: int = DIGITS) -> str:
    """``value`` at ``digits`` significant digits, in plain decimals from 1e-4 up (``0.0737``,
    ``0.0001234``, ``1.5e-07``)."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        exponent = int(text.split("e")[1])
        if -5 < exponent < digits:
            text = f"{value:.{max(digits - 1 - exponent, 0)}f}".rstrip("0").rstrip(".")
    return text


def round_floats(text: str, digits: int = DIGITS) -> str:
    """Every long float in ``text`` at ``digits`` significant digits."""
    return _FLOAT.sub(lambda m: short_number(float(m.group(0)), digits), text)


def fit(line: str, width: int = WIDTH, indent: str = "    ") -> str:
    """``line`` with its floats rounded and wrapped at ``width`` columns; the continuation lines
    are indented by ``indent`` plus the line's own leading spaces. Words are never split (a config
    label such as ``Conv-BN-PL-DropL`` stays whole)."""
    line = round_floats(line)
    if len(line) <= width:
        return line
    lead = line[: len(line) - len(line.lstrip(" "))]
    return textwrap.fill(line, width=width, subsequent_indent=lead + indent, break_long_words=False,
                         break_on_hyphens=False)


def fit_lines(lines: Iterable[str], width: int = WIDTH) -> str:
    """:func:`fit` over lines, joined by newlines (a line that holds newlines is fitted per line)."""
    return "\n".join(fit(part, width) for line in lines for part in str(line).split("\n"))
