"""The quick calibration subset of importance (benchmarks/calib_importance.py) passes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import calib_importance  # noqa: E402


@pytest.mark.slow  # ~13 s of CPU: 100 synthetic studies through the ANOVA (20 proposed by TPE), 6 through the forests with their permutation nulls
def test_every_quick_importance_check_passes():
    results = calib_importance.run(quick=True, seed=0)
    assert len(results) == 9
    assert all(set(r) == {"check", "measured", "target", "passed"} and " " not in r["check"] for r in results)
    failed = [r for r in results if not r["passed"]]
    for r in failed:
        print(f"FAIL {r['check']}: {r['measured']:.4g}, target {r['target']}")
    assert not failed, [r["check"] for r in failed]
