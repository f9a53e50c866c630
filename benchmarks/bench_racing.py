"""Racing seed repeats against a fixed ``--max-repeats`` grid: trials used and decision accuracy.

Run from the repository root:  python benchmarks/bench_racing.py [--studies N] [--quick] [--demo]

1. Simulated suites with known truth (means in units of the per-trial noise SD, a seed effect of
   1 SD shared by all configs), ``--studies`` studies each, raced by :func:`studies.engine._race.replay`
   (the function the storage-backed race runs) and analysed as a fixed 10-seed grid (paired
   t-tests at alpha 0.05, Holm across configs):
   - ablation (LOLO-like): baseline, drops of 8, 6, 4 and 2 SD, two no-op configs;
   - selection: ten configs 1 SD apart (which is best?).
   Accuracy: ablation, share of correct better/worse/no-difference verdicts; selection, share of
   studies whose pick is the true best.
2. End to end: the same ablation suite as a real study of the registered ``synthetic`` objective
   (``study launch --race`` on SQLite, one worker) against the fixed grid of the same study: the
   trial counts the storage shows.
3. ``--demo``: the ``demo`` preset (real training on digits, ``--demo-epochs`` epochs) raced and
   as a fixed grid; minutes on a shared CPU, so off by default.

The last line is the ratio of trials, race / fixed, over the simulated suites.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _race_sim import run_many  # noqa: E402
from calib_racing import ABLATION, SELECTION  # noqa: E402

from studies.engine._race import RaceSettings  # noqa: E402

SYNTH_PRESET = """\
name: race-bench
description: the ablation suite as a synthetic study (values = mean + seed effect + noise)
sampler: grid
repeats: 10
objective: synthetic
baseline: {arm: base}
defaults: {family: seq, dataset: digits, synth_noise: 1.0, synth_seed_sd: 1.0}
space:
  arm:
    type: variants
    options:
"""


def _label(config_key: str) -> str:
    import json

    return ",".join(str(v) for v in json.loads(config_key).values())


def simulated(studies: int, seed: int) -> tuple[int, int]:
    total_race = total_fixed = 0
    for name, means, settings, baseline in (
        ("ablation", ABLATION, RaceSettings(mode="ablation"), 0),
        ("selection", SELECTION, RaceSettings(mode="selection"), None),
    ):
        r = run_many(means, settings, studies=studies, seed=seed, baseline=baseline)
        total_race += r["trials"]
        total_fixed += r["trials_fixed"]
        print(f"{name:>9}: {studies} studies, trials race {r['trials']} vs fixed {r['trials_fixed']} "
              f"({100 * (1 - r['trials'] / r['trials_fixed']):.1f}% fewer); accuracy race {r['race_accuracy']:.3f} "
              f"vs fixed {r['fixed_accuracy']:.3f} (gap {100 * (r['race_accuracy'] - r['fixed_accuracy']):+.1f} points); "
              f"FWER race {r['race_fwer']:.3f} fixed {r['fixed_fwer']:.3f}", flush=True)
    return total_race, total_fixed


def end_to_end(workdir: Path) -> None:
    from studies import launch, load_preset
    from studies.engine._race_storage import race_state

    arms = {"base": 0.0, **{f"arm{i}": m for i, m in enumerate(ABLATION[1:], 1)}}
    text = SYNTH_PRESET + "".join(f"      {k}: {{synth_mean: {v}}}\n" for k, v in arms.items())
    text = text.replace("arm5: {synth_mean: 0.0}", "arm5: {synth_mean: 0.0, synth_noise: 1.0001}")  # distinct configs
    text = text.replace("arm6: {synth_mean: 0.0}", "arm6: {synth_mean: 0.0, synth_noise: 1.0002}")
    preset = workdir / "race-bench.yaml"
    preset.write_text(text)
    spec = load_preset(str(preset))
    for seed in range(3):
        s = spec.replace(seed=seed)
        t0 = time.perf_counter()
        raced = launch(s, storage=f"sqlite:///{workdir / f'race{seed}.db'}", progress=False, race=RaceSettings())
        t1 = time.perf_counter()
        fixed = launch(s, storage=f"sqlite:///{workdir / f'fixed{seed}.db'}", progress=False)
        t2 = time.perf_counter()
        state = race_state(raced)
        verdicts = {_label(k): d.verdict for k, d in state.decisions.items()}
        print(f"end to end (seed {seed}): race {len(raced.trials)} trials in {t1 - t0:.1f}s, fixed {len(fixed.trials)} "
              f"in {t2 - t1:.1f}s; verdicts {verdicts}", flush=True)


def demo(workdir: Path, epochs: int) -> None:
    from studies import Overrides, launch, load_preset
    from studies.engine._race_storage import race_state

    spec = Overrides(epochs=epochs).apply(load_preset("demo"))
    t0 = time.perf_counter()
    raced = launch(spec, storage=f"sqlite:///{workdir / 'demo-race.db'}", progress=False, race=RaceSettings())
    t1 = time.perf_counter()
    state = race_state(raced)
    print(f"demo ({epochs} epochs): race {len(raced.trials)} trials in {t1 - t0:.0f}s vs {state.trials_fixed} for a fixed "
          f"10-seed grid ({100 * state.saved:.0f}% fewer); verdicts "
          + ", ".join(f"{_label(k)}: {d.verdict} (n={d.n})" for k, d in state.decisions.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000, help="simulated studies per suite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 studies per suite, no end-to-end part")
    parser.add_argument("--demo", action="store_true", help="also race the demo preset (real training)")
    parser.add_argument("--demo-epochs", type=int, default=3)
    args = parser.parse_args()
    studies = 200 if args.quick else args.studies
    race, fixed = simulated(studies, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.quick:
            end_to_end(Path(tmp))
        if args.demo:
            demo(Path(tmp), args.demo_epochs)
    print(f"ratio race/fixed trials: {race / fixed:.3f} ({100 * (1 - race / fixed):.1f}% fewer trials)")


if __name__ == "__main__":
    main()
