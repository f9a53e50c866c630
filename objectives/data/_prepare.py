"""Turn a :class:`DataConfig` into tensors on the training device, once per process.

Decoding, splitting and the deterministic image operations (channel and size adapters, a filter
placed before normalisation) happen here, once, and the pixels stay resident on the device as
uint8. Normalisation, a filter placed after it, and upsampling happen in :meth:`PreparedData.finish`
(after any per-batch augmentation); whole splits are finished once and cached. The trainer only
indexes batches out of resident tensors (no per-sample Python or PIL work in the training loop).
Results are cached per process, keyed by the data config, device and data directory, so the trials
of one worker share them. See ``objectives/data/_images.py`` for the order of operations.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from objectives.data import _images
from objectives.data._config import DataConfig
from objectives.data._registry import get_dataset, load_dataset
from objectives.data._splits import materialize, split_indices
from searchspace.errors import ConfigError

# Keras' "caffe" preprocessing: BGR channel means of ImageNet on the 0..255 scale.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@dataclass(eq=False)
class PreparedData:
    """Images and labels of train, val and test, resident on one device.

    ``x_*`` hold *pixels*: ``uint8`` (0..255) or ``float32`` in [0, 1], after every deterministic
    preparation step. The trainer sees the data through three methods, so that per-batch work
    (augmentation) happens in pixel space and normalisation after it:

    - :meth:`train_batch` -> float pixels of some training images (for augmentation);
    - :meth:`finish` -> the model's input for a batch of float pixels (normalisation, then a
      filter placed after it, then upsampling);
    - :meth:`inputs` -> the finished inputs of a whole split, computed once and cached.

    ``input_size`` is the size the model sees (after upsampling), which can exceed the stored one.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    normalize: str = "standard"
    stats: dict[str, list[float]] = field(default_factory=dict)  # train mean/std on [0, 1]
    filter: str = "none"  # applied in finish() only when filter_order == "after"
    filter_kernel: int = 3
    filter_order: str = "before"
    upsample: int = 1  # nearest-neighbour factor applied last in finish()
    meta: dict[str, Any] = field(default_factory=dict)
    _finished: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.x_train.shape[2]) * self.upsample, int(self.x_train.shape[3]) * self.upsample

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def labels(self, split: str) -> torch.Tensor:
        return getattr(self, f"y_{split}")

    @staticmethod
    def pixels(x: torch.Tensor) -> torch.Tensor:
        """Float pixels in [0, 1] from uint8 or float storage."""
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def train_batch(self, index: torch.Tensor) -> torch.Tensor:
        return self.pixels(self.x_train[index])

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """Model input from a batch of float pixels in [0, 1]: normalisation, a filter placed after
        it (on the normalised floats, unclipped), then upsampling."""
        x = normalize(x, self.normalize, self.stats)
        if self.filter != "none" and self.filter_order == "after":
            x = _images.apply_filter(x, self.filter, self.filter_kernel)
        return _images.upsample(x, self.upsample)

    def inputs(self, split: str) -> torch.Tensor:
        """Finished inputs of a whole split (``train``, ``val`` or ``test``), cached."""
        if split not in self._finished:
            self._finished[split] = self.finish(self.pixels(getattr(self, f"x_{split}"))).contiguous()
        return self._finished[split]


