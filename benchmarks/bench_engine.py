"""The study engine's overheads, measured side by side in one run (docs/speed.md records figures).

Run from the repository root:  python benchmarks/bench_engine.py [--parts a,b,...] [--quick]

Parts (each prints ``engine: <check> <measured> target <target> PASS|FAIL`` lines):

  claims   trivial objective, CPU per trial: layerlab's queue + worker against plain Optuna
           ``GridSampler`` + ``study.optimize`` on the same SQLite storage, at 200 and 1,000
           cells, interleaved over rounds; targets: ratio <= 1.0 at 200 cells, and layerlab's
           per-trial cost at 1,000 cells <= 1.2x that at 200.
  queue    ``study launch --preset liu-subsets --queue-only`` (1,260 cells) in a fresh process:
           CPU seconds (target <= 3).
  status   ``study status`` on 5,040 synthesized trials in a fresh process: CPU s (target <= 3).
  report   the default ``study report`` (every analysis at its defaults: the verdicts' simultaneous
           tests, the importance answer with its noise verdict, per-choice effects on a sampled
           study; no bootstrap, which no verdict uses) on 1,260 and 5,040 synthesized trials
           (liu-subsets' 420 configs x 3 repeats, and 1,680 x 3 with 4 learning rates), in-process
           CPU after imports: <= 30 s at 5,040 and per-trial cost flat (ratio 5,040 / 1,260 <= 1.2);
           and a sampled study of 1,680 configs x 3 (the learning rate continuous) at its defaults.
  lean     ``study launch --preset demo --epochs 1`` in a fresh process: the share of wall time
           spent in training and per-epoch validation (target >= 50%); the phases of that time
           are printed by ``benchmarks/lean_breakdown.py``.
  workers  the demo as the preset defines it (12 epochs, early stopping) with ``--workers 2``
           against ``--workers 1``, wall time of the whole command, interleaved (target >= 1.6x
           on an idle 2-core machine); the same at ``--epochs 3`` is printed beside it.
  first_error  a typo (preset, --set key, dataset, family) in a fresh process: wall seconds to the
           one-line error (target <= 1 s on an idle machine; torch is never imported).
  prune    ``--pruner median|halving|hyperband`` (config-level, evidence-gated pruning) against no
           pruning, at 10 epochs: on the demo (six of seven configs tied) the pruned top 3 must lie
           within the unpruned study's ties; on ``contrast`` (3 good, 9 clearly worse digits
           configs) >= 50% of the epochs saved with the top 3 unchanged.

Synthesized trials are written straight into SQLite in layerlab's trial layout (parameters and
distributions as the worker's ``sample`` records them; config, config_id, seed, repeat, metrics,
history and confusion as the objective does), so the real ``status`` and ``report`` code is
measured without training anything. CPU figures are this process's (or the child's) CPU time,
which a shared machine disturbs less than wall time; ``/proc/loadavg`` is printed beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import optuna  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

RESULTS: list[dict[str, Any]] = []


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "n/a"


def check(name: str, measured: float, target: str, note: str = "") -> None:
    op, bound = target.split()
    passed = measured <= float(bound) if op == "<=" else measured >= float(bound)
    RESULTS.append({"check": name, "measured": measured, "target": target, "passed": passed})
    extra = f"  ({note})" if note else ""
    print(f"engine: {name} {measured:.3f} target {target} {'PASS' if passed else 'FAIL'}{extra}", flush=True)


def child_env(threads: int | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, stdout) of ``python cli.py args`` (children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, env=env or child_env(),
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"cli.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, out.stdout


# -- claims: a trivial objective, layerlab against plain Optuna ------------------------------------

TRIVIAL = "bench-trivial"


def _register_trivial() -> None:
    from objectives._objective import list_objectives
    from objectives import register_objective
    from objectives._trial import trial_config

    if TRIVIAL in list_objectives():
        return

    @register_objective(TRIVIAL)
    class Trivial:  # what every objective does, minus training: resolve the config, record attributes
        def __init__(self, space, **_runtime) -> None:  # device, data_dir, ..., on_epoch: nothing trains
            self.space = space

        def __call__(self, trial) -> float:
            run = trial_config(self.space, trial)
            trial.set_user_attr("config", {k: v for k, v in run.to_flat().items() if isinstance(v, (int, float, str))})
            trial.set_user_attr("seed", int(trial.user_attrs.get("repeat", 0)))
            return 0.5


def _grid_choices(cells: int) -> list[float]:
    return [round(1e-4 * (i + 1), 6) for i in range(cells)]


def _layerlab_trivial(url: str, cells: int) -> float:
    from searchspace import Categorical, Space
    from studies import StorageOptions, StudySpec, run_worker
    from searchspace._pin import build_space
    from studies.engine._launch import create_or_resume

    space = build_space({"family": "fcl", "dataset": "digits", "epochs": 1},
                        Space([Categorical("lr", choices=_grid_choices(cells))]))
    spec = StudySpec(space=space, name="trivial", objective=TRIVIAL, repeats=1)
    start = time.process_time()
    create_or_resume(spec, url, "trivial", check_data=False, options=StorageOptions())
    report = run_worker(url, "trivial", device="cpu")
    cpu = time.process_time() - start
    assert report.completed == cells, report
    return cpu / cells


def _optuna_trivial(url: str, cells: int) -> float:
    choices = _grid_choices(cells)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_categorical("lr", choices)
        trial.set_user_attr("config", {"lr": lr})
        trial.set_user_attr("seed", 0)
        return 0.5

    start = time.process_time()
    study = optuna.create_study(study_name="plain", storage=url, sampler=optuna.samplers.GridSampler({"lr": choices}, seed=0),
                                direction="maximize")
    study.optimize(objective, n_trials=cells)
    cpu = time.process_time() - start
    assert len(study.trials) == cells
    return cpu / cells


def part_claims(quick: bool) -> None:
    """Optuna runs at the small size only: its GridSampler reads every trial per trial (quadratic),
    so at 1,000 cells it takes many minutes; the growth target is layerlab's own."""
    _register_trivial()
    small, large = (100, 300) if quick else (200, 1000)
    rounds = 1 if quick else 2
    per: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):  # interleaved: a change of machine load hits both sides alike
            for who, cells, fn in (("optuna", small, _optuna_trivial), ("layerlab", small, _layerlab_trivial),
                                   ("layerlab", large, _layerlab_trivial)):
                url = f"sqlite:///{tmp}/{who}-{cells}-{r}.db"
                per.setdefault((who, cells), []).append(fn(url, cells))
    for (who, cells), values in sorted(per.items()):
        print(f"engine: claims {who} {cells} cells: {1e3 * statistics.median(values):.2f} ms CPU/trial")
    ratios = [a / b for a, b in zip(per[("layerlab", small)], per[("optuna", small)])]
    check(f"claims_ratio_vs_optuna_at_{small}", statistics.median(ratios), "<= 1.0", "layerlab / Optuna GridSampler CPU per trial")
    growth = [a / b for a, b in zip(per[("layerlab", large)], per[("layerlab", small)])]
    check(f"claims_per_trial_growth_{small}_to_{large}", statistics.median(growth), "<= 1.2")


