"""Soak: workers on PostgreSQL over thousands of short trials while workers are killed and the
database restarts at random. A benchmark, not a CI test (docs/robustness.md records a run).

    python benchmarks/soak.py [--trials 2000] [--workers 8] [--storage postgresql://...]

Without ``--storage`` it starts a throwaway PostgreSQL server the way ``.ci/postgres.sh`` does
(127.0.0.1 only) and removes it afterwards. Every trial is the ``synthetic`` objective plus a short
sleep (``--trial-seconds``), so the study machinery, not training, is what runs. Meanwhile:

- every ``--kill-every`` seconds on average, one worker process gets SIGKILL (mid-trial or not) and
  a new one takes its place a moment later;
- every ``--restart-every`` seconds on average, the database server stops (``pg_ctl -m immediate``,
  every connection cut) for 1 to ``--max-outage`` seconds, longer than the grace period at times,
  and starts again.

It ends with the counts, one line each:
  complete     cells with a COMPLETE trial (target: all)
  lost         cells without one (target 0)
  duplicated   cells COMPLETE more than once (target 0)
  live trials failed   trials failed as "worker lost" whose worker was alive: never killed, or
               killed only after the trial was failed (target 0)
and, for the record, the kills, restarts, trials failed because their worker was killed (expected;
the claimant is the ``layerlab:claim`` attribute written with each claim), other failures, the
workers' exit codes, the wall time and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUDY = "soak"
OBJECTIVE = "soak-sleep"


def register() -> None:
    """The synthetic objective, plus a sleep of $LAYERLAB_SOAK_SECONDS per trial (a short trial)."""
    from objectives import register_objective
    from objectives._objective import list_objectives
    from objectives._synthetic import SyntheticObjective

    if OBJECTIVE in list_objectives():
        return

    @register_objective(OBJECTIVE)
    class SleepyObjective(SyntheticObjective):
        def __call__(self, trial):
            time.sleep(float(os.environ.get("LAYERLAB_SOAK_SECONDS", "0.3")))
            return super().__call__(trial)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# -- the database server ---------------------------------------------------------------------------


def start_server():
    """A PostgreSQL server of the soak's own (tests/_postgres.py), which it restarts at random."""
    from tests._postgres import PostgresServer

    try:
        return PostgresServer()
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


# -- workers -----------------------------------------------------------------------------------------


def worker_main(argv: list[str]) -> int:
    """One worker process: the soak objective registered, then layerlab's worker."""
    p = argparse.ArgumentParser(prog="soak worker")
    p.add_argument("--storage", required=True)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--heartbeat", type=int, default=1)
    p.add_argument("--grace", type=int, default=4)
    args = p.parse_args(argv)
    register()
    from searchspace.errors import LayerlabError
    from studies import StorageOptions, run_worker

    try:
        run_worker(args.storage, STUDY, device="cpu", worker_index=args.index,
                   options=StorageOptions(heartbeat_interval=args.heartbeat, grace_period=args.grace))
    except LayerlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    return 0


def start_worker(url: str, index: int, args: argparse.Namespace, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "LAYERLAB_SOAK_SECONDS": str(args.trial_seconds)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--storage", url, "--index", str(index),
           "--heartbeat", str(args.heartbeat), "--grace", str(args.grace)]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)


# -- the run -----------------------------------------------------------------------------------------


