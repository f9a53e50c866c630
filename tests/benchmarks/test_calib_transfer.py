"""The quick calibration subset of transfer (benchmarks/calib_transfer.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~12 s of CPU: 160 synthetic study pairs through compare_studies
def test_every_quick_transfer_check_passes():
    assert len(assert_quick_checks_pass("transfer", at_least=9)) == 9
