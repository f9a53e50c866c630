"""The quick calibration subset of the sources of variance (benchmarks/calib_variance.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~5 s of CPU: 1,500 simulated variance designs, each with 2,000 pivotal draws
def test_every_quick_variance_check_passes():
    assert len(assert_quick_checks_pass("variance", at_least=7)) == 7
