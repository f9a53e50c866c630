"""The quick calibration subset of the aggregates (benchmarks/calib_aggregate.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~11 s of CPU: 600 simulated aggregates through aggregate_scores
def test_every_quick_aggregate_check_passes():
    names = [r["check"] for r in assert_quick_checks_pass("aggregate", at_least=5)]
    assert any("iqm_ci_coverage" in n for n in names) and any("poi_ci_coverage" in n for n in names)
