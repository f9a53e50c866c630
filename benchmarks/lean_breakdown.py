"""Where the wall time of ``study launch --preset demo --epochs 1`` goes (docs/speed.md, "lean").

Run from the repository root:  python benchmarks/lean_breakdown.py [--epochs N] [--storage URL]

Runs the CLI in this process (one worker, inline, as ``study launch`` does) with timers around
the engine's phases, and prints wall and CPU seconds per phase next to the trials' own
``train_seconds`` (training passes + per-epoch validation). The phases nest as in the code:

  start-up            interpreter, imports of the CLI path (torch, Optuna, SQLAlchemy)
  create_or_resume    validate (load + split the data, build each model on meta), queue the cells
  run_worker          claims, every trial, the end of the worker
    objective         one trial's resolve + data + fit + metrics (inside: fit)
      fit             build the model, count FLOPs, the optimizer, train, evaluate
        build_for_data, count_flops, build_optimizer, evaluate (per-epoch validation included)
    artifacts         the three per-trial artifacts
  after the worker    leaderboard and summary

Figures are wall seconds of a loaded shared machine unless stated; /proc/loadavg is printed.
"""

from __future__ import annotations

import time

START_WALL, START_CPU = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIT_PARTS = ("build_for_data", "count_flops", "build_optimizer", "evaluate")  # names in objectives.train._trainer
TOTALS: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])


def timed(name: str, fn):
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            row = TOTALS[name]
            row[0] += time.perf_counter() - wall
            row[1] += time.process_time() - cpu
            row[2] += 1

    return wrapper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--storage", default=None)
    args = parser.parse_args()
    import cli
    import objectives._objective as objective_mod
    import studies.engine._launch as launch_mod
    import studies.engine._worker as worker_mod

    startup = (time.perf_counter() - START_WALL, time.process_time() - START_CPU)
    launch_mod.create_or_resume = timed("create_or_resume", launch_mod.create_or_resume)
    launch_mod.run_worker = timed("run_worker", launch_mod.run_worker)
    objective_mod.ClassifyObjective.__call__ = timed("objective", objective_mod.ClassifyObjective.__call__)
    objective_mod.fit = timed("fit", objective_mod.fit)
    worker_mod.upload_trial_artifacts = timed("artifacts", worker_mod.upload_trial_artifacts)
    import objectives.train._trainer as trainer_mod

    for name in FIT_PARTS:
        setattr(trainer_mod, name, timed(name, getattr(trainer_mod, name)))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.storage or f"sqlite:///{tmp}/lean.db"
        before = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            cli.main(["study", "launch", "--preset", "demo", "--epochs", args.epochs, "--no-progress", "--storage", url])
        end = time.perf_counter(), time.process_time()
        import optuna

        trials = optuna.load_study(study_name="demo", storage=url).get_trials()
    train = sum(t.user_attrs.get("train_seconds", 0.0) for t in trials)
    total = (end[0] - START_WALL, end[1] - START_CPU)
    launch = (end[0] - before[0], end[1] - before[1])
    phases = ["create_or_resume", "run_worker", "objective", "fit", *FIT_PARTS, "artifacts"]
    after = launch[0] - TOTALS["create_or_resume"][0] - TOTALS["run_worker"][0]
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"lean: demo --epochs {args.epochs}, {len(trials)} trials, load {' '.join(load)}")
    print(f"lean: {'phase':<22} {'wall s':>7} {'CPU s':>7} {'calls':>6}")
    print(f"lean: {'whole command':<22} {total[0]:7.2f} {total[1]:7.2f}")
    print(f"lean: {'start-up (imports)':<22} {startup[0]:7.2f} {startup[1]:7.2f}")
    for name in phases:
        wall, cpu, calls = TOTALS[name]
        print(f"lean: {name:<22} {wall:7.2f} {cpu:7.2f} {calls:6d}")
    print(f"lean: {'after the worker':<22} {after:7.2f}")
    print(f"lean: {'train_seconds (sum)':<22} {train:7.2f}")
    print(f"lean: train_seconds / whole command wall {train / total[0]:.3f}; / run_worker wall "
          f"{train / TOTALS['run_worker'][0]:.3f}; fit outside train_seconds {TOTALS['fit'][0] - train:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
