"""Turn a :class:`DataConfig` into float tensors on the training device, once per process.

Decoding, splitting and normalising happen here, once; the trainer then only indexes batches out
of resident tensors (no per-sample Python or PIL work in the training loop). Results are cached
per process, keyed by the data config and the device, so the trials of one worker share them.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from objectives.data._config import DataConfig
from objectives.data._registry import load_dataset
from objectives.data._splits import materialize, split_indices

# Keras' "caffe" preprocessing: BGR channel means of ImageNet on the 0..255 scale.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@dataclass(eq=False)
class PreparedData:
    """Images and labels of train, val and test, resident on one device.

    ``x_*`` hold *pixels*: ``uint8`` (0..255) or ``float32`` in [0, 1], after every deterministic
    preparation step. The trainer sees the data through three methods, so that per-batch work
    (augmentation) happens in pixel space and normalisation after it:

    - :meth:`train_batch` -> float pixels of some training images (for augmentation);
    - :meth:`finish` -> the model's input for a batch of float pixels (normalisation);
    - :meth:`inputs` -> the finished inputs of a whole split, computed once and cached.
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
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

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
        """Model input from a batch of float pixels: normalisation (see ``DataConfig.normalize``)."""
        return normalize(x, self.normalize, self.stats)

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


def channel_stats(x_uint8: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel mean and std on the [0, 1] scale (computed on the training split only)."""
    x = x_uint8.float() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return {"mean": mean.tolist(), "std": std.tolist()}


_CACHE: OrderedDict[str, PreparedData] = OrderedDict()
_CACHE_SIZE = 4


def prepare_data(
    cfg: DataConfig, *, device: str | torch.device = "cpu", data_dir: str | Path | None = None
) -> PreparedData:
    """Load, split and normalise ``cfg.dataset`` onto ``device`` (cached per process)."""
    key = json.dumps([dataclasses.asdict(cfg), str(device), str(data_dir)], sort_keys=True, default=str)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    raw = load_dataset(cfg.dataset, data_dir)
    parts = materialize(raw, split_indices(raw, cfg))
    stats = channel_stats(parts["train"][0])
    tensors = {}
    for name, (x, y) in parts.items():
        tensors[f"x_{name}"] = x.to(device).contiguous()  # uint8 pixels: 4x smaller than float
        tensors[f"y_{name}"] = y.to(device)
    data = PreparedData(
        name=cfg.dataset,
        classes=raw.classes,
        normalize=cfg.normalize,
        stats=stats,
        meta=dict(raw.meta),
        **tensors,
    )
    _CACHE[key] = data
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return data
