"""Run configuration: the flat config a space produces, split into model, data and training parts.

A trial's config is one flat mapping (what ``searchspace.interface.sample`` returns and what is stored on
the trial), e.g. ``{'family': 'seq', 'layers': [...], 'dataset': 'digits', 'lr': 0.001}``.
:meth:`RunConfig.from_flat` validates it and splits it into

- ``model``: ``family``, ``init`` and the family's own keys (see ``searchspace.interface.family_params``);
- ``data``: a :class:`DataConfig`;
- ``train``: a :class:`TrainConfig`;
- ``parts``: extra parts an objective registered with :func:`register_config_part` (e.g. the
  ``skip_*`` keys of ``objectives.skip``), each a frozen dataclass of its own keys.

A key that no part knows is an error that lists the valid keys. A key that some other family
takes but this config's family does not (e.g. ``depth`` in a study that mixes ``seq`` and
``resnet``) is dropped from the resolved config, so the stored config holds only what took effect.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from objectives._known import unknown_key_message
from objectives.data._config import DataConfig
from objectives.train._config import TrainConfig
from objectives.train._registered import canonical_augment, check_registered
from searchspace import ConfigError
from searchspace.interface import config_id, family_params, get_family, list_families, parse_layers
from searchspace.errors import RegistryError, valid_list

# Keys whose value is a layer sequence: stored decoded (a token list) whatever the spelling.
LAYER_KEYS = ("layers", "plug")


MODEL_KEYS = ("family", "init")


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def family_keys() -> set[str]:
    """Every config key some registered family takes."""
    return set().union(*(set(family_params(f)) for f in list_families()))


# Extra config parts: name -> frozen dataclass whose fields are config keys, with
# ``validate(run)`` (it sees the whole RunConfig, so it can check its values against the model).
_PARTS: dict[str, type] = {}


def register_config_part(name: str) -> Callable[[type], type]:
    """Class decorator: let an objective add its own flat config keys (a frozen dataclass with a
    commented default per field and a ``validate(run)`` method). :meth:`RunConfig.from_flat`
    fills the part from the flat config; its keys must not clash with any other part's."""

    def decorator(cls: type) -> type:
        if name in _PARTS or name in ("model", "data", "train"):
            raise RegistryError(f"config part {name!r} is already registered")
        if not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "validate", None)):
            raise RegistryError(f"config part {name!r} must be a dataclass with a validate(run) method")
        taken = {*MODEL_KEYS, *_fields(DataConfig), *_fields(TrainConfig), *family_keys(), *_part_keys()}
        clash = sorted(set(_fields(cls)) & taken)
        if clash:
            raise RegistryError(f"config part {name!r} reuses key(s) {valid_list(clash)} of another part")
        _PARTS[name] = cls
        return cls

    return decorator


def list_config_parts() -> list[str]:
    return sorted(_PARTS)


def _part_keys() -> dict[str, str]:
    """Config key -> name of the registered part that owns it."""
    return {key: name for name, cls in _PARTS.items() for key in _fields(cls)}


