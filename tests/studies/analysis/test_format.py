"""The report's presentation layer: headers, order, digits, p-values, intervals, labels."""

from __future__ import annotations

import math

import pandas as pd

from studies.analysis._format import (fmt_number, fmt_p, header_of, order_columns, round_floats, short_label,
                                      table_html, unique_short_labels)


def test_numbers_print_with_three_significant_digits_and_p_values_floor_at_one_in_a_thousand():
    assert fmt_number(0.06904761904761905) == "0.069"
    assert fmt_number(0.9312345) == "0.931" and fmt_number(-0.00024) == "-0.00024"
    assert fmt_number(1234567) == "1,234,567" and fmt_number(3.0) == "3" and fmt_number(math.nan) == "—"
    assert fmt_p(0.0004) == "< 0.001" and fmt_p(0.0123456) == "0.0123" and fmt_p(None) == "—"


def test_sampled_floats_in_labels_are_rounded_and_long_labels_wrapped():
    assert round_floats("lr=0.00045664880966915603, depth=3") == "lr=0.000457, depth=3"
    assert round_floats("lr=2.2849123e-05, layers=Conv-BN") == "lr=2.28e-05, layers=Conv-BN"
    assert round_floats("seed 42, alpha 0.05, v3.11.7") == "seed 42, alpha 0.05, v3.11.7"
    label = "layers=Conv-BN-PL-DropL-FCL-AL, optimizer=adam, lr=0.00045664880966915603, weight_decay=0.0001"
    short = short_label(label, width=30)
    assert "<br>" in short and "0.000457" in short and all(len(line) <= 31 for line in short.split("<br>"))
    a, b = unique_short_labels(["x=0.12345678", "x=0.12345699"])
    assert a != b  # rounding merged them; the suffix keeps the axis categories apart


def test_tables_put_the_verdict_first_merge_intervals_and_explain_every_known_column():
    frame = pd.DataFrame({
        "variant": ["layers=no-BN"], "baseline": ["layers=full"], "n_pairs": [3], "delta": [-0.0336],
        "delta_ci_low": [-0.0437], "delta_ci_high": [-0.0234], "p_value": [0.0004], "p_holm": [0.06904761904761905],
        "ci_clipped": [False], "my_new_column": [0.123456], "verdict": ["worse"],
    })
    assert order_columns(list(frame.columns))[0] == "verdict"
    page = table_html(frame)
    headers = [h.split(">")[-1] for h in page.split("</th>")[:-1]]
    assert headers[:3] == ["Verdict", "Variant", "Baseline"]
    assert "Δ simultaneous 95% CI" in headers and "My new column" in headers and "p (Holm)" in headers
    assert "[-0.0437, -0.0234]" in page and "&lt; 0.001" in page and "0.069<" in page and "0.123<" in page
    assert "title='p-value after Holm-Bonferroni" in page and "What the columns mean" in page
    assert header_of("unknown_thing") == "Unknown thing"
