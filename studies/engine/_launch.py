"""Launch or resume a study, queue its cells once, and run workers.

``launch`` validates everything first (nothing is written for bad input), creates the study or
loads the one with the same name (refusing it when its spec differs), queues every missing cell
(:mod:`studies.engine._cells`), then runs workers: in this process (and N-1 local processes), or one
process per GPU with ``CUDA_VISIBLE_DEVICES`` set. Workers on other machines join with ``study worker``.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import optuna
from tqdm.auto import tqdm

from objectives.interface import resolve_device
from objectives.interface import end_start_up, pause_collection, resume_collection
from objectives.interface import check_batch_mode
from searchspace.errors import ConfigError
from studies._artifacts import CHECKPOINT_KEY, SPEC_ATTR, checkpoint_dir_of, default_artifact_dir
from studies._artifacts import default_checkpoint_dir
from studies.engine._cells import count_cells, queue_grid, queue_slots, requeue_failed
from studies._options import MAX_CELLS
from studies.engine._faults import EXIT_FAULT, PARENT_ENV, FaultError, check_cell_limit, stop_on_signals
from studies.engine._gpu_options import AUTO, check_gpu_options
from studies.engine._gpu_share import Share, note, resolve_trials_per_gpu
from studies._names import check_study_name, name_problem, study_slug
from studies._options import check_options
from studies.engine._race import RACE_ATTR, RaceSettings
from studies.engine._race_storage import race_spec, start_race
from studies.engine._processes import (
    ROOT,
    release,
    start_processes,
    stop_processes,
    wait_processes,
    worker_commands,
)
from studies._spec import StudyError, StudySpec, spec_differences
from studies.engine._study_info import describe_study
from studies.storage import (DEFAULT_STORAGE, StorageOptions, backend_of, close_storage, open_storage, outage_clock,
                             storage_file)
from studies.engine._worker import work

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _unrecorded_checkpoint_dir(storage_url: str, study_name: str) -> Path:
    """Where a study made before its checkpoint folder was recorded on it keeps checkpoints: beside
    its SQLite file, else under ``runs/`` (a new study records ``default_checkpoint_dir``'s)."""
    path = storage_file(storage_url)
    root = path.parent if path is not None else Path("runs")
    return root / "checkpoints" / study_slug(study_name)  # a name is never a path (studies._names)


def check_new_name(storage_url: str, study_name: str) -> None:
    """Refuse ``study_name`` unless it is a plain name or names a study that exists already
    (studies made before the rules keep working); before anything is written."""
    if name_problem(study_name) is None:
        return
    path = storage_file(storage_url)
    if path is None or path.exists():  # look without creating anything
        storage = open_storage(storage_url)
        try:
            if study_name in {s.study_name for s in storage.get_all_studies()}:
                return
        finally:
            close_storage(storage)
    check_study_name(study_name)


def create_or_resume(
    spec: StudySpec,
    storage_url: str,
    study_name: str,
    *,
    options: StorageOptions | None = None,
    artifact_dir: str | Path | None = None,
    retry_failed: bool = False,
    data_dir: str | Path | None = None,
    check_data: bool = True,
    checkpoint_dir: str | Path | None = None,
    max_cells: int | None = MAX_CELLS,
    progress: bool = False,
    race: RaceSettings | None = None,
) -> optuna.Study:
    """The study ``study_name`` with ``spec``: created, or resumed when it exists with the same
    spec; every cell without a trial is queued. A different spec is refused, never mixed in.
    Every config is checked first, data and models included (``StudySpec.validate``), so bad
    input writes nothing.

    Args:
        artifact_dir: where trial artifacts go (default: ``artifacts/`` beside a SQLite or journal
            file, else ``runs/artifacts``); recorded on the study for workers and the dashboard.
        retry_failed: queue one more try of every cell whose trials all failed.
        data_dir: where the datasets are read for the checks (as the workers will read them).
        check_data: load each dataset and build each grid model before writing anything; off when
            only queueing (the data may live on the workers' machines, not here), where each grid
            model is still built on the meta device at its dataset's shape (files or published).
        checkpoint_dir: where running cells checkpoint (default: ``checkpoints/<study>`` beside the
            artifact directory); recorded on the study, so every worker resumes from there.
        max_cells: refuse a study of more cells than this before writing anything (None: no limit).
        progress: progress bars (terminal stderr only) over the data check and the queueing.
        race: race the grid's seed repeats (:mod:`studies.engine._race`); ``spec`` must be
            ``race_spec(spec, race)``. A raced study resumes as a race without it.
    """
    check_new_name(storage_url, study_name)
    # models even when only queueing
    spec.validate(check_data=check_data, data_dir=data_dir, check_models=True, progress=progress)
    check_cell_limit(spec.total_cells(), max_cells)
    storage = open_storage(storage_url, create=True, options=options)
    backend_of(storage).ensure_claim_index()  # here, before any worker opens the storage
    with backend_of(storage).study_lock(study_name, storage_url):
        names = {s.study_name for s in storage.get_all_studies()}  # names only: summaries read every trial
        if study_name in names:
            study = optuna.load_study(study_name=study_name, storage=storage)
            stored = study.user_attrs.get(SPEC_ATTR)
            if not stored:
                raise StudyError(f"study {study_name!r} exists but was not made by layerlab; pick another --study-name")
            if stored.get("fingerprint") != spec.fingerprint():
                diff = spec_differences(stored["spec"], spec.to_dict()) or ["fingerprint"]
                more = f" (+{len(diff) - 3} more)" if len(diff) > 3 else ""
                raise StudyError(
                    f"study {study_name!r} exists with a different spec (preset {stored['spec'].get('name')!r}; "
                    f"{'; '.join(diff[:3])}{more}); refusing to mix them: pick another --study-name or relaunch "
                    "with the same options"
                )
            if spec.sampler != "grid" and spec.n_trials != stored["spec"].get("n_trials"):
                if spec.n_trials < stored["spec"]["n_trials"]:
                    raise StudyError(
                        f"study {study_name!r} already has a budget of {stored['spec']['n_trials']} sampled configs; "
                        f"--n-trials can only grow it, got {spec.n_trials}"
                    )
                stored = {**stored, "spec": {**stored["spec"], "n_trials": spec.n_trials}}  # extend the budget
                study.set_user_attr(SPEC_ATTR, stored)
            if artifact_dir is not None and str(Path(artifact_dir).resolve()) != stored.get("artifact_dir"):
                stored = {**stored, "artifact_dir": str(Path(artifact_dir).resolve())}
                study.set_user_attr(SPEC_ATTR, stored)
            if checkpoint_dir is not None and str(Path(checkpoint_dir).resolve()) != stored.get("checkpoint_dir"):
                stored = {**stored, "checkpoint_dir": str(Path(checkpoint_dir).resolve())}
                study.set_user_attr(SPEC_ATTR, stored)
            if not stored.get(CHECKPOINT_KEY):  # a study made before checkpoints were bound to it
                study.set_user_attr(SPEC_ATTR, {**stored, CHECKPOINT_KEY: secrets.token_hex(16)})
        else:
            check_study_name(study_name)
            study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
            where = Path(artifact_dir).resolve() if artifact_dir is not None else default_artifact_dir(storage_url)
            resume = (Path(checkpoint_dir).resolve() if checkpoint_dir is not None
                      else default_checkpoint_dir(where, study_name))
            study.set_user_attr(SPEC_ATTR, {"spec": spec.to_dict(), "fingerprint": spec.fingerprint(),
                                            "artifact_dir": str(where), "checkpoint_dir": str(resume),
                                            CHECKPOINT_KEY: secrets.token_hex(16)})
        describe_study(study, spec)  # the objective's name and the spec as readable attributes (dashboard)
        if race is not None or RACE_ATTR in study.user_attrs:
            start_race(study, spec, race)  # queues only the rounds the race has reached
        elif spec.sampler == "grid":
            queue_grid(study, spec, progress=progress)
        else:
            queue_slots(study, spec)
        # a cell handed back whose new copy was never queued (its worker stopped in between) is
        # queued again by any launch; --retry-failed also re-runs the cells that failed on their own
        requeue_failed(study, spec, handed_back_only=not retry_failed)
    return study


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
    artifact_dir: str | Path | None = None,
    progress: bool = True,
    options: StorageOptions | None = None,
    retry_failed: bool = False,
    queue_only: bool = False,
    max_cells: int | None = MAX_CELLS,
    batch_repeats: str = "off",
    race: RaceSettings | None = None,
    trials_per_gpu: int | str | None = None,
    compare_with: str | None = None,
    handle_signals: bool = False,
) -> optuna.Study:
    """Create (or resume) the study and run it to completion; returns the Optuna study.

    ``workers=1`` runs in this process; ``workers=N`` runs worker 0 in this process and starts
    N-1 local worker processes; ``gpus`` (e.g. ``["0", "1"]``) starts one worker process per GPU
    with ``CUDA_VISIBLE_DEVICES`` set. Worker processes start before the validation, gated, and
    are released once the cells are queued (:mod:`studies.engine._processes`). With
    ``queue_only`` the study is created and its cells queued, and no worker starts (workers join
    later with ``study worker``, e.g. from a cluster job array). ``batch_repeats`` (auto | on |
    off) lets workers train a config's repeats together (see :mod:`studies.engine._batch`). ``race`` runs a
    grid as a race over seed repeats (``study launch --race``; see :mod:`studies.engine._race`).
    ``trials_per_gpu`` (an int, or ``auto``/None: measured) trial processes share each GPU
    (:mod:`studies.engine._gpu_share`); on a CPU it is 1. With ``race.mode == "transfer"`` it races
    this study against the study ``compare_with`` (:mod:`studies.engine._race_transfer`).
    ``handle_signals`` (what ``study launch`` does): Ctrl-C, SIGTERM and SIGHUP stop the launch
    cleanly, the running cells handed back to the queue and the worker processes stopped
    (:func:`studies.engine._faults.stop_on_signals`; main thread only).
    """
    if handle_signals:
        stop_on_signals()
    if race is not None and race.mode == "transfer" or compare_with is not None:
        return _launch_transfer(spec, storage, study_name, workers, gpus, device, data_dir, checkpoint_dir,
                                artifact_dir, progress, options, retry_failed, queue_only, max_cells, batch_repeats,
                                race, compare_with, trials_per_gpu)
    pause_collection()  # until the worker's start-up ends (objectives._warm); resumed below whatever happens
    outage_clock.start_over()  # an earlier run of this process that gave up on an outage does not stop this one
    try:
        return _launch(spec, storage, study_name, workers, gpus, device, data_dir, checkpoint_dir, artifact_dir,
                       progress, options, retry_failed, queue_only, max_cells, batch_repeats, race, trials_per_gpu)
    finally:
        resume_collection()


