"""Several trials per GPU: ``--trials-per-gpu K|auto`` and what happens when one runs out of memory.

The models of an ablation study are small: one trial leaves most of a data-centre GPU idle (on
the H200, 4 BaseSeq trial processes on one GPU trained 4.01x the images per second of one). So
``study launch`` and ``study worker`` run K trial *processes* per GPU, each a normal worker
(``studies.engine._worker``) with its own CUDA context; they share the GPU through the driver's time
slicing, and a crash or an out-of-memory error in one leaves the others running.

``auto`` (the default) measures what one trial takes (:func:`objectives.train._gpu.trial_footprint`
of the study's largest configs: data, model, optimizer state, two float32 steps, plus the CUDA
context) and fits as many as the GPU's free memory allows (:data:`FREE_SHARE` of it), at most
:data:`MAX_AUTO` and at most the CPU cores per GPU (every trial process needs a core to feed its
kernels). On a machine without CUDA, auto is 1.

A trial that runs out of GPU memory fails alone (:func:`oom_outcome`): its cell is handed back
(failed with ``fail_reason`` starting "out of GPU memory; handed back" and queued again at once),
and a worker in slot > 0 of its GPU retires, so the retry runs with fewer neighbours. Slot 0 never
retires: each GPU keeps a worker. A cell that runs out of memory :data:`OOM_RETRIES` times, or in a
worker that had the GPU to itself, fails for good with the reason (lower its batch size).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studies.engine._cells import OOM_HANDED_BACK  # fail_reason prefix of an out-of-memory hand-back
from studies.engine._gpu_options import AUTO

log = logging.getLogger("layerlab")

MAX_AUTO = 8  # auto never starts more trial processes on one GPU than this
FREE_SHARE = 0.9  # auto fills at most this share of a GPU's free memory
MEASURED_CONFIGS = 2  # auto measures the footprint of this many of the largest configs (the max counts)
OOM_RETRIES = 2  # a cell that ran out of GPU memory is queued again at most this many times


@dataclass(frozen=True)
class Share:
    """How many trial processes each GPU runs, and why."""

    per_gpu: int
    reason: str


def resolve_trials_per_gpu(
    value: int | str,
    spec: Any,
    *,
    gpus: Sequence[str] | None,
    device: str = "auto",
    data_dir: str | Path | None = None,
) -> Share:
    """``value`` (a checked int or "auto", see :func:`studies.engine._gpu_options.check_gpu_options`) as a
    number of trial processes per GPU for ``spec`` on ``gpus`` (indices) or ``device``."""
    if value != AUTO:
        return Share(int(value), f"--trials-per-gpu {value}")
    import torch

    from objectives.interface import resolve_device

    index = int(gpus[0]) if gpus else None
    if index is None:
        target = resolve_device(device)
        if target.type != "cuda":
            return Share(1, f"auto: 1 on {target.type}")
        index = target.index if target.index is not None else torch.cuda.current_device()
    cores = max(1, (os.cpu_count() or 1) // max(1, len(gpus or [0])))
    try:
        footprint, which = _largest_footprint(spec, torch.device("cuda", index), data_dir)
        free, _total = torch.cuda.mem_get_info(index)
    except Exception as exc:  # a measurement that fails must not stop the study: one trial per GPU
        log.warning("--trials-per-gpu auto: could not measure a trial's footprint (%s); running 1 per GPU", exc)
        return Share(1, f"auto: 1 (the measurement failed: {type(exc).__name__})")
    fits = int(free * FREE_SHARE // max(footprint, 1))
    per_gpu = max(1, min(fits, MAX_AUTO, cores))
    gib = 2.0**30
    return Share(per_gpu, f"auto: {per_gpu} (a trial of {which} takes {footprint / gib:.2f} GiB measured; "
                          f"{free / gib:.1f} GiB free; {cores} CPU core(s) per GPU; at most {MAX_AUTO})")


def _largest_footprint(spec: Any, device: Any, data_dir: str | Path | None) -> tuple[int, str]:
    """The largest measured footprint among the study's configs most likely to be the largest:
    the :data:`MEASURED_CONFIGS` with the most parameters x batch size x input pixels."""
    import torch

    from objectives import RunConfig
    from objectives.interface import objective_config_parts
    from objectives.interface import data_shape
    from objectives.interface import trial_footprint
    from searchspace import build_model, grid_points
    from searchspace.interface import random_configs

    if spec.sampler == "grid":
        configs = [p.config for p in grid_points(spec.space, limit=spec.n_trials, seed=spec.seed)]
    else:
        configs = random_configs(spec.space, 16, seed=spec.seed)
    runs, seen = [], set()
    for config in configs:
        run = RunConfig.from_flat(config, parts=objective_config_parts(spec.objective))
        if run.config_id not in seen:
            seen.add(run.config_id)
            runs.append(run)

    def size(run) -> float:
        shape = data_shape(run.data, data_dir=data_dir)
        if shape is None:
            return 0.0
        with torch.device("meta"):
            model = build_model(run.family, in_channels=shape.in_channels, num_classes=shape.num_classes,
                                input_size=shape.input_size, init=run.init, **run.model)
        params = sum(p.numel() for p in model.parameters())
        return float(params) * run.train.batch_size * shape.input_size[0] * shape.input_size[1]

    largest = sorted(runs, key=size, reverse=True)[:MEASURED_CONFIGS]
    measured = [(trial_footprint(run, device, data_dir=data_dir), f"{run.family} {run.config_id}") for run in largest]
    return max(measured)


def oom_outcome(trial: Any, *, slot: int, per_gpu: int) -> tuple[str, bool, bool]:
    """What to do with a trial that ran out of GPU memory: (fail_reason, queue the cell again?,
    retire this worker?). ``trial.user_attrs['oom_retries']`` counts the cell's earlier hand-backs."""
    retries = int(trial.user_attrs.get("oom_retries", 0) or 0)
    if per_gpu <= 1:
        return ("out of GPU memory with no other trial on the GPU: the trial alone does not fit "
                "(lower its batch_size or use a larger GPU)", False, False)
    if retries >= OOM_RETRIES:
        return (f"out of GPU memory again after {retries} retries with fewer trials on the GPU "
                "(lower its batch_size, or --trials-per-gpu)", False, False)
    return (f"{OOM_HANDED_BACK} (try {retries + 1} of {OOM_RETRIES + 1}; {per_gpu} trials shared the GPU)",
            True, slot > 0)


def note(share: Share) -> None:
    """Say how many trials share each GPU, when more than one does or auto could not measure
    (stderr: stdout stays the study's output)."""
    if share.per_gpu > 1 or "measurement failed" in share.reason:
        sys.stderr.write(f"trials per GPU: {share.reason}\n")
