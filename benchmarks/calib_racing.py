"""Calibration checks of the race (``study launch --race``), for ``benchmarks/calibration.py``.

Simulated studies with known truth (config mean + a seed effect shared by all configs + noise,
noise SD 1, seed SD 1) are raced with :func:`studies.engine._race.replay`, the function the
storage-backed race runs, and compared with every config at ``max_repeats`` analysed with the
same paired t-tests at alpha, Holm across configs (see ``_race_sim.py``).

Checks:
- ``racing_fwer_null_<mode>``: under the null (7 equal configs) the share of studies with any false
  verdict -- a "better"/"worse" config (ablation) or an eliminated config (selection) -- is at
  most alpha = 0.05.
- ``racing_fwer_null_selection_unequal_sd``: the same for selection with unequal noise SDs (0.5 to
  4, a ratio of 8), where the block-design test's equal-SD model is wrong and only the per-pair
  guard protects it (studies.engine._race._look_selection).
- ``racing_fwer_null_ablation_noisy_baseline`` / ``..._noisy_variant``: ablation nulls with the
  baseline (or one variant) 3 times noisier than the others, where the pooled noise the ablation
  tests use is wrong unless the heterogeneity check flags that config.
- ``racing_fwer_null_selection_one_noisy`` (full run only, minutes): 15 equal configs, one with
  noise SD 10 and the others 1, where the block's pooled variance is furthest from that config's.
- ``racing_accuracy_gap_<mode>``: race accuracy minus fixed-max accuracy is at least -0.02
  (ablation: share of correct better/worse/no-difference verdicts on a LOLO-like suite;
  selection: share of studies whose pick is the true best).
- ``racing_power_gap_ablation_1sd_t3`` and ``racing_trials_saved_ablation_1sd_t3`` (issue #21): a
  baseline, 2 variants 1 SD better and 9 no-ops, t3 noise, up to 10 repeats: the race with its
  default futility rule finds the real effects at most 2 points less often than 10 fixed repeats
  analysed by the report (pooled noise, Dunnett), and saves at least 30% of the trials.

Run: ``python benchmarks/calibration.py --only racing`` (or this file's run() directly).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _race_sim import run_many  # noqa: E402

from studies.engine._race import RaceSettings  # noqa: E402

# Known-truth suites, means in units of the per-trial noise SD (paired differences have SD sqrt(2)).
NULL = [0.0] * 7
UNEQUAL_SD = [0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0]  # per-config noise SDs for the unequal-SD null
ONE_NOISY = [10.0] + [1.0] * 14  # per-config noise SDs: one config 10 times noisier among 15
ABLATION = [0.0, -8.0, -6.0, -4.0, -2.0, 0.0, 0.0]  # baseline first: LOLO-like drops, two no-ops
SELECTION = [0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0]  # a spread grid, unique best
POWER = [0.0, 1.0, 1.0] + [0.0] * 9  # baseline, two real 1-SD gains, nine no-ops (issue #21)


def _check(name: str, measured: float, target: str) -> dict:
    op, bound = target.split()
    passed = measured <= float(bound) if op == "<=" else measured >= float(bound)
    return {"check": name, "measured": round(float(measured), 4), "target": target, "passed": bool(passed)}


def run(*, quick: bool, seed: int = 0) -> list[dict]:
    null_n, suite_n = (300, 150) if quick else (3000, 1000)
    fwer_bound = "<= 0.08" if quick else "<= 0.05"  # quick: 300 studies, a binomial SE of ~0.013
    gap_bound = ">= -0.04" if quick else ">= -0.02"
    ablation, selection = RaceSettings(mode="ablation"), RaceSettings(mode="selection")
    out = []
    null_a = run_many(NULL, ablation, studies=null_n, seed=seed)
    out.append(_check("racing_fwer_null_ablation", null_a["race_fwer"], fwer_bound))
    for name, noise in (("noisy_baseline", [3.0] + [1.0] * 6), ("noisy_variant", [1.0] * 6 + [3.0])):
        got = run_many(NULL, ablation, studies=null_n, seed=seed + 7, noise=noise)
        out.append(_check(f"racing_fwer_null_ablation_{name}", got["race_fwer"], fwer_bound))
    null_s = run_many(NULL, selection, studies=null_n, seed=seed + 1, baseline=None)
    out.append(_check("racing_fwer_null_selection", null_s["race_fwer"], fwer_bound))
    null_u = run_many(NULL, selection, studies=null_n, seed=seed + 4, baseline=None, noise=UNEQUAL_SD)
    out.append(_check("racing_fwer_null_selection_unequal_sd", null_u["race_fwer"], fwer_bound))
    if not quick:
        null_o = run_many([0.0] * len(ONE_NOISY), selection, studies=null_n, seed=seed + 5, baseline=None, noise=ONE_NOISY)
        out.append(_check("racing_fwer_null_selection_one_noisy", null_o["race_fwer"], fwer_bound))
    suite_a = run_many(ABLATION, ablation, studies=suite_n, seed=seed + 2)
    out.append(_check("racing_accuracy_gap_ablation", suite_a["race_accuracy"] - suite_a["fixed_accuracy"], gap_bound))
    suite_s = run_many(SELECTION, selection, studies=suite_n, seed=seed + 3, baseline=None)
    out.append(_check("racing_accuracy_gap_selection", suite_s["race_accuracy"] - suite_s["fixed_accuracy"], gap_bound))
    power = run_many(POWER, ablation, studies=300 if quick else 3000, seed=seed + 6, kind="t3")
    out.append(_check("racing_power_gap_ablation_1sd_t3", power["race_power"] - power["fixed_power"],
                      ">= -0.04" if quick else ">= -0.02"))
    out.append(_check("racing_trials_saved_ablation_1sd_t3", power["saved"], ">= 0.3"))
    return out


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"calibration: {row['check']} {row['measured']} target {row['target']} {'PASS' if row['passed'] else 'FAIL'}")
