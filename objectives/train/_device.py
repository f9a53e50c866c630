"""Device selection and mixed precision.

``auto`` picks CUDA when it is present, else CPU. On CUDA the trainer uses bf16 autocast and
channels-last memory; on CPU it runs in float32 (CPU autocast is slower for these small models).
Run one worker per GPU (``CUDA_VISIBLE_DEVICES``), each seeing its device as ``cuda``.
"""

from __future__ import annotations

import contextlib

import torch

from searchspace._errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


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
