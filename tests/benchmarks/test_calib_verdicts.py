"""The quick calibration subset of the verdicts (benchmarks/calib_verdicts.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~30 s of CPU: a few hundred synthetic studies through the real analysis
def test_every_quick_verdict_check_passes():
    assert_quick_checks_pass("verdicts", at_least=15)
