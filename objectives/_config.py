"""Run configuration: the flat config a space produces, split into model, data and training parts.

A trial's config is one flat mapping (what :func:`searchspace.sample` returns and what is stored on
the trial), e.g. ``{'family': 'seq', 'layers': [...], 'dataset': 'digits', 'lr': 0.001}``.
:meth:`RunConfig.from_flat` validates it and splits it into

- ``model``: ``family``, ``init`` and the family's own keys (see ``searchspace.family_params``);
- ``data``: a :class:`DataConfig`;
- ``train``: a :class:`TrainConfig`.

A key that no part knows is an error that lists the valid keys. A key that some other family
takes but this config's family does not (e.g. ``depth`` in a study that mixes ``seq`` and
``resnet``) is dropped from the resolved config, so the stored config holds only what took effect.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from searchspace import ConfigError, config_id, family_params, get_family, list_families, parse_layers
from searchspace._errors import valid_list

# Keys whose value is a layer sequence: stored decoded (a token list) whatever the spelling.
LAYER_KEYS = ("layers", "plug")


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
        if not _positive_number(self.lr):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not _positive_int(self.batch_size):
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not _positive_int(self.epochs):
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


def _positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


MODEL_KEYS = ("family", "init")


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def family_keys() -> set[str]:
    """Every config key some registered family takes."""
    return set().union(*(set(family_params(f)) for f in list_families()))


def valid_keys() -> list[str]:
    return sorted({*MODEL_KEYS, *_fields(DataConfig), *_fields(TrainConfig), *family_keys()})


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Accept the obvious spelling of a value (``'0.01'`` for a float from ``--set``)."""
    default = _fields(cls)[name].default
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (int, float)) and not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class RunConfig:
    """One trial's resolved configuration: model, data and training parts."""

    family: str
    model: Mapping[str, Any]  # the family's own keys, with the family's defaults filled in
    init: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> RunConfig:
        flat = dict(flat)
        if "family" not in flat:
            raise ConfigError(f"config has no 'family'; valid families: {valid_list(list_families())}")
        family = flat.pop("family")
        own = get_family(family).params()
        init = flat.pop("init", "default")
        data_fields, train_fields = _fields(DataConfig), _fields(TrainConfig)
        others = family_keys()
        data, train, model = {}, {}, {}
        for key, value in flat.items():
            if key in data_fields:
                data[key] = _coerce(DataConfig, key, value)
            elif key in train_fields:
                train[key] = _coerce(TrainConfig, key, value)
            elif key in own:
                model[key] = parse_layers(value) if key in LAYER_KEYS else value
            elif key not in others:
                raise ConfigError(f"unknown config key {key!r}; valid keys: {valid_list(valid_keys())}")
        run = cls(
            family=family,
            model={**{k: parse_layers(v) if k in LAYER_KEYS else v for k, v in own.items()}, **model},
            init=init,
            data=DataConfig(**data),
            train=TrainConfig(**train),
        )
        run.data.validate()
        run.train.validate()
        return run

    def to_flat(self) -> dict[str, Any]:
        """The full resolved config as one JSON-serialisable flat mapping."""
        out = {"family": self.family, "init": self.init, **self.model}
        out.update(dataclasses.asdict(self.data))
        out.update(dataclasses.asdict(self.train))
        return json.loads(json.dumps(out, default=_jsonable))

    @property
    def config_id(self) -> str:
        return config_id(self.to_flat())


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return str(value)
