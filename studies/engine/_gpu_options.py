"""Range checks of the GPU options: ``--trials-per-gpu``, ``--gpus`` and a config's ``precision``.

One function, :func:`check_gpu_options`, runs them all before anything is written (``study launch``
and ``study worker`` call it first): each mistake is one line naming the value and what is valid
(a ConfigError: exit code 2). The checks are kept together here so that they can be routed through
the project's central option check (issue 23) as one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from searchspace.errors import ConfigError

AUTO = "auto"


def check_trials_per_gpu(value: Any) -> int | str:
    """``--trials-per-gpu``: a positive integer or ``auto`` (None: auto); returns the int or "auto"."""
    if value is None or value == AUTO:
        return AUTO
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--trials-per-gpu must be a positive integer or auto, got {value!r}")
    return int(text)


def check_gpus(gpus: Sequence[str]) -> list[str]:
    """``--gpus``: device indices this machine has (it needs CUDA)."""
    gpus = [str(g).strip() for g in gpus]
    if not gpus or any(not g for g in gpus):
        raise ConfigError("--gpus needs device indices, e.g. --gpus 0,1")
    bad = [g for g in gpus if not g.isdigit()]
    if bad:
        raise ConfigError(f"--gpus takes device indices like 0,1; got {', '.join(map(repr, bad))}")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("--gpus needs CUDA, which is not available on this machine; use --workers N for CPU workers")
    count = torch.cuda.device_count()
    missing = [g for g in gpus if int(g) >= count]
    if missing:
        raise ConfigError(f"--gpus {','.join(missing)}: this machine has {count} GPU(s), valid indices 0..{count - 1}")
    return gpus


def precision_values(space: Any) -> set[str]:
    """Every value the ``precision`` key takes in ``space`` (its default ``auto`` when no dimension sets it)."""
    values: set[str] = set()
    for dim in space:
        if "precision" in dim.writes():
            for param in dim.param_values():
                values.add(dim.decode(param).get("precision", AUTO))
    return values or {AUTO}


def check_precision_on_device(space: Any, device: Any) -> None:
    """A precision the device cannot run (fp16 on a CPU) is refused before the study is written."""
    from objectives.interface import check_precision

    for value in sorted(precision_values(space), key=str):
        check_precision(value, device)


def check_gpu_options(
    *,
    trials_per_gpu: Any = None,
    gpus: Sequence[str] | None = None,
    device: str = "auto",
    workers: int = 1,
    space: Any = None,
) -> int | str:
    """Check the GPU options of a launch or a worker together; returns ``trials_per_gpu`` as an int or
    "auto". ``space``: the study's space, whose ``precision`` values must suit the device."""
    from objectives.interface import resolve_device

    per_gpu = check_trials_per_gpu(trials_per_gpu)
    if gpus is not None:
        if device not in ("auto", "cuda"):
            raise ConfigError(f"--gpus runs each worker on its own GPU; it cannot be combined with --device {device}")
        check_gpus(gpus)
        target = "cuda"
    else:
        target = resolve_device(device).type  # an unknown or missing device fails here
        if per_gpu != AUTO and per_gpu > 1 and target != "cuda":
            raise ConfigError(f"--trials-per-gpu {per_gpu} shares a GPU between trial processes, but this run is on "
                              f"{target}; use --workers N for CPU workers (valid here: --trials-per-gpu 1 or auto)")
        if per_gpu != AUTO and per_gpu > 1 and workers > 1:
            raise ConfigError(f"--workers {workers} and --trials-per-gpu {per_gpu} both set the trials on this GPU; "
                              "give one of them")
    if space is not None:
        check_precision_on_device(space, target)
    return per_gpu
