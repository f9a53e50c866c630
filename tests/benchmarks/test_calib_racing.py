"""The race's quick calibration checks (benchmarks/calib_racing.py) all pass."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow
def test_quick_racing_calibration_passes():
    rows = assert_quick_checks_pass("racing", at_least=5)
    assert {r["check"] for r in rows} >= {"racing_fwer_null_ablation", "racing_fwer_null_selection",
                                           "racing_fwer_null_selection_unequal_sd",
                                           "racing_accuracy_gap_ablation", "racing_accuracy_gap_selection"}
