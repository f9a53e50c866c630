"""Local worker processes: started straight into :func:`studies.run_worker`, not through the CLI.

``launch(workers=N)`` used to start N ``python -m cli study worker`` processes: each built the whole
argument parser and imported the CLI's modules before reaching the worker, and the parent polled
every second. Here each process runs ``python -c`` into :func:`worker_main` (a small argument
parser of the worker's own options only), and the parent waits on the processes themselves,
updating the progress bar in between, so it returns as soon as the last worker exits.

A subprocess rather than ``multiprocessing``: each worker needs its own environment
(``CUDA_VISIBLE_DEVICES``, ``OMP_NUM_THREADS``) set before torch is imported, and a worker
killed by a signal must not take a pool down with it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# The Python code each worker process runs; its arguments follow (see worker_main).
WORKER_CODE = "import studies._processes as p; raise SystemExit(p.worker_main())"


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
    p.add_argument("--data-dir")
    p.add_argument("--checkpoint-dir")
    p.add_argument("--artifact-dir")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--batch-repeats", default="off")
    return p


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # the worker hands its running cell back to the queue


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a local worker process: run the worker; a usage error is one line and exit
    code 2, as in the CLI; SIGTERM hands the running cell back."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    from searchspace.errors import LayerlabError
    from studies._storage import StorageOptions
    from studies._worker import run_worker

    try:
        options = StorageOptions(heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period)
        report = run_worker(
            args.storage, args.study_name, device=args.device, data_dir=args.data_dir,
            checkpoint_dir=args.checkpoint_dir, artifact_dir=args.artifact_dir,
            worker_index=args.worker_index, options=options, batch_repeats=args.batch_repeats,
        )
    except LayerlabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return getattr(exc, "exit_code", 2)  # 4: an infrastructure fault (studies._faults)
    except KeyboardInterrupt:
        return 130
    if not args.quiet:
        print(f"worker {args.worker_index}: {report.completed} complete, {report.pruned} pruned, {report.failed} failed")
    return 0


def run_processes(
    commands: Sequence[tuple[list[str], dict[str, str]]],
    *,
    pythonpath: str,
    on_progress: Callable[[], None] | None = None,
    every: float = 1.0,
    parent_env: dict[str, str] | None = None,
) -> list[int]:
    """Start one process per (argv, extra environment) and wait until all exit; their exit codes.

    ``on_progress`` runs about every ``every`` seconds while they run. ``parent_env`` is added to
    every environment (e.g. ``LAYERLAB_PARENT_PID``, so workers die with their parent). Ctrl-C,
    SIGTERM or any error here terminates them (SIGTERM: each hands its running cell back) and
    re-raises: never leave the workers running.
    """
    procs = []
    for cmd, extra in commands:
        env = {**os.environ, **extra}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
        env.update(parent_env or {})
        procs.append(subprocess.Popen(cmd, env=env))
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
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()
        raise
    return [p.returncode for p in procs]
