"""The data part of a run config."""

from __future__ import annotations

from dataclasses import dataclass

from objectives.catalog._medmnist import MEDMNIST_SIZES
from searchspace.errors import ConfigError, valid_list


@dataclass(frozen=True)
class DataConfig:
    """Which data a trial sees and how it is prepared. Units beside each default.

    Image operations run in this order (see ``objectives/data/_images.py``): to_rgb -> pad_to ->
    resize -> filter (order "before") -> [augmentation, per batch] -> normalize -> filter (order
    "after") -> upsample.
    """

    dataset: str = "digits"  # registry name, e.g. digits, mnist5k, cifar10, mnist:hard2:128
    split: str = "official"  # official: the dataset's own test set (or a stratified carve-out
    #                          when it has none) | paper: seed 000's pooled 0.25/0.25 splits
    test_size: float = 0.25  # fraction held out for test when a carve-out is needed
    val_size: float = 0.25  # fraction of the training pool used for validation
    split_seed: int = 42  # random_state of every split; fixed across repeats so runs are paired
    # Seed 000 subsets of n images per class (objectives/data/_subsets.py): fixed = every repeat
    # trains on the same sample | per_repeat = repeat r draws its n with seed <seed> + r (Fig 2)
    subset_sampling: str = "fixed"
    normalize: str = "standard"  # none | unit ([0,1]) | standard (train mean/std) | caffe
    to_rgb: bool = False  # repeat a grayscale channel 3 times (no-op on colour images)
    pad_to: int = 0  # zero-pad evenly to this many pixels per side (0 = off; seed 001: 28 -> 32)
    resize: int = 0  # resize to this many pixels per side, bilinear with antialias (0 = off)
    medmnist_size: int = 28  # MedMNIST image size: 28 | 64 | 128 | 224 (MedMNIST datasets only)
    filter: str = "none"  # none | sharpen (classic 3x3) | blur (box filter, filter_kernel wide)
    filter_kernel: int = 3  # filter width in pixels, odd (sharpen: 3 only)
    filter_order: str = "before"  # before normalisation (on 0..255 pixels, saturating) | after
    upsample: int = 1  # integer factor, nearest neighbour like Keras UpSampling2D (1 = off)

    def validate(self) -> None:
        for name in ("test_size", "val_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 < v < 1.0:
                raise ConfigError(f"{name} must be a fraction in (0, 1), got {v!r}")
        _choice("split", self.split, SPLITS)
        _choice("subset_sampling", self.subset_sampling, SUBSET_SAMPLING)
        _choice("normalize mode", self.normalize, NORMALIZE_MODES)
        _choice("filter", self.filter, FILTERS)
        _choice("filter_order", self.filter_order, FILTER_ORDERS)
        if not isinstance(self.to_rgb, bool):
            raise ConfigError(f"to_rgb must be true or false, got {self.to_rgb!r}")
        for name in ("pad_to", "resize"):
            v = getattr(self, name)
            if not _is_int(v) or v < 0:
                raise ConfigError(f"{name} must be a pixel count >= 0 (0 = off), got {v!r}")
        if not _is_int(self.upsample) or not 1 <= self.upsample <= 8:
            raise ConfigError(f"upsample must be an integer factor in 1..8 (1 = off), got {self.upsample!r}")
        if self.medmnist_size not in MEDMNIST_SIZES:
            raise ConfigError(
                f"medmnist_size {self.medmnist_size!r} is not published; valid: {valid_list(MEDMNIST_SIZES)}"
            )
        if not _is_int(self.filter_kernel) or self.filter_kernel < 3 or self.filter_kernel % 2 == 0:
            raise ConfigError(f"filter_kernel must be an odd width >= 3, got {self.filter_kernel!r}")
        if self.filter == "sharpen" and self.filter_kernel != 3:
            raise ConfigError(
                f"filter sharpen uses the classic 3x3 kernel; filter_kernel must be 3, got {self.filter_kernel}"
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(what: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; valid: {valid_list(valid)}")


SPLITS = ("official", "paper")
SUBSET_SAMPLING = ("fixed", "per_repeat")
NORMALIZE_MODES = ("none", "unit", "standard", "caffe")
FILTERS = ("none", "sharpen", "blur")
FILTER_ORDERS = ("before", "after")
