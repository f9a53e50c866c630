"""Terminal output (studies._terminal): floats at 4 significant digits, no line past 100 columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studies import format_leaderboard
from studies._terminal import WIDTH, fit, fit_lines, round_floats, short_number


def test_floats_print_at_four_significant_digits():
    assert round_floats("dropout=0.07370005125661033, lr=0.00045664880966915603") == "dropout=0.0737, lr=0.0004566"
    assert round_floats("x=1.5e-07 y=123.456789") == "x=1.5e-07 y=123.5"
    # short numbers, and numbers inside words, URLs and versions stay as written
    kept = "0.9763 [0.9598, 0.9927] n=3 sqlite:///runs/a-0.123456.db v1.2.3 c0a1.123456"
    assert round_floats(kept) == kept
    assert short_number(0.000123456) == "0.0001235" and short_number(3e-4) == "0.0003"


def test_a_long_verdict_wraps_at_100_columns_under_its_start():
    verdict = ("verdict: Undecided (6: no detectable difference, which is not evidence of none): ... layers=no-BN "
               "(Δ -0.00297, 95% CI [-0.00297, -0.00297], p (Holm) 1; more repeats alone would not decide it); "
               "dropout=0.07370005125661033, Conv-BN-PL-DropL-FCL-AL")
    lines = fit(verdict).splitlines()
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert "Conv-BN-PL-DropL-FCL-AL" in lines[-1]  # hyphenated labels are never split
    assert "dropout=0.0737" in fit(verdict).replace("\n", " ")
    assert fit_lines(["  short", "x" * 30]) == "  short\n" + "x" * 30


def test_the_leaderboard_rounds_sampled_floats_and_fits_the_terminal():
    label = "family=seq, dropout=0.07370005125661033, lr=0.00045664880966915603, " + ", ".join(
        f"key{i}=value{i}" for i in range(8))
    board = pd.DataFrame([{"label": label, "n": 2, "val_mean": 0.9, "val_std": 0.01, "test_mean": 0.88,
                           "params": 1000, "pruned_at_epoch": None}])
    text = format_leaderboard(board)
    assert "dropout=0.0737, lr=0.0004566" in text and "0.07370005" not in text
    assert all(len(line) <= WIDTH for line in text.splitlines())
    assert np.isclose(float(text.splitlines()[1].split()[1]), 0.9)
