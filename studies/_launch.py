"""Launch or resume a study, queue its grid cells once, and run workers.

``launch`` validates everything first (nothing is written for bad input), creates the study or
loads the one with the same name (refusing it when its spec differs), queues every missing
(config, repeat) cell of a grid as a WAITING trial, then runs workers: in this process, as N local
processes, or one per GPU with ``CUDA_VISIBLE_DEVICES`` set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.trial import TrialState
from tqdm.auto import tqdm

from searchspace._errors import ConfigError
from studies._spec import StudyError, StudySpec
from studies._storage import DEFAULT_STORAGE, StorageOptions, open_storage, sqlite_path
from studies._worker import SPEC_ATTR, load_spec, run_worker

optuna.logging.set_verbosity(optuna.logging.WARNING)


def cell_key(params: dict, repeat: int) -> str:
    return json.dumps([params, int(repeat)], sort_keys=True, default=str)


def default_checkpoint_dir(storage_url: str, study_name: str) -> Path:
    path = sqlite_path(storage_url)
    root = path.parent if path is not None else Path("runs")
    return root / "checkpoints" / study_name


def create_or_resume(
    spec: StudySpec, storage_url: str, study_name: str, *, options: StorageOptions | None = None
) -> optuna.Study:
    """The study ``study_name`` with ``spec``: created, or resumed when it exists with the same spec."""
    spec.validate()
    storage = open_storage(storage_url, create=True, options=options)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if study_name in names:
        study = optuna.load_study(study_name=study_name, storage=storage)
        stored = study.user_attrs.get(SPEC_ATTR)
        if not stored:
            raise StudyError(f"study {study_name!r} exists but was not made by layerlab; pick another --study-name")
        if stored.get("fingerprint") != spec.fingerprint():
            raise StudyError(
                f"study {study_name!r} exists with a different spec (preset {stored['spec'].get('name')!r}); "
                "refusing to mix them: pick another --study-name or relaunch with the same options"
            )
    else:
        study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
        study.set_user_attr(SPEC_ATTR, {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    if spec.sampler == "grid":
        queue_grid(study, spec)
    return study


def queue_grid(study: optuna.Study, spec: StudySpec, *, retry_failed: bool = False) -> int:
    """Queue every grid cell that has no trial yet (failed ones too with ``retry_failed``)."""
    present = {
        cell_key(t.params, t.user_attrs.get("repeat", 0))
        for t in study.get_trials(deepcopy=False)
        if not (retry_failed and t.state == TrialState.FAIL)
    }
    queued = 0
    for params, _config, repeat in spec.grid_cells():
        key = cell_key(params, repeat)
        if key in present:
            continue
        study.enqueue_trial(params, user_attrs={"repeat": repeat})
        present.add(key)
        queued += 1
    return queued


def launch(
    spec: StudySpec,
    *,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    workers: int = 1,
    gpus: Sequence[str] | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    options: StorageOptions | None = None,
) -> optuna.Study:
    """Create (or resume) the study and run it to completion; returns the Optuna study."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"--workers must be an integer >= 1, got {workers!r}")
    if gpus is not None and len(gpus) == 0:
        raise ConfigError("--gpus needs at least one device index, e.g. --gpus 0,1")
    study_name = study_name or spec.name
    study = create_or_resume(spec, storage, study_name, options=options)
    checkpoint_dir = checkpoint_dir or default_checkpoint_dir(storage, study_name)
    if gpus:
        _run_processes(storage, study_name, [{"CUDA_VISIBLE_DEVICES": str(g)} for g in gpus], "cuda",
                       data_dir, checkpoint_dir, spec, progress, options)
    elif workers > 1:
        _run_processes(storage, study_name, [{} for _ in range(workers)], device,
                       data_dir, checkpoint_dir, spec, progress, options)
    else:
        _run_inline(storage, study_name, device, data_dir, checkpoint_dir, spec, progress, options, study)
    return optuna.load_study(study_name=study_name, storage=open_storage(storage, options=options))


def _progress_bar(spec: StudySpec, study: optuna.Study, enabled: bool) -> tqdm:
    done = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished() and "fail_reason" not in t.user_attrs)
    total = spec.total_cells()
    return tqdm(total=total, initial=min(done, total or done), unit="trial", disable=not enabled,
                desc=study.study_name, dynamic_ncols=True, file=sys.stderr)


def _run_inline(storage, study_name, device, data_dir, checkpoint_dir, spec, progress, options, study) -> None:
    bar = _progress_bar(spec, study, progress)

    def on_trial(frozen: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        if frozen.value is not None:
            bar.set_postfix_str(f"last val {frozen.value:.4f} | trial {frozen.number} {frozen.state.name.lower()}")

    def on_epoch(stats) -> None:
        bar.set_postfix_str(f"epoch {stats.epoch} val {stats.val_accuracy:.4f}")

    try:
        run_worker(storage, study_name, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
                   options=options, on_trial=on_trial, on_epoch=on_epoch)
    finally:
        bar.close()


def worker_command(storage: str, study_name: str, device: str, data_dir, checkpoint_dir, index: int) -> list[str]:
    cmd = [sys.executable, "-m", "cli", "study", "worker", "--storage", storage, "--study-name", study_name,
           "--device", device, "--worker-index", str(index), "--quiet"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    if checkpoint_dir is not None:
        cmd += ["--checkpoint-dir", str(checkpoint_dir)]
    return cmd


def _run_processes(storage, study_name, envs, device, data_dir, checkpoint_dir, spec, progress, options) -> None:
    """Start one worker process per entry of ``envs`` and follow the study's progress."""
    root = Path(__file__).resolve().parent.parent  # so `-m cli` resolves from a source checkout
    procs = []
    for index, extra in enumerate(envs):
        env = {**os.environ, **extra}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        if options is not None:
            env["LAYERLAB_HEARTBEAT_INTERVAL"] = str(options.heartbeat_interval)
            env["LAYERLAB_GRACE_PERIOD"] = str(options.grace_period)
        procs.append(subprocess.Popen(worker_command(storage, study_name, device, data_dir, checkpoint_dir, index), env=env))
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage, options=options))
    bar = _progress_bar(spec, study, progress)
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(1.0)
            done = sum(1 for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
            bar.update(max(0, done - bar.n))
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    finally:
        bar.close()
    failed = [p.returncode for p in procs if p.returncode != 0]
    if len(failed) == len(procs):
        raise StudyError(f"all {len(procs)} worker processes exited with errors ({failed}); see their output above")
