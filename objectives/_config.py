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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from objectives.data._config import DataConfig
from objectives.train._config import TrainConfig
from searchspace import ConfigError, config_id, family_params, get_family, list_families, parse_layers
from searchspace._errors import valid_list

# Keys whose value is a layer sequence: stored decoded (a token list) whatever the spelling.
LAYER_KEYS = ("layers", "plug")


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
