"""The quick calibration subset of importance (benchmarks/calib_importance.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


@pytest.mark.slow  # ~13 s of CPU: 100 synthetic studies through the ANOVA (20 proposed by TPE), 6 through the forests with their permutation nulls
def test_every_quick_importance_check_passes():
    assert len(assert_quick_checks_pass("importance", at_least=9)) == 9
