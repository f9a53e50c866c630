"""The race's quick calibration checks (benchmarks/calib_racing.py) all pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.slow
def test_quick_racing_calibration_passes():
    import calib_racing

    rows = calib_racing.run(quick=True, seed=0)
    assert {r["check"] for r in rows} >= {"racing_fwer_null_ablation", "racing_fwer_null_selection",
                                           "racing_fwer_null_selection_unequal_sd",
                                           "racing_accuracy_gap_ablation", "racing_accuracy_gap_selection"}
    failed = [r for r in rows if not r["passed"]]
    print(*failed, sep="\n")
    assert not failed
