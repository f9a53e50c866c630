"""Local worker processes: started straight into :func:`studies.run_worker`, not through the CLI.

``launch(workers=N)`` used to start N ``python -m cli study worker`` processes: each built the whole
argument parser and imported the CLI's modules before reaching the worker, and the parent polled
every second. Here each process runs ``python -c`` into :func:`worker_main` (a small argument
parser of the worker's own options only), and the parent waits on the processes themselves,
updating the progress bar in between, so it returns as soon as the last worker exits.

``launch`` starts them *gated* (``--gated``) before it validates and queues: a worker process spends
seconds importing torch and the rest, and those seconds overlap the parent's own validation
instead of following it. A gated worker imports what every trial needs, then waits for one line
on its stdin: a JSON object of options decided once the study exists (``release``), or end of
file when the launch failed, in which case it exits without having opened the storage.

A subprocess rather than ``multiprocessing``: each worker needs its own environment
(``CUDA_VISIBLE_DEVICES``, ``OMP_NUM_THREADS``) set before torch is imported, and a worker
killed by a signal must not take a pool down with it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the worker's imports wait for the release (module docstring)
    import optuna

    from studies.engine._claimed import WorkerReport
    from studies.storage import StorageOptions

# The Python code each worker process runs; its arguments follow (see worker_main).
# Ctrl-C is ignored until the launch releases the worker (the launch stops an unreleased worker
# itself), so a Ctrl-C during the imports prints no traceback; then it is what it was.
WORKER_CODE = ("import signal; sigint = signal.signal(signal.SIGINT, signal.SIG_IGN); "
               "from objectives._warm import own_process; own_process(); "
               "import studies.engine._processes as p; c = p.worker_main(sigint=sigint); p.before_exit(); "
               "raise SystemExit(c)")


ROOT = Path(__file__).resolve().parents[2]  # the checkout (studies/engine/../..): `python -m cli` resolves here


def worker_argv(args: Sequence[str]) -> list[str]:
    """The command line of one worker process with worker options ``args``."""
    return [sys.executable, "-c", WORKER_CODE, *args]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="layerlab-worker")
    p.add_argument("--storage", required=True)
    p.add_argument("--study-name", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--worker-index", type=int, default=0)
    p.add_argument("--heartbeat-interval", type=int, required=True)
    p.add_argument("--grace-period", type=int, required=True)
    p.add_argument("--outage-limit", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--checkpoint-dir")
    p.add_argument("--artifact-dir")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--batch-repeats", default="off")
    p.add_argument("--gpu-slot", default="0/1", help="SLOT/K: this worker's slot among K sharing its GPU")
    p.add_argument("--gated", action="store_true", help="wait for the launch's go line on stdin (see release)")
    return p


def _stop_at_once(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a worker not yet released has nothing to hand back


def worker_main(argv: Sequence[str] | None = None, *, sigint: Any = None) -> int:
    """Entry point of a local worker process: run the worker; a usage error is one line and exit
    code 2, as in the CLI; once released, SIGTERM, SIGHUP and Ctrl-C hand the running cell back.
    ``sigint``: the SIGINT handler to restore once released (see ``WORKER_CODE``)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _stop_at_once)  # until released (then studies.engine._faults.stop_on_signals)
    from objectives.interface import pause_collection

    pause_collection()  # until the warm-up below ends the start-up (objectives._warm)
    try:
        from searchspace.errors import LayerlabError
        from studies.engine._faults import exit_with_parent, stop_on_signals
        from studies.storage import StorageOptions

        exit_with_parent()  # armed before the imports: a gated worker of a killed launch never waits on
        from studies.engine._worker import work

        go = _wait_for_go(args.device) if args.gated else {}
    except KeyboardInterrupt:
        return 130
    if go is None:
        return 0  # the launch stopped before releasing its workers: nothing was opened or written
    if sigint is not None:
        signal.signal(signal.SIGINT, sigint)  # released: as it was (ignored stays ignored), then
    stop_on_signals()  # Ctrl-C, SIGTERM and SIGHUP hand the running cell back
    checkpoint_dir = go.get("checkpoint_dir", args.checkpoint_dir)
    slot, per_gpu = (int(v) for v in args.gpu_slot.split("/"))
    per_gpu = int(go.get("trials_per_gpu", per_gpu))  # auto decides it after the launch measured a trial
    try:
        limit = {} if args.outage_limit is None else {"outage_limit": args.outage_limit}
        options = StorageOptions(heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period, **limit)
        report = work(
            args.storage, args.study_name, device=args.device, data_dir=args.data_dir,
            checkpoint_dir=checkpoint_dir, artifact_dir=args.artifact_dir,
            worker_index=args.worker_index, options=options, batch_repeats=args.batch_repeats,
            gpu_slot=(slot, per_gpu),
        )
    except LayerlabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return getattr(exc, "exit_code", 2)  # 4: an infrastructure fault (studies.engine._faults)
    except KeyboardInterrupt:
        return 130
    if not args.quiet:
        print(f"worker {args.worker_index}: {report.completed} complete, {report.pruned} pruned, "
              f"{report.failed} failed")
    return 0


