"""The quick calibration subset of the per-choice effects and the importance answer
(benchmarks/calib_choices.py) passes."""

from __future__ import annotations

import pytest

from tests.benchmarks._util import assert_quick_checks_pass


# ~13 s of CPU: 120 synthetic studies (36 proposed by TPE) through the regression, 40 grids through the ANOVA
@pytest.mark.slow
def test_every_quick_choices_check_passes():
    assert len(assert_quick_checks_pass("choices", at_least=10)) == 10
