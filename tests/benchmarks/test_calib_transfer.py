"""The quick calibration subset of transfer (benchmarks/calib_transfer.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~12 s of CPU: 500 synthetic study pairs through the transfer answers, 1,000 for the truths
def test_every_quick_transfer_check_passes():
    names = [r["check"] for r in assert_quick_checks_pass("transfer", at_least=14)]
    assert len(names) == 14
    for kind in ("tau_ci_coverage", "tau_ci_mean_width", "concordance_coverage", "cost_", "compare_studies"):
        assert any(kind in n for n in names), kind
