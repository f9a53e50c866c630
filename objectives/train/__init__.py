"""Training: optimizer and schedule registries, the trainer, checkpoints and devices."""

from objectives.train._checkpoint import load_checkpoint, save_checkpoint
from objectives.train._device import autocast_for, resolve_device
from objectives.train._optim import (
    build_optimizer,
    build_schedule,
    list_optimizers,
    list_schedules,
    register_optimizer,
    register_schedule,
)
from objectives.train._trainer import Diverged, EpochStats, FitResult, evaluate, fit

__all__ = [
    "Diverged",
    "EpochStats",
    "FitResult",
    "autocast_for",
    "build_optimizer",
    "build_schedule",
    "evaluate",
    "fit",
    "list_optimizers",
    "list_schedules",
    "load_checkpoint",
    "register_optimizer",
    "register_schedule",
    "resolve_device",
    "save_checkpoint",
]