# -- synthesized studies ---------------------------------------------------------------------------


LRS = (0.001, 0.0005, 0.002, 0.0001)  # liu-subsets' lr, widened to grow the study by configs


def synthesize(url: str, study_name: str, *, preset: str = "liu-subsets", lrs: int = 1, seed: int = 0,
               sampled: bool = False) -> int:
    """Write a finished grid study of ``preset`` (every cell COMPLETE) into the SQLite ``url`` in
    bulk, in layerlab's layout; returns the number of trials. ``lrs`` > 1 searches the learning
    rate too (``lrs`` values), multiplying the configs while keeping the preset's 3 repeats: the
    study grows as studies do (more configs), and per-config statistics keep their method.
    ``sampled``: each config's learning rate is drawn from a log-uniform range around its grid
    value (a float distribution) and the stored spec says TPE: the report of a sampled study."""
    from optuna.distributions import FloatDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState
    from sqlalchemy import insert

    from objectives._trial import trial_config
    from studies.engine._launch import create_or_resume
    from studies import load_preset
    from studies._artifacts import SPEC_ATTR

    from searchspace import Categorical, Space

    spec = load_preset(preset)
    if lrs > 1:
        dims = [Categorical("lr", choices=LRS[:lrs]) if d.name == "lr" else d for d in spec.space.dims]
        spec = dataclasses.replace(spec, space=Space(dims))
    study = create_or_resume(spec, url, study_name, check_data=False)
    stored = study.user_attrs[SPEC_ATTR]
    if sampled:  # what a TPE launch stores (the engine only reads the spec's sampler and budget here)
        stored = {**stored, "spec": {**stored["spec"], "sampler": "tpe", "n_trials": len(list(spec.grid_cells()))}}
    study.set_user_attr(SPEC_ATTR, stored)
    backend = study._storage._backend
    with backend.engine.begin() as conn:  # drop the queued cells: they are replaced by finished trials
        ids = [r[0] for r in conn.exec_driver_sql("SELECT trial_id FROM trials WHERE study_id = ?", (study._study_id,))]
        for table in ("trial_params", "trial_values", "trial_user_attributes", "trial_system_attributes",
                      "trial_intermediate_values", "trial_heartbeats"):
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE trial_id IN (SELECT trial_id FROM trials WHERE study_id = ?)",
                                 (study._study_id,))
        conn.exec_driver_sql("DELETE FROM trials WHERE study_id = ?", (study._study_id,))
    del ids
    rng = np.random.default_rng(seed)
    trials, params_rows, values, attrs, inter = [], [], [], [], []
    now = __import__("datetime").datetime.now()
    number = 0
    seen: dict[str, tuple[dict, dict, str, dict, float]] = {}
    for params, _config, repeat in spec.grid_cells():
        key = json.dumps(params, sort_keys=True, default=str)
        if key not in seen:
            fixed = optuna.trial.FixedTrial(params)
            run = trial_config(spec.space, fixed)
            flat = run.to_flat()
            params, dists = dict(fixed.params), dict(fixed.distributions)
            if sampled:
                params["lr"] = float(params["lr"] * np.exp(rng.uniform(-0.3, 0.3)))
                dists["lr"] = FloatDistribution(5e-5, 3e-3, log=True)
            seen[key] = (params, dists, run.config_id, flat, float(rng.uniform(0.6, 0.95)))
        p, dists, cid, flat, mean = seen[key]
        trial_id = number + 1
        acc = float(np.clip(mean + rng.normal(0, 0.01), 0, 1))
        test = float(np.clip(acc - 0.01 + rng.normal(0, 0.01), 0, 1))
        epochs = int(rng.integers(3, 12))
        history = [{"epoch": e + 1, "train_loss": 1.0 / (e + 1), "train_accuracy": acc - 0.05 / (e + 1),
                    "val_loss": 1.1 / (e + 1), "val_accuracy": acc - 0.04 / (e + 1), "lr": 0.001, "seconds": 0.5,
                    "train_pass_seconds": 0.4, "train_pass_cpu_seconds": 0.4, "images": 1000} for e in range(epochs)]
        user = {
            "repeat": repeat, "config": {k: v for k, v in flat.items()}, "config_id": cid, "seed": spec.seed + repeat,
            "device": "cpu", "data_sizes": {"train": 1000, "val": 250, "test": 250}, "layerlab_version": "bench",
            "worker": "bench:0", "val_accuracy": acc, "val_loss": 0.5, "test_accuracy": test, "test_loss": 0.5,
            "test_error": 100 * (1 - test), "params": 67338, "flops": 134144, "train_seconds": 5.0,
            "images_per_second": 2000.0, "best_epoch": epochs, "epochs_run": epochs, "stopped_early": False,
            "confusion": [[100, 25], [20, 105]], "history": history,
        }
        trials.append({"trial_id": trial_id, "number": number, "study_id": study._study_id, "state": TrialState.COMPLETE,
                       "datetime_start": now, "datetime_complete": now})
        for name, value in p.items():
            dist = dists[name]
            params_rows.append({"trial_id": trial_id, "param_name": name, "param_value": dist.to_internal_repr(value),
                                "distribution_json": distribution_to_json(dist)})
        stored, kind = models.TrialValueModel.value_to_stored_repr(acc)
        values.append({"trial_id": trial_id, "objective": 0, "value": stored, "value_type": kind})
        for k, v in user.items():
            attrs.append({"trial_id": trial_id, "key": k, "value_json": json.dumps(v)})
        for e, h in enumerate(history):
            iv, ik = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(h["val_accuracy"])
            inter.append({"trial_id": trial_id, "step": e + 1, "intermediate_value": iv, "intermediate_value_type": ik})
        number += 1
    with backend.engine.begin() as conn:
        first = conn.exec_driver_sql("SELECT COALESCE(MAX(trial_id), 0) FROM trials").scalar()
        for rows in (trials, params_rows, values, attrs, inter):
            for row in rows:
                row["trial_id"] += first
        conn.execute(insert(models.TrialModel.__table__), trials)
        conn.execute(insert(models.TrialParamModel.__table__), params_rows)
        conn.execute(insert(models.TrialValueModel.__table__), values)
        conn.execute(insert(models.TrialUserAttributeModel.__table__), attrs)
        conn.execute(insert(models.TrialIntermediateValueModel.__table__), inter)
    return number


