"""Training: optimizer, schedule and augmentation registries, the trainer, metrics, checkpoints."""

from objectives.train._augment import Augment, build_augment, list_augmentations, register_augmentation
from objectives.train._batched import BATCH_MODES, batch_fallback_reason, choose_batched, fit_batched, fit_repeats
from objectives.train._checkpoint import checkpoint_owner, load_checkpoint, remove_checkpoint, save_checkpoint
from objectives.train._config import TrainConfig
from objectives.train._device import autocast_for, cpu_threads, resolve_device, training_threads
from objectives.train._loss import classification_loss, kernel_penalty, kernel_weights
from objectives.train._metrics import count_flops, count_params, evaluate
from objectives.train._optim import (
    build_optimizer,
    build_schedule,
    list_optimizers,
    list_schedules,
    register_optimizer,
    register_schedule,
    schedule_interval,
)
from objectives._seeding import RunSeeds
from objectives.train._trainer import Diverged, EpochStats, FitResult, build_for_data, fit

__all__ = [
    "Augment",
    "BATCH_MODES",
    "Diverged",
    "EpochStats",
    "FitResult",
    "RunSeeds",
    "TrainConfig",
    "autocast_for",
    "batch_fallback_reason",
    "choose_batched",
    "build_augment",
    "build_for_data",
    "build_optimizer",
    "build_schedule",
    "checkpoint_owner",
    "classification_loss",
    "count_flops",
    "cpu_threads",
    "count_params",
    "evaluate",
    "fit",
    "fit_batched",
    "fit_repeats",
    "kernel_penalty",
    "kernel_weights",
    "list_augmentations",
    "list_optimizers",
    "list_schedules",
    "load_checkpoint",
    "remove_checkpoint",
    "register_augmentation",
    "register_optimizer",
    "register_schedule",
    "resolve_device",
    "save_checkpoint",
    "schedule_interval",
    "training_threads",
]