def make_spec(trials: int, repeats: int):
    from searchspace import Categorical, Space
    from studies import StudySpec
    from searchspace._pin import build_space

    configs = max(1, trials // repeats)
    space = build_space({"family": "seq", "dataset": "digits", "synth_noise": 0.01},
                        Space([Categorical("synth_mean", choices=[round(i / configs, 6) for i in range(configs)])]))
    return StudySpec(space=space, name=STUDY, objective=OBJECTIVE, repeats=repeats)


def progress(url: str) -> tuple[int, int] | None:
    """(cells done, trials waiting or running), or None while the server is away."""
    import sqlalchemy

    from studies.storage._postgres import engine_url

    try:
        engine = sqlalchemy.create_engine(engine_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT state, count(*) FROM trials GROUP BY state")).all()
        engine.dispose()
    except Exception:
        return None
    states = {str(s).split(".")[-1]: n for s, n in rows}
    return states.get("COMPLETE", 0), states.get("WAITING", 0) + states.get("RUNNING", 0)


def run(args: argparse.Namespace) -> int:
    register()
    from studies import StorageOptions
    from studies.engine._launch import create_or_resume

    rng = random.Random(args.seed)
    server = None if args.storage else start_server()
    url = args.storage or server.url
    options = StorageOptions(heartbeat_interval=args.heartbeat, grace_period=args.grace)
    spec = make_spec(args.trials, args.repeats)
    create_or_resume(spec, url, STUDY, options=options, check_data=False,
                     artifact_dir=Path(args.log).parent / "soak-artifacts")
    cells = spec.total_cells()
    print(f"soak: {cells} cells, {args.workers} workers, kill every ~{args.kill_every} s, restart every "
          f"~{args.restart_every} s (down 1-{args.max_outage} s), grace {args.grace} s; load average {loadavg()}",
          flush=True)
    log = open(args.log, "w")
    workers: dict[int, subprocess.Popen] = {}  # slot -> process
    killed: dict[int, float] = {}  # pid -> when it was killed (wall clock)
    exits: Counter = Counter()
    next_index = 0

    def spawn(slot: int) -> None:
        nonlocal next_index
        workers[slot] = start_worker(url, next_index, args, log)
        next_index += 1

    for slot in range(args.workers):
        spawn(slot)
    start = time.time()
    next_kill = start + rng.expovariate(1 / args.kill_every)
    next_restart = start + rng.expovariate(1 / args.restart_every)
    outages, last, restarter = [], (0, cells), None
    try:
        while True:
            now = time.time()
            if now - start > args.timeout:
                print("soak: timed out", flush=True)
                break
            seen = progress(url)
            if seen is not None:
                last = seen
                if seen[1] == 0 and seen[0] >= cells:
                    break
            for slot, proc in list(workers.items()):  # a worker that ended while work remains: replaced
                if proc.poll() is not None:
                    exits[proc.returncode] += 1
                    if last[1] > 0:
                        spawn(slot)
                    else:
                        del workers[slot]
            if now >= next_kill and workers:
                slot = rng.choice(sorted(workers))
                proc = workers[slot]
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed[proc.pid] = time.time()
                time.sleep(rng.uniform(0, 1))
                spawn(slot)
                next_kill = time.time() + rng.expovariate(1 / args.kill_every)
            if server is not None and now >= next_restart and (restarter is None or not restarter.is_alive()):
                down = rng.uniform(1, args.max_outage)  # in a thread: workers are killed meanwhile too
                restarter = threading.Thread(target=server.restart, args=(down,), daemon=True)
                restarter.start()
                outages.append(down)
                next_restart = time.time() + down + rng.expovariate(1 / args.restart_every)
            time.sleep(0.2)
        if restarter is not None:
            restarter.join()
        for proc in workers.values():  # the study is done: workers exit by themselves
            try:
                exits[proc.wait(timeout=120)] += 1
            except subprocess.TimeoutExpired:
                proc.kill()
                exits["hung"] += 1
        wall = time.time() - start
        return report(url, cells, killed, exits, len(outages), outages, wall, args)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.kill()
        log.close()
        if server is not None and not args.keep:
            server.remove()


def report(url, cells, killed, exits, restarts, outages, wall, args) -> int:
    import optuna
    from optuna.trial import TrialState

    from studies import StorageOptions
    from studies.storage._backend import open_storage
    from studies.storage._rdb import CLAIM_ATTR

    study = optuna.load_study(study_name=STUDY, storage=open_storage(url, options=StorageOptions(
        heartbeat_interval=args.heartbeat, grace_period=args.grace)))
    trials = study.get_trials(deepcopy=False)
    complete = Counter((t.user_attrs.get("config_id"), t.user_attrs.get("repeat"))
                       for t in trials if t.state == TrialState.COMPLETE)
    lost = cells - len(complete)
    duplicated = sum(1 for n in complete.values() if n > 1)
    live_failed = killed_failed = other_failed = 0
    for t in trials:
        if t.state != TrialState.FAIL:
            continue
        reason = t.user_attrs.get("fail_reason", "")
        if not reason.startswith("worker lost"):
            other_failed += 1  # e.g. handed back when a worker stopped on an outage
            continue
        claimant = str(t.system_attrs.get(CLAIM_ATTR, "")).split(":")  # host:pid:nonce, written with the claim
        pid = int(claimant[1]) if len(claimant) == 3 else None
        when = t.datetime_complete.timestamp() if t.datetime_complete else time.time()
        if pid in killed and killed[pid] <= when + 1:
            killed_failed += 1
        else:
            live_failed += 1  # its worker was alive when the trial was declared lost
            later = f", that worker killed at {time.strftime('%H:%M:%S', time.localtime(killed[pid]))}" if pid in killed else ""
            print(f"soak: live trial failed: trial {t.number}, claimed by {'pid ' + str(pid) if pid else 'nobody known'}"
                  f" at {t.datetime_start}, failed at {t.datetime_complete}{later}")
    print(f"soak: complete {len(complete)} of {cells}", flush=True)
    print(f"soak: lost {lost}")
    print(f"soak: duplicated {duplicated}")
    print(f"soak: live trials failed {live_failed}")
    print(f"soak: {len(trials)} trials; {len(killed)} worker kills ({killed_failed} trials failed because their "
          f"worker was killed); {restarts} database restarts (down {sum(outages):.0f} s in all, longest "
          f"{max(outages, default=0):.1f} s); {other_failed} other failures; worker exits "
          f"{dict(exits)}")
    print(f"soak: wall {wall:.0f} s ({len(trials) / wall:.1f} trials/s); load average {loadavg()}")
    return 0 if lost == duplicated == live_failed == 0 else 1


def main() -> int:
    if sys.argv[1:2] == ["worker"]:
        return worker_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--storage", help="an empty PostgreSQL database (default: a throwaway server, restarted at random)")
    p.add_argument("--trials", type=int, default=2000, help="cells to run (configs x repeats)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--trial-seconds", type=float, default=0.3, help="each trial sleeps this long")
    p.add_argument("--kill-every", type=float, default=6.0, help="mean seconds between worker kills")
    p.add_argument("--restart-every", type=float, default=25.0, help="mean seconds between database restarts")
    p.add_argument("--max-outage", type=float, default=8.0, help="longest database outage, seconds")
    p.add_argument("--heartbeat", type=int, default=1)
    p.add_argument("--grace", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--log", default="/tmp/layerlab-soak.log", help="the workers' output")
    p.add_argument("--keep", action="store_true", help="keep the throwaway server's directory")
    return run(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