def _launch(spec, storage, study_name, workers, gpus, device, data_dir, checkpoint_dir, artifact_dir, progress,
            options, retry_failed, queue_only, max_cells, batch_repeats, race, trials_per_gpu) -> optuna.Study:
    check_batch_mode(batch_repeats)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"--workers must be an integer >= 1, got {workers!r}")
    # the option table first (ranges), then what needs the devices: both before a worker process is started
    check_options(workers=workers, gpus=gpus, max_cells=max_cells,
                  trials_per_gpu=None if trials_per_gpu in (None, AUTO) else trials_per_gpu)
    # --gpus, --device, --trials-per-gpu and the configs' precision: one line each, before anything is written
    per_gpu = check_gpu_options(trials_per_gpu=trials_per_gpu, gpus=gpus, device=device, workers=workers,
                                space=spec.space)
    gpus = [str(g).strip() for g in gpus] if gpus is not None else None
    on_cuda = bool(gpus) or resolve_device(device).type == "cuda"
    if race is not None and spec.vary:
        raise StudyError("--race adds repeats where verdicts are open; a variance design (--vary) needs its fixed "
                         "blocks of repeats: use one or the other")
    if race is not None:
        spec = race_spec(spec, race)
    study_name = study_name or spec.name
    check_new_name(storage, study_name)  # before a worker process starts
    # Worker processes start now, gated, and import while this process validates and queues;
    # they open nothing until released, and are killed if anything fails before (studies.engine._processes).
    # On CPU this process is worker 0 itself: one process fewer to start and import.
    helpers: list = []
    released = False
    study = None
    # a known number of trials per GPU starts all its workers now; auto starts slot 0 of each GPU now
    # and the rest once it has measured a trial's footprint (after the validation loaded the data)
    known = per_gpu if per_gpu != AUTO else 1
    slots = dict(workers=workers, gpus=gpus, device=device, data_dir=data_dir, artifact_dir=artifact_dir,
                 options=options, batch_repeats=batch_repeats)
    try:
        if not queue_only and (gpus or workers > 1 or known > 1):
            commands = worker_commands(storage, study_name, **slots, start=1, gated=True,
                                       trials_per_gpu=known, on_cuda=on_cuda)
            helpers = start_processes(commands, pythonpath=str(ROOT), parent_env={PARENT_ENV: str(os.getpid())},
                                      gated=True)  # workers die with this process (studies.engine._faults)
        study = create_or_resume(
            spec, storage, study_name, options=options, artifact_dir=artifact_dir, retry_failed=retry_failed,
            data_dir=data_dir, check_data=not queue_only, checkpoint_dir=checkpoint_dir, max_cells=max_cells,
            progress=progress, race=race,
        )
        if queue_only:
            return study
        shared = on_cuda and (bool(gpus) or workers == 1)  # --workers N on one GPU sets its trials itself
        share = resolve_trials_per_gpu(per_gpu, spec, gpus=gpus, device=device, data_dir=data_dir) \
            if shared else Share(known, "")
        note(share)
        if share.per_gpu > known:  # auto measured room for more: start them (the study exists now)
            commands = worker_commands(storage, study_name, **slots, start=1, gated=True,
                                       trials_per_gpu=share.per_gpu, on_cuda=on_cuda, first_slot=known)
            helpers += start_processes(commands, pythonpath=str(ROOT), parent_env={PARENT_ENV: str(os.getpid())},
                                       gated=True)
        if gpus:
            end_start_up()  # no worker runs in this process: its start-up ends here (objectives._warm)
        checkpoint_dir = checkpoint_dir or checkpoint_dir_of(study) or _unrecorded_checkpoint_dir(storage, study_name)
        released = True  # from here a stop is SIGTERM: a released worker hands its running cell back
        release(helpers, {"checkpoint_dir": str(checkpoint_dir), "trials_per_gpu": share.per_gpu})
        bar = _progress_bar(spec, study, progress)
        try:
            if not gpus:
                _run_inline(storage, study_name, device, data_dir, checkpoint_dir, artifact_dir, spec, options, study,
                            bar, helpers=helpers, batch_repeats=batch_repeats,
                            gpu_slot=(0, share.per_gpu) if shared else (0, 1))
            if helpers:
                _wait_helpers(helpers, study, spec, bar, inline=not gpus)
        finally:
            bar.close()
    except BaseException:
        stop_processes(helpers, kill=not released)  # unreleased workers opened nothing: SIGKILL
        raise
    finally:
        if study is not None and not queue_only:
            close_storage(study)  # its connections now, also on an error (objectives._warm)
    return optuna.load_study(study_name=study_name, storage=open_storage(storage, options=options))


