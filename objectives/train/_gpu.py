"""GPU process helpers: warm-up once per worker, a trial's measured memory footprint, out-of-memory.

- :func:`warm_cuda`: a worker process creates its CUDA context and loads the cuBLAS / cuDNN
  kernels of a convolution, a matrix product and autocast once, while it waits for the launch
  (``studies.engine._processes``), so no trial pays them.
- :func:`trial_footprint`: the device memory one trial takes, measured by running it: its data
  resident on the device (pixels and the finished float inputs ``PreparedData.inputs`` caches),
  the model, the optimizer state, two training steps at the config's batch size in float32 (the
  widest precision) and one evaluation batch. ``--trials-per-gpu auto`` divides a GPU's free memory by it.
- :func:`is_out_of_memory` / :func:`release_cached_memory`: a trial that runs out of GPU memory
  fails alone and its worker hands the freed memory back to the driver.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from objectives._config import RunConfig

# What a trial process holds on its GPU beyond what torch's allocator reports: the CUDA context and
# the cuBLAS / cuDNN handles and workspaces (~0.3-0.6 GiB with lazy module loading on recent
# drivers; the larger figure is used until it is measured on the GPU with bench_gpu.py).
CONTEXT_BYTES = 640 * 2**20
ALLOCATOR_SLACK = 1.25  # the caching allocator's rounding and fragmentation over the measured peak
# Messages of out-of-memory errors that do not arrive as torch.OutOfMemoryError (library workspaces)
_OOM_MARKERS = ("CUDA out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED",
                "CUDA error: out of memory")


def warm_cuda(device: torch.device | str = "cuda") -> None:
    """Create the CUDA context on ``device`` and run the kernels every trial needs once (a channels-
    last convolution, a matrix product, their backward, fp32 and bf16 autocast)."""
    device = torch.device(device)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1).to(device, memory_format=torch.channels_last)
    head = torch.nn.Linear(8, 4).to(device)
    x = torch.randn(4, 3, 8, 8, device=device).contiguous(memory_format=torch.channels_last)
    for dtype in (None, torch.bfloat16 if torch.cuda.is_bf16_supported() else None):
        context = torch.autocast("cuda", dtype=dtype) if dtype is not None else torch.autocast("cuda", enabled=False)
        with context:
            loss = F.cross_entropy(head(conv(x).mean((2, 3))).float(), torch.zeros(4, dtype=torch.long, device=device))
        loss.backward()
    torch.cuda.synchronize(device)


def trial_footprint(run: RunConfig, device: torch.device, *, data_dir: str | Path | None = None) -> int:
    """Bytes of device memory one trial of ``run`` allocates on ``device`` (CUDA), measured: its data,
    model, optimizer state and two float32 training steps at its batch size, times
    :data:`ALLOCATOR_SLACK`, plus :data:`CONTEXT_BYTES`. The data prepared for it is released after."""
    from objectives.data import prepare_data
    from objectives.data._prepare import _CACHE
    from objectives.train._loss import classification_loss
    from objectives.train._metrics import EVAL_BATCH
    from objectives.train._optim import build_optimizer
    from objectives.train._build import build_for_data

    torch.cuda.synchronize(device)
    release_cached_memory()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    cached = set(_CACHE)
    data = prepare_data(run.data, device=device, data_dir=data_dir)
    try:
        for split in ("train", "val", "test"):
            data.inputs(split)  # the finished float copies a trial caches on the device
        index = device.index if device.index is not None or device.type != "cuda" else torch.cuda.current_device()
        cuda = [index] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            model = build_for_data(run, data).to(device).to(memory_format=torch.channels_last)
            optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], run.train)
            bs = min(run.train.batch_size, len(data.y_train))
            x = data.inputs("train")[:bs].contiguous(memory_format=torch.channels_last)
            for _ in range(2):  # the second step holds the optimizer state too
                loss = classification_loss(model(x), data.y_train[:bs])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            with torch.no_grad():  # an evaluation batch (objectives.train._metrics.EVAL_BATCH)
                model.eval()
                model(data.inputs("val")[:EVAL_BATCH].contiguous(memory_format=torch.channels_last))
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
    finally:
        for key in set(_CACHE) - cached:  # the launch measured it; the workers load their own
            _CACHE.pop(key, None)
        del data
        release_cached_memory()
    return int(peak * ALLOCATOR_SLACK) + CONTEXT_BYTES


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the GPU running out of memory."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, torch.OutOfMemoryError) or any(m in str(exc) for m in _OOM_MARKERS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def release_cached_memory() -> None:
    """Free what a failed trial left: its objects, then the allocator's cached blocks (to the driver,
    so the trials of the other processes on this GPU can use them)."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
