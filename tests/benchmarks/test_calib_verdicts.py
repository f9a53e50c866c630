"""The quick calibration subset of the verdicts (benchmarks/calib_verdicts.py) passes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import calib_verdicts  # noqa: E402


@pytest.mark.slow  # ~30 s of CPU: a few hundred synthetic studies through the real analysis
def test_every_quick_verdict_check_passes():
    results = calib_verdicts.run(quick=True, seed=0)
    assert len(results) >= 15
    failed = [r for r in results if not r["passed"]]
    for r in failed:
        print(f"FAIL {r['check']}: {r['measured']:.4g}, target {r['target']}")
    assert not failed, [r["check"] for r in failed]