def normalize(x: torch.Tensor, mode: str, stats: dict[str, list[float]]) -> torch.Tensor:
    """Map float pixels in [0, 1] to model inputs according to ``mode``."""
    if mode == "unit":
        return x
    if mode == "none":  # raw 0..255 values, as a Keras model without preprocessing sees them
        return x * 255.0
    if mode == "standard":
        mean = torch.tensor(stats["mean"], device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(stats["std"], device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std
    if mode == "caffe":  # Keras' preprocess_input(mode="caffe"): RGB->BGR, centred, not scaled
        x = x * 255.0
        if x.shape[1] == 3:
            x = x.flip(1)
            mean = torch.tensor(CAFFE_BGR_MEAN, device=x.device).view(1, 3, 1, 1)
        else:  # grayscale: one channel, centred on the mean of the three BGR means
            mean = torch.full((1, x.shape[1], 1, 1), sum(CAFFE_BGR_MEAN) / 3, device=x.device)
        return x - mean
    raise ValueError(f"unknown normalize mode {mode!r}")


def channel_stats(x: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel mean and std on the [0, 1] scale (computed on the training split only).

    Accumulated in float64 over chunks, so a large split never needs a full float copy.
    """
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    squares = torch.zeros_like(total)
    for chunk in x.split(4096):
        c = PreparedData.pixels(chunk).double()
        total += c.sum(dim=(0, 2, 3))
        squares += (c * c).sum(dim=(0, 2, 3))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / n
    var = (squares - n * mean * mean) / max(n - 1, 1)
    std = var.clamp_min(0).sqrt().clamp_min(1e-6)
    return {"mean": mean.tolist(), "std": std.tolist()}


def prepare_pixels(x: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """The resident pixels of one split: channel and size adapters, then a "before" filter.

    Every step maps uint8 to uint8, so the stored data stay four times smaller than floats.
    """
    if cfg.to_rgb:
        x = _images.to_rgb(x)
    if cfg.pad_to:
        x = _images.pad_to(x, cfg.pad_to)
    if cfg.resize:
        x = _images.resize(x, cfg.resize)
    if cfg.filter != "none" and cfg.filter_order == "before":
        x = _images.filter_pixels(x, cfg.filter, cfg.filter_kernel)
    return x.contiguous()


_CACHE: OrderedDict[str, PreparedData] = OrderedDict()
_CACHE_SIZE = 4


def _load_raw(cfg: DataConfig, data_dir: str | Path | None):
    cfg.validate()
    info = get_dataset(cfg.dataset)
    if not info.sizes and cfg.medmnist_size != DataConfig.medmnist_size:
        raise ConfigError(
            f"medmnist_size {cfg.medmnist_size} applies to MedMNIST datasets only, not {cfg.dataset!r}; "
            f"leave it at {DataConfig.medmnist_size} or use resize"
        )
    return load_dataset(cfg.dataset, data_dir, size=cfg.medmnist_size if info.sizes else None)


@dataclass(frozen=True)
class DataShape:
    """What a model built for prepared data sees: channels, (H, W) after upsampling, classes."""

    in_channels: int
    input_size: tuple[int, int]
    num_classes: int


def check_data(cfg: DataConfig, *, data_dir: str | Path | None = None) -> DataShape:
    """Everything about ``cfg`` that can fail before training, without preparing the tensors:
    the dataset is present and decodes (cached per process, so the trials reuse it), its split
    is possible, and the image operations apply. Returns the shape a model will see."""
    raw = _load_raw(cfg, data_dir)
    split_indices(raw, cfg)
    one = prepare_pixels(raw.x[:1], cfg)
    size = (int(one.shape[2]) * cfg.upsample, int(one.shape[3]) * cfg.upsample)
    return DataShape(int(one.shape[1]), size, raw.num_classes)


def prepare_data(
    cfg: DataConfig, *, device: str | torch.device = "cpu", data_dir: str | Path | None = None, repeat: int = 0
) -> PreparedData:
    """Load, split and normalise ``cfg.dataset`` onto ``device`` (cached per process). ``repeat``
    picks the subset sample under ``subset_sampling: per_repeat`` (see ``_subsets.py``)."""
    from objectives.data._subsets import resolve_subset_sampling  # _subsets registers on import

    cfg = resolve_subset_sampling(cfg, repeat)
    key = json.dumps([dataclasses.asdict(cfg), str(device), str(data_dir)], sort_keys=True, default=str)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    raw = _load_raw(cfg, data_dir)
    parts = materialize(raw, split_indices(raw, cfg))
    tensors = {}
    for name, (x, y) in parts.items():
        tensors[f"x_{name}"] = prepare_pixels(x.to(device), cfg)
        tensors[f"y_{name}"] = y.to(device)
    data = PreparedData(
        name=cfg.dataset,
        classes=raw.classes,
        normalize=cfg.normalize,
        stats=channel_stats(tensors["x_train"]),
        filter=cfg.filter,
        filter_kernel=cfg.filter_kernel,
        filter_order=cfg.filter_order,
        upsample=cfg.upsample,
        meta=dict(raw.meta),
        **tensors,
    )
    _CACHE[key] = data
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return data
