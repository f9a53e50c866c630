"""The training part of a run config.

Every field is a flat config key (see ``objectives._config.RunConfig``). Knobs that only some
optimizers read (``momentum``, ``nesterov``, ``beta1``...) are ignored by the others, so one flat
grid can mix optimizers; ``validate`` still checks their values so a typo never waits for the one
trial that would read it.

This module is plain data and imports no registry: the optimizer, schedule and augmentation
names are checked, and ``augment`` spelled in registration order, by
``objectives.train._registered`` (called from ``RunConfig.from_flat`` and the trainers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from objectives._checks import positive_int, positive_number
from searchspace.errors import ConfigError, valid_list

MONITORS = ("val_loss", "val_accuracy")
# fp32 | bf16 | fp16 autocast | auto (objectives/train/_precision.py says what each runs and how auto picks)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ZOOM_MODES = ("isotropic", "keras")
FILL_MODES = ("zeros", "nearest", "reflect")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Units beside each default."""

    # -- optimizer (see objectives/train/_optim.py for which optimizer reads which knob)
    optimizer: str = "adam"  # sgd | rmsprop | adam | adamw | adamax | adagrad | adadelta | nadam
    lr: float = 1e-3  # initial (for onecycle: peak) learning rate
    momentum: float = 0.0  # sgd / rmsprop momentum; 0 = plain SGD / RMSprop
    nesterov: bool = False  # sgd only: Nesterov momentum (needs momentum > 0)
    beta1: float = 0.9  # adam / adamw / adamax / nadam first-moment decay
    beta2: float = 0.999  # adam / adamw / adamax / nadam second-moment decay
    eps: float = 1e-8  # denominator term of every adaptive optimizer
    alpha: float = 0.99  # rmsprop squared-gradient smoothing (torch default; Keras calls it rho=0.9)
    rho: float = 0.9  # adadelta running-average decay (torch default)
    initial_accumulator: float = 0.0  # adagrad's starting sum of squares (torch 0; Keras 0.1)
    weight_decay: float = 0.0  # passed to the optimizer: L2 added to the gradient, decoupled for adamw
    l1: float = 0.0  # loss += l1 * sum|w| over conv/linear kernels (Keras kernel_regularizer)
    l2: float = 0.0  # loss += l2 * sum(w^2) over conv/linear kernels (no 1/2 factor, as Keras)
    # -- schedule
    schedule: str = "constant"  # constant | multistep | cosine (over epochs) | onecycle (per step)
    milestones: tuple[int, ...] = ()  # multistep: epochs after which lr *= gamma (seed 001: 82)
    gamma: float = 0.1  # multistep: lr factor at each milestone
    # -- loop
    batch_size: int = 32  # images per step
    epochs: int = 20  # maximum epochs
    early_stopping: bool = True  # stop when the monitored value stops improving
    monitor: str = "val_loss"  # val_loss | val_accuracy
    patience: int = 5  # epochs without improvement before stopping
    restore_best: bool = True  # evaluate the best-epoch weights, not the last ones
    # Also evaluate the test set after every epoch and record it in the history (seed 001 plots
    # test error per epoch, seed 004 reports the best test accuracy over epochs). Reporting only:
    # never read by early stopping, restore_best, pruning or the objective value.
    eval_test_every_epoch: bool = False
    label_smoothing: float = 0.0  # cross-entropy label smoothing in [0, 1)
    grad_clip: float = 0.0  # max global grad norm; 0 disables
    # fp32 | bf16 | fp16 (CUDA only, with a GradScaler) | auto: fp32 on a CPU; on CUDA the faster of
    # TF32 and bf16 for this model and batch, at equal loss (a short probe). What ran is recorded on
    # the trial (user attribute ``precision``). Left out of config_id while it is ``auto``.
    precision: str = "auto"
    # -- augmentation, on device, per sample, in pixel space (objectives/train/_augment.py)
    augment: str = "none"  # '+'-joined: flip rotate shift zoom color sharpness cutout mixup cutmix
    rotate_degrees: float = 40.0  # rotate: angle uniform in [-d, d] degrees (seed 001: 40)
    shift_fraction: float = 0.1  # shift: translation uniform in [-f, f] of width / height
    zoom_fraction: float = 0.1  # zoom: scale uniform in [1 - f, 1 + f]
    # zoom: isotropic = one scale per image (torchvision v2 RandomAffine) | keras = x and y zoomed
    # independently, z ~ U[1 - f, 1 + f] mapping output to input coordinates (ImageDataGenerator)
    zoom_mode: str = "isotropic"
    # rotate / shift / zoom: pixels from outside the image are zeros (v2's fill 0) | nearest (the
    # edge pixel repeated: Keras ImageDataGenerator's default) | reflect (Keras' 'reflect')
    fill_mode: str = "zeros"
    # color: each factor drawn per image from U[1 - s, 1 + s]; 0 switches that factor off
    color_brightness: float = 0.2
    color_contrast: float = 0.2
    color_saturation: float = 0.2  # needs 3 channels (a no-op on grayscale, as in v2)
    sharpness_factor: float = 2.0  # sharpness: factor applied to half of the images (v2 default p)
    cutout_scale: float = 0.25  # cutout: erased square's share of the image area (16x16 on 32x32)
    mixup_alpha: float = 0.2  # mixup: Beta(alpha, alpha) mixing weight
    cutmix_alpha: float = 1.0  # cutmix: Beta(alpha, alpha) box-area weight

    def __post_init__(self) -> None:
        # Canonical spelling, so milestones 82 and [82] give one config and one config_id (the
        # registry-ordered spelling of ``augment`` is objectives.train._registered's). Values that
        # cannot be canonicalised are left for validate().
        milestones = self.milestones
        if isinstance(milestones, int) and not isinstance(milestones, bool):
            milestones = (milestones,)
        if isinstance(milestones, (list, tuple)):
            object.__setattr__(self, "milestones", tuple(milestones))

    @property
    def augmentations(self) -> tuple[str, ...]:
        """The enabled augmentation names, in the order they are applied."""
        return augment_names(self.augment)

    def validate(self) -> None:
        """Raise ConfigError (one line: the bad value and what is valid) on any impossible value.
        Registry names (optimizer, schedule, augmentations) are checked by
        ``objectives.train._registered.check_registered``."""
        if self.monitor not in MONITORS:
            raise ConfigError(f"unknown monitor {self.monitor!r}; valid: {valid_list(MONITORS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; valid: {valid_list(PRECISIONS)}")
        _check_augment(self.augment)
        if not positive_number(self.lr):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not positive_int(self.batch_size):
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not positive_int(self.epochs):
            raise ConfigError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.patience, int) or isinstance(self.patience, bool) or self.patience < 0:
            raise ConfigError(f"patience must be an integer >= 0, got {self.patience!r}")
        for name in ("early_stopping", "restore_best", "nesterov", "eval_test_every_epoch"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        _in_range("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        for name in ("weight_decay", "l1", "l2", "grad_clip"):
            _in_range(name, getattr(self, name), 0.0, math.inf)
        _in_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        for name in ("beta1", "beta2", "alpha"):
            _in_range(name, getattr(self, name), 0.0, 1.0, high_open=True)
        _in_range("rho", self.rho, 0.0, 1.0)
        if not positive_number(self.eps):
            raise ConfigError(f"eps must be a positive number, got {self.eps!r}")
        if self.nesterov and self.optimizer == "sgd" and self.momentum <= 0:
            raise ConfigError(f"nesterov=true needs momentum > 0, got momentum={self.momentum!r}")
        if not positive_number(self.gamma):
            raise ConfigError(f"gamma must be a positive number, got {self.gamma!r}")
        _check_milestones(self.milestones, self.schedule)
        _in_range("rotate_degrees", self.rotate_degrees, 0.0, 180.0)
        _in_range("shift_fraction", self.shift_fraction, 0.0, 1.0, high_open=True)
        _in_range("zoom_fraction", self.zoom_fraction, 0.0, 1.0, high_open=True)
        for name in ("color_brightness", "color_contrast", "color_saturation"):
            _in_range(name, getattr(self, name), 0.0, 1.0)
        _in_range("initial_accumulator", self.initial_accumulator, 0.0, math.inf)
        if self.zoom_mode not in ZOOM_MODES:
            raise ConfigError(f"unknown zoom_mode {self.zoom_mode!r}; valid: {valid_list(ZOOM_MODES)}")
        if self.fill_mode not in FILL_MODES:
            raise ConfigError(f"unknown fill_mode {self.fill_mode!r}; valid: {valid_list(FILL_MODES)}")
        _in_range("sharpness_factor", self.sharpness_factor, 0.0, math.inf)
        _in_range("cutout_scale", self.cutout_scale, 0.0, 1.0, low_open=True, high_open=True)
        for name in ("mixup_alpha", "cutmix_alpha"):
            if not positive_number(getattr(self, name)):
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)!r}")