def _synth_cached(tmp: Path, lrs: int, sampled: bool = False) -> tuple[str, str, int]:
    path = tmp / f"synth-lr{lrs}{'-sampled' if sampled else ''}.db"
    url = f"sqlite:///{path}"
    name = f"subsets-lr{lrs}{'-sampled' if sampled else ''}"
    if not path.exists():
        start = time.perf_counter()
        n = synthesize(url, name, lrs=lrs, sampled=sampled)
        print(f"engine: (synthesized {n} trials in {time.perf_counter() - start:.1f} s)", flush=True)
    return url, name, 1260 * lrs


def part_queue(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall, _ = run_cli("study", "launch", "--preset", "liu-subsets", "--queue-only", "--no-progress",
                               "--storage", f"sqlite:///{tmp}/q.db")
    check("queue_only_liu_subsets_cpu_s", cpu, "<= 3", f"wall {wall:.1f} s, 1,260 cells, whole process")


def part_status(quick: bool, tmp: Path) -> None:
    url, name, n = _synth_cached(tmp, 1 if quick else 4)
    cpu, wall, out = run_cli("study", "status", "--storage", url, "--study-name", name)
    check(f"status_{n}_trials_cpu_s", cpu, "<= 3", f"wall {wall:.1f} s, whole process")


def part_report(quick: bool, tmp: Path) -> None:
    from studies import load_study
    from studies.analysis._report import build_report, write_report

    sizes = (1,) if quick else (1, 4)
    per = {}
    for lrs in sizes:
        url, name, n = _synth_cached(tmp, lrs)
        build_report(load_study(url, name))  # warm-up: imports, lazy module state
        start = time.process_time()  # what the default `study report` does after its imports
        report = build_report(load_study(url, name))
        write_report(report, tmp / f"report-{n}.html")
        cpu = time.process_time() - start
        per[n] = cpu / n
        print(f"engine: report {n} trials (defaults): {cpu:.2f} s CPU ({1e3 * cpu / n:.2f} ms/trial, load {loadavg()})",
              flush=True)
        if n == 5040:
            check("report_5040_trials_cpu_s", cpu, "<= 30")
    if len(per) == 2:
        small, large = sorted(per)
        check(f"report_per_trial_growth_{small}_to_{large}", per[large] / per[small], "<= 1.2")
    if not quick:  # the same configs with the learning rate continuous: a sampled study's first screen
        url, name, n = _synth_cached(tmp, 4, sampled=True)
        build_report(load_study(url, name))
        start = time.process_time()
        report = build_report(load_study(url, name))
        write_report(report, tmp / f"report-sampled-{n}.html")
        cpu = time.process_time() - start
        assert report.data["choices"]["available"], report.data["choices"]["reason"]
        print(f"engine: report {n} sampled trials (defaults, per-choice effects): {cpu:.2f} s CPU (load {loadavg()})",
              flush=True)
        check("report_5040_sampled_trials_cpu_s", cpu, "<= 30")


# -- the first error ------------------------------------------------------------------------------

FIRST_ERRORS = (  # typos a newcomer makes; each is refused before torch is imported (objectives._known)
    ("study", "launch", "--preset", "explor"),
    ("study", "launch", "--set", "learning_rate=0.1"),
    ("study", "launch", "--dataset", "digitz"),
    ("space", "grid", "--set", "family=sq"),
)


def part_first_error(quick: bool) -> None:
    """Wall time from ``python cli.py`` to its one-line error, in a fresh process and an empty
    working directory (so that nothing could be written), median over the typos and rounds; CPU
    seconds beside it."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(1 if quick else 3):
            for args in FIRST_ERRORS:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                out = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=tmp, env=child_env(),
                                     capture_output=True, text=True)
                walls.append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
                if out.returncode != 2 or len(out.stderr.splitlines()) != 1 or os.listdir(tmp):
                    raise RuntimeError(f"cli.py {' '.join(args)}: not one line and exit 2, or it wrote:\n{out.stderr}")
                print(f"engine: first error {' '.join(args)}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU: "
                      f"{out.stderr.strip()[:80]}", flush=True)
    check("first_error_wall_s", statistics.median(walls), "<= 1", f"median of {len(walls)}; CPU median "
          f"{statistics.median(cpus):.2f} s; load {loadavg()}")


# -- end-to-end on the demo -------------------------------------------------------------------------


def part_lean(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/lean.db"
        cpu, wall, _ = run_cli("study", "launch", "--preset", "demo", "--epochs", "1", "--no-progress", "--storage", url)
        study = optuna.load_study(study_name="demo", storage=url)
        trials = study.get_trials()
        # train_seconds: the training passes + per-epoch validation. The final val/test evaluation
        # is not timed per trial (no attribute holds it; benchmarks/lean_breakdown.py times it).
        busy = sum(t.user_attrs.get("train_seconds", 0.0) for t in trials)
        durations = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)
    check("lean_demo_epochs1_train_eval_share_of_wall", busy / wall, ">= 0.5",
          f"train_seconds {busy:.2f} s, trial durations {durations:.2f} s, wall {wall:.2f} s, CPU {cpu:.2f} s")
    print(f"engine: lean train+eval share of the trials' own durations {busy / durations:.2f}")


def part_workers(quick: bool) -> None:
    """The demo at its own epochs (the check), then at --epochs 3 (printed), interleaved rounds."""
    settings = [("1", 1)] if quick else [(None, 2), ("3", 2)]
    with tempfile.TemporaryDirectory() as tmp:
        for epochs, rounds in settings:
            walls: dict[int, list[float]] = {1: [], 2: []}
            extra = ("--epochs", epochs) if epochs else ()
            label = f"--epochs {epochs}" if epochs else "the preset's epochs"
            for r in range(rounds):
                for workers in (1, 2) if r % 2 == 0 else (2, 1):
                    url = f"sqlite:///{tmp}/w{workers}-{r}-{epochs}.db"
                    _, wall, _ = run_cli("study", "launch", "--preset", "demo", *extra, "--no-progress",
                                         "--storage", url, "--workers", str(workers))
                    walls[workers].append(wall)
                    print(f"engine: workers {workers}, {label}: {wall:.2f} s wall (load {loadavg()})", flush=True)
            ratio = statistics.median(a / b for a, b in zip(walls[1], walls[2]))
            if epochs is None or quick:
                check("workers_2_vs_1_speedup", ratio, ">= 1.6", f"demo, {label}, {os.cpu_count()} cores")
            else:
                print(f"engine: workers 2 vs 1 at {label}: {ratio:.3f}x (median of {rounds} rounds)", flush=True)


def part_prune(quick: bool, cache: Path) -> None:
    """Pruning by config on two grids, each against itself unpruned: the demo, where six of seven
    configs are tied within seed noise (pruning may stop only configs shown worse, so whatever it
    ranks on top must be among the unpruned study's ties), and ``contrast``, where three configs are
    good and nine clearly worse (it must save >= 50% of the epochs with the top 3 unchanged)."""
    from studies import Overrides, launch, load_preset

    epochs = 4 if quick else 10
    studies_ = {"demo": Overrides(epochs=epochs).apply(load_preset("demo")), "contrast": _contrast_spec(epochs)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, base in studies_.items():
            out = {}
            for pruner in ("none", "median", "halving", "hyperband"):
                url = f"sqlite:///{cache if cache is not None else tmp}/prune-{name}-{epochs}-{pruner}.db"
                study = launch(base.replace(pruner=pruner), storage=url, study_name=pruner, progress=False,
                               device="cpu")
                ran = sum(len(t.intermediate_values) for t in study.trials)
                out[pruner] = (ran, _top3(study))
                print(f"engine: prune {name} {pruner}: {ran} epochs, top 3 {out[pruner][1]}", flush=True)
                if pruner == "none":
                    ties, oracle = _prune_bounds(study)
            base_epochs, base_top = out["none"]
            print(f"engine: prune {name} oracle: keeping only the top 3 and pruning every other config at its first "
                  f"epoch (its later repeats before training) would save {1 - oracle / base_epochs:.3f} of the epochs",
                  flush=True)
            print(f"engine: prune {name}: configs whose 95% CI holds the best's mean without pruning: {sorted(ties)}",
                  flush=True)
            for pruner in ("median", "halving", "hyperband"):
                ran, top = out[pruner]
                saved = 1 - ran / base_epochs
                if name == "demo":
                    print(f"engine: prune_demo_{pruner}_epochs_saved {saved:.3f} (informative: six of seven tied)")
                    check(f"prune_demo_{pruner}_top3_within_ties", float(len(top) == 3 and set(top) <= ties), ">= 1",
                          "3 configs ranked, each one the unpruned study cannot tell apart from its best")
                else:
                    check(f"prune_contrast_{pruner}_epochs_saved", saved, ">= 0.5")
                    check(f"prune_contrast_{pruner}_top3_unchanged", float(set(top) == set(base_top)), ">= 1",
                          "the same 3 configs ranked")


def _contrast_spec(epochs: int):
    """A digits grid whose configs really differ: the demo's BaseSeq with and without its
    convolution x six learning rates, 3 repeats. Three configs are good (the full BaseSeq at lr
    3e-3, 1e-3, 3e-4: 0.96-0.98 validation accuracy at 10 epochs), nine clearly worse (without the
    convolution about 0.75 at best; at lr <= 1e-5 far from trained)."""
    from searchspace import Categorical, Space
    from studies import StudySpec, load_preset
    from searchspace._pin import build_space

    demo = load_preset("demo")
    fixed = {d.config_key: d.value for d in demo.space if not d.is_param and d.config_key != "layers"}
    space = build_space({**fixed, "epochs": epochs}, Space([
        Categorical("lr", choices=[3e-3, 1e-3, 3e-4, 1e-5, 3e-6, 1e-6]),
        Categorical("layers", choices={"full": "Conv-BN-PL-DropL-FCL-AL", "no-Conv": "BN-PL-DropL-FCL-AL"}),
    ]))
    return StudySpec(space=space, name="contrast", sampler="grid", repeats=3)


def _top3(study: optuna.Study) -> list[str]:
    """The three best ranked configs (configs pruned as a whole are listed after them, unranked)."""
    from studies import leaderboard

    board = leaderboard(study)
    return list(board[board["pruned_at_epoch"].isna()]["label"].head(3))


def _prune_bounds(study: optuna.Study) -> tuple[set[str], int]:
    """Of the unpruned study: the configs it cannot tell apart from the best (the best's mean
    inside the config's 95% CI), and the epochs an oracle that knew the final
    top 3 would run (the top 3 in full; one epoch for every other config)."""
    from studies.analysis._leaderboard import leaderboard_table

    board = leaderboard_table(study)
    ties = set(board.loc[board["val_ci_high"] >= board.loc[0, "val_mean"], "label"])
    top = set(board["label"].head(3))
    label = dict(zip(board["group"], board["label"]))
    kept = sum(len(t.intermediate_values) for t in study.trials if label.get(t.user_attrs.get("config_id")) in top)
    return ties, kept + len(board) - len(top)


PARTS = ("claims", "queue", "status", "report", "lean", "workers", "prune", "first_error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one round (a smoke test)")
    parser.add_argument("--cache", default=None, help="folder for the synthesized studies (reused across runs)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; valid: {', '.join(PARTS)}")
    print(f"engine: load average {loadavg()} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        cache = Path(args.cache) if args.cache else Path(tmp_dir)
        cache.mkdir(parents=True, exist_ok=True)
        for part in parts:
            fn = globals()[f"part_{part}"]
            fn(args.quick, cache) if part in ("status", "report", "prune") else fn(args.quick)
    print(f"engine: load average {loadavg()} after", flush=True)
    passed = sum(r["passed"] for r in RESULTS)
    print(f"engine: total {passed}/{len(RESULTS)} {'PASS' if passed == len(RESULTS) else 'FAIL'}")
    return 0 if passed == len(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
