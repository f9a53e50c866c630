"""Optimizer and learning-rate schedule registries: name -> builder from a TrainConfig.

Optimizers and the knobs they read (every other knob is ignored by that optimizer):

=========  ==========================================================================
sgd        lr, momentum, nesterov, weight_decay
rmsprop    lr, alpha, eps, momentum, weight_decay
adam       lr, beta1, beta2, eps, weight_decay
adamw      lr, beta1, beta2, eps, weight_decay
adamax     lr, beta1, beta2, eps, weight_decay
adagrad    lr, eps, initial_accumulator, weight_decay
adadelta   lr, rho, eps, weight_decay
nadam      lr, beta1, beta2, eps, weight_decay
=========  ==========================================================================

``weight_decay`` is handed to the torch optimizer. For every optimizer except ``adamw`` torch adds
it to the gradient (``g += wd * w``, i.e. classic L2 decay, scaled by the adaptive denominator for
Adam-like methods); ``adamw`` decays the weights directly (``w -= lr * wd * w``, Loshchilov &
Hutter's decoupled decay). Both act on every parameter, biases and norm layers included. The
explicit ``l1`` / ``l2`` penalties (``objectives/train/_loss.py``) are the Keras-style alternative:
added to the loss, kernels only.

Schedules say whether they step once per epoch or once per batch (:func:`schedule_interval`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from objectives.train._config import TrainConfig
from searchspace.errors import ConfigError, RegistryError, valid_list

OptimizerBuilder = Callable[[list[torch.nn.Parameter], TrainConfig], torch.optim.Optimizer]
ScheduleBuilder = Callable[[torch.optim.Optimizer, TrainConfig, int], torch.optim.lr_scheduler.LRScheduler]

INTERVALS = ("epoch", "step")


@dataclass(frozen=True)
class _Schedule:
    build: ScheduleBuilder
    interval: str  # "epoch": step() after every epoch; "step": after every optimizer step


_OPTIMIZERS: dict[str, OptimizerBuilder] = {}
_SCHEDULES: dict[str, _Schedule] = {}


def register_optimizer(name: str) -> Callable[[OptimizerBuilder], OptimizerBuilder]:
    def decorator(fn: OptimizerBuilder) -> OptimizerBuilder:
        if name in _OPTIMIZERS:
            raise RegistryError(f"optimizer {name!r} is already registered")
        _OPTIMIZERS[name] = fn
        return fn

    return decorator


def register_schedule(name: str, *, interval: str = "epoch") -> Callable[[ScheduleBuilder], ScheduleBuilder]:
    """Register a schedule builder ``(optimizer, cfg, steps_per_epoch) -> LRScheduler``."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")

    def decorator(fn: ScheduleBuilder) -> ScheduleBuilder:
        if name in _SCHEDULES:
            raise RegistryError(f"schedule {name!r} is already registered")
        _SCHEDULES[name] = _Schedule(fn, interval)
        return fn

    return decorator


def list_optimizers() -> list[str]:
    return sorted(_OPTIMIZERS)


def list_schedules() -> list[str]:
    return sorted(_SCHEDULES)


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer not in _OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid: {valid_list(list_optimizers())}")
    return _OPTIMIZERS[cfg.optimizer](list(params), cfg)


def _schedule(name: str) -> _Schedule:
    if name not in _SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; valid: {valid_list(list_schedules())}")
    return _SCHEDULES[name]


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The schedule ``cfg.schedule``; ``steps_per_epoch`` is the exact number of optimizer steps."""
    return _schedule(cfg.schedule).build(optimizer, cfg, steps_per_epoch)


def schedule_interval(name: str) -> str:
    """``"epoch"`` or ``"step"``: when the trainer calls ``scheduler.step()``."""
    return _schedule(name).interval


def _speed(params: list[torch.nn.Parameter], fused: bool) -> dict[str, bool]:
    """Multi-tensor kernels: one fused (or foreach) update for all parameters instead of a Python
    loop over them. torch only picks foreach by itself on CUDA; on CPU its default is the per-tensor
    loop, which for a ResNet's ~60 small tensors costs a noticeable share of every step."""
    if not params:
        return {}
    return {"fused": True} if fused else {"foreach": True}


@register_optimizer("sgd")
def _sgd(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay, **_speed(params, fused=True),
    )


@register_optimizer("rmsprop")
def _rmsprop(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Keras' rho is torch's alpha (Keras 0.9, torch 0.99). One difference is left: Keras divides by
    # sqrt(mean_square + eps), torch by sqrt(mean_square) + eps; with Keras' eps 1e-7 the two
    # agree once mean_square >> 1e-7 (see docs/fidelity.md).
    return torch.optim.RMSprop(
        params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum,
        weight_decay=cfg.weight_decay, **_speed(params, fused=False),
    )


@register_optimizer("adam")
def _adam(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay,
        **_speed(params, fused=True),
    )


@register_optimizer("adamw")
def _adamw(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    # torch's AdamW default weight_decay is 1e-2; layerlab's is 0.0 for every optimizer, so
    # adamw with the default config is Adam. Set weight_decay to get decoupled decay.
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay,
        **_speed(params, fused=True),
    )


@register_optimizer("adamax")
def _adamax(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adamax(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay,
        **_speed(params, fused=False),
    )


@register_optimizer("adagrad")
def _adagrad(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Keras' Adagrad starts its accumulator at 0.1, torch's at 0 (initial_accumulator).
    return torch.optim.Adagrad(
        params, lr=cfg.lr, eps=cfg.eps, initial_accumulator_value=cfg.initial_accumulator,
        weight_decay=cfg.weight_decay, **_speed(params, fused=False),
    )


@register_optimizer("adadelta")
def _adadelta(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(
        params, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps, weight_decay=cfg.weight_decay,
        **_speed(params, fused=False),
    )


@register_optimizer("nadam")
def _nadam(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.NAdam(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay,
        **_speed(params, fused=False),
    )


@register_schedule("constant")
def _constant(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


@register_schedule("multistep")
def _multistep(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    # Seed 001 (after He et al.): SGD lr 0.1, divided by 10 once 82 epochs are done, i.e.
    # milestones=[82], gamma=0.1: epochs 1-82 train at 0.1 and epoch 83 onwards at 0.01.
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)


@register_schedule("cosine")
def _cosine(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    # Cosine annealing from lr to 0 over the configured epochs (early stopping may end sooner).
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)


@register_schedule("onecycle", interval="step")
def _onecycle(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    # lr is the peak; torch's defaults warm up over the first 30% of steps from lr/25 and anneal
    # (cosine) to lr/25e4. Momentum cycling is off so that momentum / beta1 keep the configured
    # value (torch would overwrite them with 0.85..0.95, and Adagrad/Adadelta have none to cycle).
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, cycle_momentum=False
    )
