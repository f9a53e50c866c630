"""The shape a model will see, without the dataset's files (for ``study launch --queue-only``).

A queue-only launch runs where the data may not be (the workers read it later), yet every cell it
writes must build. When the files are here the real check runs (:func:`check_data`); otherwise
the shape comes from what each dataset publishes (channels, size, classes: its entry in
``objectives.catalog``) and the same image operations (to_rgb, pad_to, resize, upsample) are
applied to one blank image of that shape, so the arithmetic is the loader's, not a copy of it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from objectives.catalog import find_dataset
from objectives.data._config import DataConfig
from objectives.data._prepare import DataShape, check_data, prepare_pixels
from objectives.data._registry import get_dataset, resolve_data_dir
from objectives.data._subsets import parse_subset


def published_shape(cfg: DataConfig) -> DataShape | None:
    """The shape from the dataset's published form (its catalogue entry: channels, pixels per side,
    classes); None when its entry does not state them."""
    name, classes = cfg.dataset, None
    subset = parse_subset(name)
    if subset is not None:
        name, classes = subset[0], 2
    info = find_dataset(name)
    if info is None or None in (info.channels, info.image_size, info.num_classes):
        return None
    # A dataset published at several sizes (MedMNIST) is loaded at medmnist_size (_prepare._load_raw).
    channels, side, k = info.channels, cfg.medmnist_size if info.sizes else info.image_size, info.num_classes
    one = prepare_pixels(torch.zeros(1, channels, side, side, dtype=torch.uint8), cfg)
    size = (int(one.shape[2]) * cfg.upsample, int(one.shape[3]) * cfg.upsample)
    return DataShape(int(one.shape[1]), size, classes or k)


def data_shape(cfg: DataConfig, *, data_dir: str | Path | None = None) -> DataShape | None:
    """The real check when the dataset is here (embedded, or its files in ``data_dir``), else
    :func:`published_shape`; None when neither is possible."""
    cfg.validate()
    info = get_dataset(cfg.dataset)
    here = info.embedded or (info.present is not None and info.present(resolve_data_dir(data_dir)))
    return check_data(cfg, data_dir=data_dir) if here else published_shape(cfg)
