"""The training part of a run config."""

from __future__ import annotations

from dataclasses import dataclass

from objectives._checks import positive_int, positive_number
from searchspace._errors import ConfigError, valid_list


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Units beside each default."""

    optimizer: str = "adam"  # sgd | adam (more in objectives.train)
    lr: float = 1e-3  # initial learning rate
    momentum: float = 0.9  # SGD momentum (ignored by Adam)
    weight_decay: float = 0.0  # decoupled or L2, passed to the optimizer
    batch_size: int = 32  # images per step
    epochs: int = 20  # maximum epochs
    early_stopping: bool = True  # stop when the monitored value stops improving
    monitor: str = "val_loss"  # val_loss | val_accuracy
    patience: int = 5  # epochs without improvement before stopping
    restore_best: bool = True  # evaluate the best-epoch weights, not the last ones
    label_smoothing: float = 0.0  # cross-entropy label smoothing in [0, 1)
    grad_clip: float = 0.0  # max global grad norm; 0 disables

    def validate(self) -> None:
        if not positive_number(self.lr):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not positive_int(self.batch_size):
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not positive_int(self.epochs):
            raise ConfigError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.patience, int) or isinstance(self.patience, bool) or self.patience < 0:
            raise ConfigError(f"patience must be an integer >= 0, got {self.patience!r}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"unknown monitor {self.monitor!r}; valid: {valid_list(MONITORS)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise ConfigError("grad_clip and weight_decay must be >= 0")


MONITORS = ("val_loss", "val_accuracy")