def run_worker(
    storage_url: str,
    study_name: str,
    *,
    device: str = "auto",
    data_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    artifact_dir: str | Path | None = None,
    worker_index: int = 0,
    options: StorageOptions | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
    max_trials: int | None = None,
    wait: bool = True,
    batch_repeats: str = "off",
    gpu_slot: tuple[int, int] = (0, 1),
    trials_per_gpu: int | str | None = 1,
    handle_signals: bool = False,
) -> WorkerReport:
    """Claim and run cells of study ``study_name`` until none is waiting or running.

    Args:
        artifact_dir: where trial artifacts go (default: the directory recorded on the study).
        worker_index: seeds this worker's sampler (``seed + 1000 * index``).
        max_trials: stop after this many trials.
        wait: when nothing is waiting but other trials run, wait for them (they may die and be
            re-queued) instead of exiting.
        batch_repeats: ``auto`` | ``on`` | ``off``: train a config's waiting repeats together
            (see :mod:`studies.engine._batch`); ``auto`` only where a probe measures it faster.
        gpu_slot: (this worker's slot, trial processes on its GPU): a trial that runs out of GPU
            memory beside others is handed back, and a worker in slot > 0 then retires
            (:mod:`studies.engine._gpu_share`).
        trials_per_gpu: an int or ``auto`` (None): this worker and ``K - 1`` worker processes share
            its GPU (``auto``: as many as a measured trial fits; 1 on a CPU). ``study worker`` passes
            ``auto`` by default; here the default is 1, this process alone.
        handle_signals: what ``study worker`` does: a stop signal (a scheduler preempting the job,
            Ctrl-C, SIGHUP) hands the running cell back and ends the worker (main thread only).
    """
    if handle_signals:
        from studies.engine._faults import stop_on_signals

        stop_on_signals()
    from studies.engine._worker import work

    if trials_per_gpu != 1:
        return run_workers(storage_url, study_name, trials_per_gpu=trials_per_gpu, device=device, data_dir=data_dir,
                           checkpoint_dir=checkpoint_dir, artifact_dir=artifact_dir, worker_index=worker_index,
                           options=options, on_trial=on_trial, on_epoch=on_epoch, max_trials=max_trials, wait=wait,
                           batch_repeats=batch_repeats)
    return work(storage_url, study_name, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
                artifact_dir=artifact_dir, worker_index=worker_index, options=options, on_trial=on_trial,
                on_epoch=on_epoch, max_trials=max_trials, wait=wait, batch_repeats=batch_repeats, gpu_slot=gpu_slot)


