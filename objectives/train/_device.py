"""Device selection, mixed precision and CPU threads.

``auto`` picks CUDA when it is present, else CPU. The trainers' precision is the config's
``precision`` key (``objectives.train._precision``: fp32 on a CPU unless bf16 is asked for, so that
a CPU result does not depend on whether the CPU has bf16 units; TF32 or bf16 on CUDA by a probe);
:func:`autocast_for` is the device default for code that runs outside a fit (bf16 on CUDA). Both
use channels-last memory (see the trainer).
Worker processes on a GPU see it as ``cuda`` (``CUDA_VISIBLE_DEVICES``; several may share one, ``--trials-per-gpu``).

CPU threads: a CPU run trains with ``LAYERLAB_THREADS`` intra-op threads, 1 unless set. Three
reasons. (1) The models of an ablation study are small, so splitting each op over threads costs
more in fork/join than it saves; studies scale by running one worker per core instead. (2) On a
shared or busy machine OpenMP threads spin-wait for each other: with 2 threads on 2 loaded cores
we measured a small CNN train 4x slower than with 1 (README, "Speed"). (3) The number of threads
changes how reductions are split and so the last bits of a result; a fixed count keeps a seeded
CPU run identical on every machine. Set ``LAYERLAB_THREADS=N`` for one big trial on an idle machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from searchspace.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
THREADS_ENV = "LAYERLAB_THREADS"
DEFAULT_CPU_THREADS = 1


def resolve_device(name: str | None = "auto") -> torch.device:
    name = name or "auto"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu or auto")
    return device


def autocast_for(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_threads() -> int:
    """Intra-op threads for CPU training: ``$LAYERLAB_THREADS``, else 1."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return DEFAULT_CPU_THREADS
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
    return int(value)


@contextlib.contextmanager
def training_threads(device: torch.device) -> Iterator[None]:
    """Run a CPU training with :func:`cpu_threads` threads, restoring torch's setting after."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)