def _launch_transfer(spec, storage, study_name, workers, gpus, device, data_dir, checkpoint_dir, artifact_dir, progress,
                     options, retry_failed, queue_only, max_cells, batch_repeats, race, compare_with,
                     trials_per_gpu) -> optuna.Study:
    """The transfer race's own launch (:func:`studies.engine._race_transfer.launch_transfer`), after the
    options it cannot take are refused."""
    from studies.engine._race import RaceError
    from studies.engine._race_transfer import launch_transfer

    if race is None or race.mode != "transfer":
        raise RaceError("--compare-with at launch starts a transfer race: add --race --race-mode transfer")
    if queue_only or workers != 1 or gpus or trials_per_gpu not in (None, "auto", 1, "1"):
        raise RaceError("a transfer race runs its rounds and worker in the launch process: drop --queue-only, "
                        "--workers, --gpus and --trials-per-gpu (more workers can join with `study worker`)")
    check_batch_mode(batch_repeats)
    resolve_device(device)  # an unknown or missing device fails before anything is written
    return launch_transfer(spec, storage=storage, study_name=study_name, compare_with=compare_with, race=race,
                           device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir, artifact_dir=artifact_dir,
                           options=options, retry_failed=retry_failed, max_cells=max_cells,
                           batch_repeats=batch_repeats, progress=progress, create=create_or_resume, worker=work)



