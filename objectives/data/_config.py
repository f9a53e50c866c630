"""The data part of a run config."""

from __future__ import annotations

from dataclasses import dataclass

from searchspace._errors import ConfigError, valid_list


@dataclass(frozen=True)
class DataConfig:
    """Which data a trial sees and how it is prepared. Units beside each default."""

    dataset: str = "digits"  # registry name, e.g. digits, mnist5k, cifar10, mnist:hard2:128
    split: str = "official"  # official: the dataset's own test set (or a stratified carve-out
    #                          when it has none) | paper: seed 000's pooled 0.25/0.25 splits
    test_size: float = 0.25  # fraction held out for test when a carve-out is needed
    val_size: float = 0.25  # fraction of the training pool used for validation
    split_seed: int = 42  # random_state of every split; fixed across repeats so runs are paired
    normalize: str = "standard"  # none | unit ([0,1]) | standard (train mean/std) | caffe

    def validate(self) -> None:
        for name in ("test_size", "val_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 < v < 1.0:
                raise ConfigError(f"{name} must be a fraction in (0, 1), got {v!r}")
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split {self.split!r}; valid: {valid_list(SPLITS)}")
        if self.normalize not in NORMALIZE_MODES:
            raise ConfigError(
                f"unknown normalize mode {self.normalize!r}; valid: {valid_list(NORMALIZE_MODES)}"
            )


SPLITS = ("official", "paper")
NORMALIZE_MODES = ("none", "unit", "standard", "caffe")