def run_workers(storage: str, study_name: str, *, trials_per_gpu: int | str | None = None, device: str = "auto",
                data_dir: Any = None, checkpoint_dir: Any = None, artifact_dir: Any = None,
                worker_index: int = 0, options: Any = None, batch_repeats: str = "off", **worker: Any):
    """:func:`run_worker` with ``trials_per_gpu=K``: one worker in this process, plus ``K - 1`` worker
    processes sharing its GPU (``auto``: as many as a measured trial fits, see
    :mod:`studies.engine._gpu_share`; 1 on a CPU). Returns this process's WorkerReport; the others' exit
    codes, when not 0, are one warning line. ``worker``: the rest of run_worker's arguments."""
    from studies.engine._gpu_options import check_gpu_options
    from studies.engine._gpu_share import Share, note, resolve_trials_per_gpu
    from studies._spec import load_spec
    from studies.storage import StorageOptions, open_storage
    from studies.engine._worker import _open_study, work

    options = options or StorageOptions()
    per_gpu = check_gpu_options(trials_per_gpu=trials_per_gpu, device=device)
    share = Share(1, "")
    if per_gpu != 1:
        from objectives.interface import resolve_device

        if resolve_device(device).type == "cuda":
            spec = load_spec(_open_study(open_storage(storage, options=options), study_name))
            check_gpu_options(trials_per_gpu=trials_per_gpu, device=device, space=spec.space)
            share = resolve_trials_per_gpu(per_gpu, spec, gpus=None, device=device, data_dir=data_dir)
            note(share)
    helpers = []
    if share.per_gpu > 1:
        from studies.engine._faults import PARENT_ENV
        commands = worker_commands(storage, study_name, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
                                   artifact_dir=artifact_dir, options=options, batch_repeats=batch_repeats, start=1,
                                   trials_per_gpu=share.per_gpu, on_cuda=True)
        for cmd, _env in commands:  # their worker indices follow this one's
            at = cmd.index("--worker-index") + 1
            cmd[at] = str(worker_index + int(cmd[at]))
        helpers = start_processes(commands, pythonpath=str(ROOT), parent_env={PARENT_ENV: str(os.getpid())})
    try:
        report = work(storage, study_name, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
                      artifact_dir=artifact_dir, worker_index=worker_index, options=options,
                      batch_repeats=batch_repeats, gpu_slot=(0, share.per_gpu), **worker)
        codes = wait_processes(helpers)
    except BaseException:
        stop_processes(helpers)
        raise
    failed = [code for code in codes if code != 0]
    if failed:
        sys.stderr.write(f"warning: {len(failed)} of {len(codes)} worker processes on this GPU exited with "
                         f"errors {failed}\n")
    return report


@contextlib.contextmanager
def command_process() -> Iterator[None]:
    """``with command_process():`` around a command that owns its process (``cli.run``): its
    start-up may be frozen for the collector (objectives' warm-up), and at the end it exits as a
    worker process does (:func:`before_exit`) after a command that opened storages, else it only
    freezes, so the interpreter's collections over every object (1-2 s with torch loaded) are
    skipped, also when the command raised."""
    import gc

    from objectives.interface import own_process

    own_process()
    try:
        yield
    finally:
        if "studies.storage" in sys.modules:
            before_exit()
        else:
            gc.freeze()


def before_exit() -> None:
    """The last step of a layerlab process (a worker process, and ``cli.run`` after a command that
    opened storages): close the storages' connections (on SQLite the last close folds the
    write-ahead log into the database file), then freeze every object so that the interpreter's
    collections at exit skip them (objectives._warm)."""
    import gc

    from studies.storage import close_storages

    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:  # the work is over: a second stop (the launch's SIGTERM after a Ctrl-C)
            signal.signal(sig, signal.SIG_IGN)  # must not raise in the middle of the exit
    close_storages()
    gc.freeze()


def _wait_for_go(device: str = "auto") -> dict[str, Any] | None:
    """A gated worker: import what a trial needs (and on a GPU create its CUDA context) while the
    launch validates, then block on stdin for the launch's go line; its options, or None at end of
    file (the launch stopped)."""
    from objectives.interface import warm_up

    warm_up(device)
    line = sys.stdin.readline()
    if not line.strip():
        return None
    return json.loads(line)


def start_processes(
    commands: Sequence[tuple[list[str], dict[str, str]]],
    *,
    pythonpath: str,
    parent_env: dict[str, str] | None = None,
    gated: bool = False,
) -> list[subprocess.Popen]:
    """Start one process per (argv, extra environment). ``parent_env`` is added to every
    environment (e.g. ``LAYERLAB_PARENT_PID``, so workers die with their parent). ``gated``: their
    stdin is a pipe and they wait on it (commands built with ``--gated``; see :func:`release`)."""
    procs = []
    try:
        for cmd, extra in commands:
            env = {**os.environ, **extra}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
            env.update(parent_env or {})
            procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if gated else None, text=gated))
    except BaseException:
        stop_processes(procs, kill=True)
        raise
    return procs


def release(procs: Sequence[subprocess.Popen], options: dict[str, Any]) -> None:
    """Let gated workers go, with ``options`` (JSON) decided once the study exists."""
    line = json.dumps(options) + "\n"
    for proc in procs:
        if proc.stdin is None:
            continue
        try:
            proc.stdin.write(line)
            proc.stdin.close()
        except (BrokenPipeError, OSError):  # it already exited; its exit code tells
            pass


