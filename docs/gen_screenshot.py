"""The README's report screenshot, made by the real-browser test's own code
(tests/studies/analysis/_browser.py): the report is checked in headless Chromium first (no console
errors, every figure drew), then photographed at 1400 px.

    python docs/gen_screenshot.py                                   # the test's sample study
    python docs/gen_screenshot.py --tpe                             # its TPE study at 800 and 1400 px
    python docs/gen_screenshot.py --storage sqlite:///runs/layerlab.db --study-name demo
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studies.analysis._report import build_report, write_report  # noqa: E402
from tests.studies.analysis._browser import check_page, sample_study, screenshot, tpe_study  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="screenshot of a layerlab report for the docs")
    parser.add_argument("--storage", help="a study to photograph (default: the browser test's sample study)")
    parser.add_argument("--study-name")
    parser.add_argument("--out", default=str(ROOT / "docs" / "report-screenshot.png"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--tpe", action="store_true", help="the browser test's TPE study (long float labels), "
                        "photographed at 800 and 1400 px into docs/report-tpe-<width>px.png")
    args = parser.parse_args(argv)
    if args.tpe:
        report = build_report(tpe_study(), datasets="none")
        with tempfile.TemporaryDirectory() as tmp:
            page = write_report(report, Path(tmp) / "report.html")
            for width in (800, 1400):
                result = check_page(page, width=width)
                bad = result["errors"] + result["console"] + [p["id"] for p in result["plots"] if not p["drawn"]]
                if bad:
                    print(f"the report did not render cleanly: {bad}", file=sys.stderr)
                    return 1
                out = ROOT / "docs" / f"report-tpe-{width}px.png"
                print(f"wrote {screenshot(page, out, width=width, height=args.height)}")
        return 0
    if args.storage:
        from studies import load_study

        study = load_study(args.storage, args.study_name)
    else:
        study = sample_study()
    report = build_report(study, datasets="embedded")
    with tempfile.TemporaryDirectory() as tmp:
        page = write_report(report, Path(tmp) / "report.html")
        result = check_page(page, width=args.width)
        bad = result["errors"] + result["console"] + [p["id"] for p in result["plots"] if not p["drawn"]]
        if bad:
            print(f"the report did not render cleanly: {bad}", file=sys.stderr)
            return 1
        print(f"wrote {screenshot(page, args.out, width=args.width, height=args.height)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