def _progress_bar(spec: StudySpec, study: optuna.Study, enabled: bool) -> tqdm:
    counts = count_cells(study, spec)
    return tqdm(total=counts.total, initial=counts.done + counts.failed, unit="cell", disable=not enabled,
                desc=study.study_name, dynamic_ncols=True, file=sys.stderr)


def _run_inline(storage, study_name, device, data_dir, checkpoint_dir, artifact_dir, spec, options, study, bar,
                *, helpers=(), batch_repeats: str = "off", gpu_slot: tuple[int, int] = (0, 1)) -> None:
    """Run a worker in this process (worker 0), the progress bar following the whole study."""
    last = time.monotonic()

    def on_trial(frozen: optuna.trial.FrozenTrial) -> None:
        nonlocal last
        if helpers:  # the other workers' trials count too: read the counts, at most once a second
            if time.monotonic() - last >= 1.0:
                _update_bar(bar, study, spec)
                last = time.monotonic()
        else:
            bar.update(1)
        value = "" if frozen.value is None else f"val {frozen.value:.4f} | "
        bar.set_postfix_str(f"{value}trial {frozen.number} {frozen.state.name.lower()}")

    def on_epoch(stats) -> None:
        bar.set_postfix_str(f"epoch {stats.epoch} val {stats.val_accuracy:.4f}")

    work(storage, study_name, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
         artifact_dir=artifact_dir, options=options, on_trial=on_trial if not bar.disable else None,
         on_epoch=on_epoch if not bar.disable else None, batch_repeats=batch_repeats, gpu_slot=gpu_slot)