def stop_processes(procs: Sequence[subprocess.Popen], *, kill: bool = False) -> None:
    """Stop every process still running and wait for it: SIGTERM (each hands its running cell
    back) or, for gated workers never released (they opened nothing), SIGKILL."""
    for p in procs:
        if p.poll() is None:
            p.kill() if kill else p.terminate()
    for p in procs:
        p.wait()
        if p.stdin is not None and not p.stdin.closed:
            with contextlib.suppress(OSError):
                p.stdin.close()


def wait_processes(
    procs: Sequence[subprocess.Popen],
    *,
    on_progress: Callable[[], None] | None = None,
    every: float = 1.0,
) -> list[int]:
    """Wait until every process exits; their exit codes. ``on_progress`` runs about every
    ``every`` seconds meanwhile. Ctrl-C, SIGTERM or any error here stops them (SIGTERM: each
    hands its running cell back) and re-raises: never leave the workers running."""
    try:
        next_update = time.monotonic() + every
        for proc in procs:
            while True:
                try:  # wakes as soon as this process exits, not on the next poll
                    proc.wait(timeout=max(0.0, next_update - time.monotonic()))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if on_progress is not None:
                    on_progress()
                next_update = time.monotonic() + every
    except BaseException:
        stop_processes(procs)
        raise
    return [p.returncode for p in procs]


def worker_commands(
    storage: str,
    study_name: str,
    *,
    workers: int = 1,
    gpus: Sequence[str] | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    artifact_dir: str | Path | None = None,
    options: StorageOptions | None = None,
    batch_repeats: str = "off",
    start: int = 0,
    gated: bool = False,
    trials_per_gpu: int = 1,
    on_cuda: bool = False,
    first_slot: int = 0,
) -> list[tuple[list[str], dict[str, str]]]:
    """(argv, extra environment) of each local worker process: ``workers`` CPU/auto workers (each
    with its share of the cores unless ``OMP_NUM_THREADS`` is set), or ``trials_per_gpu`` per entry
    of ``gpus`` with ``CUDA_VISIBLE_DEVICES`` set (each then sees its GPU as ``cuda``), or, on one
    CUDA ``device`` (``on_cuda``), ``trials_per_gpu`` workers sharing it.

    ``start``: the first worker index to start a process for (``launch`` runs worker 0 in its own
    process; ignored with ``gpus``). ``first_slot``: the first GPU slot to start (auto adds slots
    after measuring). ``gated``: each waits for ``studies.engine._processes.release`` before it starts."""
    from studies.storage import StorageOptions

    options = options or StorageOptions()
    per_gpu = max(1, trials_per_gpu)
    if gpus:  # slot-major, so the first processes started are one per GPU
        places = [(slot, {"CUDA_VISIBLE_DEVICES": str(g)}) for slot in range(first_slot, per_gpu) for g in gpus]
        start = first_slot * len(gpus)
    elif on_cuda and per_gpu > 1:
        places = [(slot, {}) for slot in range(max(start, first_slot), per_gpu)]
        start = max(start, first_slot)
    else:
        # N CPU workers would each start one thread per core; oversubscribed, torch crawls.
        threads = ({} if "OMP_NUM_THREADS" in os.environ
                   else {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers))})
        places, per_gpu = [(0, dict(threads)) for _ in range(start, workers)], 1
    out = []
    for index, (slot, env) in enumerate(places, start=start):
        cmd = worker_argv([  # python -c into studies.engine._processes.worker_main, not through the CLI
            "--storage", storage, "--study-name", study_name,
            "--device", "cuda" if gpus else device, "--worker-index", str(index), "--quiet",
            "--heartbeat-interval", str(options.heartbeat_interval), "--grace-period", str(options.grace_period),
            "--outage-limit", str(options.outage_limit),
        ])
        if per_gpu > 1:
            cmd += ["--gpu-slot", f"{slot}/{per_gpu}"]
        if batch_repeats != "off":
            cmd += ["--batch-repeats", batch_repeats]
        if gated:
            cmd.append("--gated")
        for flag, value in (("--data-dir", data_dir), ("--checkpoint-dir", checkpoint_dir),
                            ("--artifact-dir", artifact_dir)):
            if value is not None:
                cmd += [flag, str(value)]
        out.append((cmd, env))
    return out
