"""The quick calibration subset of the design-based verdicts (benchmarks/calib_design.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~30 s of CPU: several hundred synthetic studies through the real analysis
def test_every_quick_design_check_passes():
    results = assert_quick_checks_pass("design", at_least=13)
    names = {r["check"] for r in results}
    # the properties issue #21 asks the calibration to prove, each present
    for part in ("power_3sd", "simultaneous_ci_coverage", "mde_two_stage", "repeats_to_decide",
                 "equivalence_family", "float32_one_image", "unequal_sd2"):
        assert any(part in n for n in names), part