def augment_names(augment: Any) -> tuple[str, ...]:
    """``"flip+rotate"`` -> ``("flip", "rotate")``; ``"none"`` or ``""`` -> ``()``."""
    if not isinstance(augment, str):
        return ()
    text = augment.strip().lower()
    if text in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split("+"))


def _check_augment(augment: Any) -> None:
    if not isinstance(augment, str):
        raise ConfigError(f"augment must be a string such as 'flip+rotate', got {augment!r}")
    names = augment_names(augment)
    if len(set(names)) != len(names):
        raise ConfigError(f"augment={augment!r} names an augmentation twice; give each name once")


def _check_milestones(milestones: Any, schedule: str) -> None:
    ok = isinstance(milestones, tuple) and all(positive_int(m) for m in milestones)
    if not ok or list(milestones) != sorted(set(milestones)):
        raise ConfigError(
            f"milestones must be increasing positive epoch numbers, e.g. [82] or [30, 60], got {milestones!r}"
        )
    if schedule == "multistep" and not milestones:
        raise ConfigError("schedule 'multistep' needs milestones (epochs after which lr *= gamma), e.g. milestones=82")


def _in_range(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if number:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if above and below and (math.isfinite(value) or not math.isinf(high)):
            return
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    bounds = f">= {low:g}" if math.isinf(high) else f"in {left}{low:g}, {high:g}{right}"
    raise ConfigError(f"{name} must be a number {bounds}, got {value!r}")
