"""Optimizer and learning-rate schedule registries: name -> builder from a TrainConfig."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from objectives.train._config import TrainConfig
from searchspace._errors import ConfigError, RegistryError, valid_list

OptimizerBuilder = Callable[[Iterable[torch.nn.Parameter], TrainConfig], torch.optim.Optimizer]
ScheduleBuilder = Callable[[torch.optim.Optimizer, TrainConfig, int], torch.optim.lr_scheduler.LRScheduler]

_OPTIMIZERS: dict[str, OptimizerBuilder] = {}
_SCHEDULES: dict[str, ScheduleBuilder] = {}


def register_optimizer(name: str) -> Callable[[OptimizerBuilder], OptimizerBuilder]:
    def decorator(fn: OptimizerBuilder) -> OptimizerBuilder:
        if name in _OPTIMIZERS:
            raise RegistryError(f"optimizer {name!r} is already registered")
        _OPTIMIZERS[name] = fn
        return fn

    return decorator


def register_schedule(name: str) -> Callable[[ScheduleBuilder], ScheduleBuilder]:
    def decorator(fn: ScheduleBuilder) -> ScheduleBuilder:
        if name in _SCHEDULES:
            raise RegistryError(f"schedule {name!r} is already registered")
        _SCHEDULES[name] = fn
        return fn

    return decorator


def list_optimizers() -> list[str]:
    return sorted(_OPTIMIZERS)


def list_schedules() -> list[str]:
    return sorted(_SCHEDULES)


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer not in _OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid: {valid_list(list_optimizers())}")
    return _OPTIMIZERS[cfg.optimizer](params, cfg)


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    name = getattr(cfg, "schedule", "constant")
    if name not in _SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; valid: {valid_list(list_schedules())}")
    return _SCHEDULES[name](optimizer, cfg, steps_per_epoch)


@register_optimizer("sgd")
def _sgd(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@register_optimizer("adam")
def _adam(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@register_schedule("constant")
def _constant(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
