"""Shared by the calibration tests: run one area's quick subset and fail on any failed check."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def assert_quick_checks_pass(area: str, *, at_least: int) -> list[dict]:
    """``benchmarks/calib_<area>.run(quick=True, seed=0)``: at least ``at_least`` well-formed
    checks, every one passed (the failing ones are printed with their figures)."""
    results = importlib.import_module(f"calib_{area}").run(quick=True, seed=0)
    assert len(results) >= at_least
    assert all(set(r) == {"check", "measured", "target", "passed"} and " " not in r["check"] for r in results)
    failed = [r for r in results if not r["passed"]]
    for r in failed:
        print(f"FAIL {r['check']}: {r['measured']:.4g}, target {r['target']}")
    assert not failed, [r["check"] for r in failed]
    return results