def valid_keys() -> list[str]:
    return sorted(
        {*MODEL_KEYS, *INPUT_KEYS, *_fields(DataConfig), *_fields(TrainConfig), *family_keys(), *_part_keys()}
    )


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
    parts: Mapping[str, Any] = field(default_factory=dict)  # registered extra parts in use, by name
    # in_channels / num_classes / input_size: derived from the data, never chosen. Trials store
    # them in their config; a config that states them is checked against the data (check_inputs).
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], *, parts: Iterable[str] = ()) -> RunConfig:
        """Validate and split ``flat``. An extra part is resolved (defaults filled in, stored in
        :meth:`to_flat`) when the caller asks for it in ``parts`` or ``flat`` sets one of its
        keys; configs that use no part keep the config_id they always had."""
        flat = dict(flat)
        wanted: dict[str, dict[str, Any]] = {}
        for name in parts:
            if name not in _PARTS:
                raise RegistryError(f"unknown config part {name!r}; valid: {valid_list(list_config_parts())}")
            wanted[name] = {}
        part_of = _part_keys()
        if "family" not in flat:
            raise ConfigError(f"config has no 'family'; valid families: {valid_list(list_families())}")
        family = flat.pop("family")
        own = get_family(family).params()
        init = flat.pop("init", "default")
        data_fields, train_fields = _fields(DataConfig), _fields(TrainConfig)
        others = family_keys()
        data, train, model, inputs = {}, {}, {}, {}
        for key, value in flat.items():
            if key in INPUT_KEYS:
                inputs[key] = _input_value(key, value)
            elif key in data_fields:
                data[key] = _coerce(DataConfig, key, value)
            elif key in train_fields:
                train[key] = _coerce(TrainConfig, key, value)
            elif key in own:
                model[key] = parse_layers(value) if key in LAYER_KEYS else value
            elif key in part_of:
                name = part_of[key]
                wanted.setdefault(name, {})[key] = _coerce(_PARTS[name], key, value)
            elif key not in others:
                raise ConfigError(unknown_key_message(key, valid_keys()))
        if "augment" in train:  # registration order: "rotate+flip" and "flip+rotate" give one config_id
            train["augment"] = canonical_augment(train["augment"])
        run = cls(
            family=family,
            model={**{k: parse_layers(v) if k in LAYER_KEYS else v for k, v in own.items()}, **model},
            init=init,
            data=DataConfig(**data),
            train=TrainConfig(**train),
            parts={name: _PARTS[name](**values) for name, values in sorted(wanted.items())},
            inputs=inputs,
        )
        run.data.validate()
        check_registered(run.train)
        run.train.validate()
        for part in run.parts.values():
            part.validate(run)
        return run

    def part(self, name: str) -> Any:
        """The resolved extra part ``name`` (ask for it with ``from_flat(..., parts=[name])``)."""
        try:
            return self.parts[name]
        except KeyError:
            raise RegistryError(
                f"config part {name!r} is not resolved in this config; resolved: {valid_list(self.parts) or 'none'}"
            ) from None

    def with_inputs(self, in_channels: int, num_classes: int, input_size: tuple[int, int]) -> RunConfig:
        """This config with the data-derived keys filled in (after :meth:`check_inputs`)."""
        values = {"in_channels": in_channels, "num_classes": num_classes, "input_size": list(input_size)}
        self.check_inputs(**values)
        return dataclasses.replace(self, inputs=values)

    def check_inputs(self, in_channels: int, num_classes: int, input_size: Any) -> None:
        """Refuse a config whose stated in_channels/num_classes/input_size differ from the data's."""
        actual = {"in_channels": in_channels, "num_classes": num_classes, "input_size": list(input_size)}
        for key, value in self.inputs.items():
            if value != actual[key]:
                how = "a different dataset" if key == "num_classes" else "to_rgb, pad_to, resize or upsample"
                raise ConfigError(
                    f"{key}={value} in the config, but dataset {self.data.dataset!r} gives {actual[key]} "
                    f"(it is derived from the data; to change it use {how})"
                )

    def to_flat(self) -> dict[str, Any]:
        """The full resolved config as one JSON-serialisable flat mapping."""
        out = {"family": self.family, "init": self.init, **self.inputs, **self.model}
        out.update(dataclasses.asdict(self.data))
        out.update(dataclasses.asdict(self.train))
        for part in self.parts.values():
            out.update(dataclasses.asdict(part))
        return json.loads(json.dumps(out, default=_jsonable))

    @property
    def config_id(self) -> str:
        """Hash of the chosen config; the data-derived input keys are left out, so a config has
        one id before and after they are filled in, and so are keys at their :data:`ID_NEUTRAL`
        value: keys added after studies had stored config ids, at the value every config had
        before them (``precision`` at ``auto``, ``padding`` at ``same``, the BatchNorm defaults)."""
        return config_id({k: v for k, v in self.to_flat().items()
                          if k not in INPUT_KEYS and ID_NEUTRAL.get(k, _NOTHING) != v})


INPUT_KEYS = ("in_channels", "num_classes", "input_size")
# Keys left out of config_id at these values: added after studies had stored config ids, so that a
# config keeps the id it always had unless the key is set to something else
# (tests/objectives/test_train_config.py pins ids); any other value is a new config.
ID_NEUTRAL = {"precision": "auto", "padding": "same", "bn_momentum": 0.1, "bn_eps": 1e-5}
_NOTHING = object()


def _input_value(key: str, value: Any) -> Any:
    if key == "input_size":
        size = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
            return list(size)
    elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ConfigError(f"{key} must be a positive integer{' or [H, W]' if key == 'input_size' else ''}, got {value!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return str(value)
