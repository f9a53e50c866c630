"""Pre-flight checks: everything about a run that can fail before it trains.

``studies`` calls :func:`check_run` for every distinct config of a study before it writes
anything, so a missing dataset, a subset larger than its class, a split the data is too small for,
a model that cannot be built at the data's size, or an input key that contradicts the data is one
line at launch instead of a failure inside every trial.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from objectives._config import RunConfig
from objectives.data import DataShape, check_data
from objectives.data._shapes import data_shape
from searchspace import build_model


def check_run(run: RunConfig, *, data_dir: str | Path | None = None, model: bool = True) -> DataShape:
    """Check ``run`` against its data and (with ``model``) build its model on the meta device
    (no memory, no compute); returns the shape the model sees."""
    shape = check_data(run.data, data_dir=data_dir)
    run.check_inputs(shape.in_channels, shape.num_classes, shape.input_size)
    if not model:
        return shape
    _build_on_meta(run, shape)
    return shape


def check_run_shapes(
    run: RunConfig, *, data_dir: str | Path | None = None, built: set[str] | None = None
) -> DataShape | None:
    """What a launch that only queues can check: the data's shape (from the files when they are
    here, else from the dataset's published shape, see ``objectives/data/_shapes.py``), the input
    keys against it, and the model built at it on the meta device. None when no shape is known.

    ``built`` (a set the caller keeps across runs) skips a model already built at the same shape:
    a build reads only the family, its settings, the init and the shape, so many datasets of one
    shape (liu-subsets: 21 datasets, 4 shapes) need one build per model, not one per dataset."""
    shape = data_shape(run.data, data_dir=data_dir)
    if shape is None:
        return None
    run.check_inputs(shape.in_channels, shape.num_classes, shape.input_size)
    key = json.dumps([run.family, run.init, run.model, shape.in_channels, shape.num_classes, list(shape.input_size)],
                     sort_keys=True, default=str)
    if built is None or key not in built:
        _build_on_meta(run, shape)
        if built is not None:
            built.add(key)
    return shape


def _build_on_meta(run: RunConfig, shape: DataShape) -> None:
    with torch.device("meta"):
        build_model(
            run.family,
            in_channels=shape.in_channels,
            num_classes=shape.num_classes,
            input_size=shape.input_size,
            init=run.init,
            **run.model,
        )
