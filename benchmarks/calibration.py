"""Calibration suite runner: every ``benchmarks/calib_*.py`` module's checks, one line each.

    python benchmarks/calibration.py [--quick] [--seed N] [--only AREA]

Each module exposes ``run(*, quick: bool, seed: int = 0) -> list[dict]`` with dicts
``{"check", "measured", "target", "passed"}`` (see docs/statistics.md). Prints
``calibration: <check> <measured> target <target> PASS|FAIL`` per check, then
``calibration: total <passed>/<n> PASS|FAIL``; exit code 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def areas() -> list[str]:
    return sorted(p.stem[len("calib_"):] for p in HERE.glob("calib_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fast fixed-seed subset the tests run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=areas(), help="run one area's checks")
    args = parser.parse_args(argv)
    results = []
    for area in [args.only] if args.only else areas():
        start = time.perf_counter()
        module = importlib.import_module(f"calib_{area}")
        checks = module.run(quick=args.quick, seed=args.seed)
        for c in checks:
            print(f"calibration: {c['check']} {c['measured']:.4g} target {c['target']} {'PASS' if c['passed'] else 'FAIL'}", flush=True)
        print(f"calibration: ({area}: {len(checks)} checks in {time.perf_counter() - start:.0f} s)", flush=True)
        results.extend(checks)
    passed = sum(bool(c["passed"]) for c in results)
    ok = passed == len(results)
    print(f"calibration: total {passed}/{len(results)} {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