def _update_bar(bar: tqdm, study: optuna.Study, spec: StudySpec) -> None:
    counts = count_cells(study, spec)
    bar.update(max(0, counts.done + counts.failed - bar.n))


def _wait_helpers(helpers, study: optuna.Study, spec: StudySpec, bar: tqdm, *, inline: bool) -> None:
    """Wait for the worker processes, following the study's progress, and judge their exit codes.
    ``inline``: this process ran a worker too, which decides whether the study got anywhere."""
    codes = wait_processes(helpers, on_progress=None if bar.disable else (lambda: _update_bar(bar, study, spec)))
    if not bar.disable:
        _update_bar(bar, study, spec)
    failed = [code for code in codes if code != 0]
    if failed and all(code == EXIT_FAULT for code in failed) and count_cells(study, spec).remaining != 0:
        raise FaultError(f"{len(failed)} of {len(codes)} worker processes stopped on an infrastructure fault (their "
                         "one-line reasons are above); relaunch the same command once it is fixed")
    if failed and len(failed) == len(codes) and not inline:
        raise StudyError(f"all {len(codes)} worker processes exited with errors (exit codes {failed}); "
                         "see their output above")
    if failed:
        sys.stderr.write(f"warning: {len(failed)} of {len(codes)} worker processes exited with errors {failed}\n")
