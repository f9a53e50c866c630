"""Declarative search dimensions.

A dimension is frozen plain data: it knows its Optuna parameter name, the config key(s) it writes,
the values a grid enumerates, and how to decode a parameter value into config values. It never
calls Optuna itself; ``searchspace.interface.sample`` is the one place that does.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from searchspace._errors import SpaceError, valid_list
from searchspace._tokens import EMPTY, format_layers, parse_layers, parse_token

# Values Optuna accepts as categorical choices; anything else is stored under a string label.
_PRIMITIVE = (str, int, float, bool, type(None))
# Refuse grids past this many points in a single dimension: they are mistakes, not ablations.
MAX_DIM_POINTS = 100_000


@dataclass(frozen=True)
class When:
    """Activate a dimension only when ``parent`` (a dimension name) took one of ``values``."""

    parent: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise SpaceError(f"condition on {self.parent!r} lists no values")

    def to_dict(self) -> dict[str, list[Any]]:
        return {self.parent: list(self.values)}


def label_of(value: Any) -> Any:
    """Parameter value used for a choice: primitives as they are, lists as ``a-b-c``, else JSON."""
    if isinstance(value, _PRIMITIVE):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return "-".join(str(v) for v in value) if value else EMPTY
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    """Tuples become lists so configs are JSON round-trippable and compare equal after a reload."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Dimension:
    """Base of every dimension: ``name`` is the Optuna parameter, ``key`` the config key written."""

    name: str
    key: str | None = field(default=None, kw_only=True)
    when: When | None = field(default=None, kw_only=True)

    kind: ClassVar[str] = ""
    is_param: ClassVar[bool] = True  # False for constants: they appear in the config only.

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise SpaceError(f"a dimension needs a non-empty string name, got {self.name!r}")

    @property
    def config_key(self) -> str:
        return self.key or self.name

    def writes(self) -> set[str]:
        """Config keys this dimension may write."""
        return {self.config_key}

    def param_values(self) -> list[Any]:
        """Parameter values a grid enumerates, in order."""
        raise NotImplementedError

    def decode(self, param: Any) -> dict[str, Any]:
        """Config entries for one parameter value."""
        return {self.config_key: _plain(param)}

    def spec(self) -> dict[str, Any]:
        """Kind-specific fields for :meth:`to_dict`."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, **self.spec()}
        if self.key is not None:
            out["key"] = self.key
        if self.when is not None:
            out["when"] = self.when.to_dict()
        return out


@dataclass(frozen=True)
class Categorical(Dimension):
    """One of a list of values. Non-primitive values (e.g. stage widths ``[64, 128, 256, 512]``)
    are stored under a string label; give ``choices`` as a mapping ``{label: value}`` to name them."""

    choices: tuple[Any, ...] | Mapping[str, Any] = ()
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.choices, Mapping):
            labels = list(self.choices)
        else:
            object.__setattr__(self, "choices", tuple(self.choices))
            labels = [label_of(v) for v in self.choices]
        if not labels:
            raise SpaceError(f"categorical {self.name!r} has an empty choice list")
        dupes = sorted({str(x) for x in labels if labels.count(x) > 1})
        if dupes:
            raise SpaceError(f"categorical {self.name!r} lists duplicate choices: {valid_list(dupes)}")

    def _table(self) -> dict[Any, Any]:
        if isinstance(self.choices, Mapping):
            return dict(self.choices)
        return {label_of(v): v for v in self.choices}

    def param_values(self) -> list[Any]:
        return list(self._table())

    def decode(self, param: Any) -> dict[str, Any]:
        table = self._table()
        if param not in table:
            raise SpaceError(
                f"{param!r} is not a choice of {self.name!r}; valid: {valid_list(table)}"
            )
        return {self.config_key: _plain(table[param])}

    def spec(self) -> dict[str, Any]:
        if isinstance(self.choices, Mapping):
            return {"choices": {k: _plain(v) for k, v in self.choices.items()}}
        return {"choices": _plain(list(self.choices))}


@dataclass(frozen=True)
class Variants(Dimension):
    """Named bundles of config values, e.g. ``{'Res512': {'family': 'resnet', 'widths': [512]*4}}``.

    One categorical parameter (the label) sets several keys at once: the natural dimension for a
    one-factor-at-a-time walk or for comparing named models that differ in more than one key.
    """

    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    kind: ClassVar[str] = "variants"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.key is not None:
            raise SpaceError(f"variants {self.name!r} writes the keys of its options; drop 'key'")
        if not self.options:
            raise SpaceError(f"variants {self.name!r} has no options")
        for label, values in self.options.items():
            if not isinstance(values, Mapping):
                raise SpaceError(
                    f"option {label!r} of variants {self.name!r} must be a mapping of config "
                    f"keys to values, got {type(values).__name__}"
                )

    def writes(self) -> set[str]:
        return set().union(*(set(v) for v in self.options.values()))

    def param_values(self) -> list[Any]:
        return list(self.options)

    def decode(self, param: Any) -> dict[str, Any]:
        if param not in self.options:
            raise SpaceError(
                f"{param!r} is not an option of {self.name!r}; valid: {valid_list(self.options)}"
            )
        return {k: _plain(v) for k, v in self.options[param].items()}

    def spec(self) -> dict[str, Any]:
        return {"options": {k: _plain(dict(v)) for k, v in self.options.items()}}


def _check_bounds(dim: Int | Float) -> None:
    if dim.low > dim.high:
        raise SpaceError(f"{dim.kind} {dim.name!r} has low {dim.low} > high {dim.high}")
    if dim.log and dim.low <= 0:
        raise SpaceError(f"{dim.kind} {dim.name!r} is log-scaled but low {dim.low} <= 0")
    if dim.log and dim.step is not None and dim.step != 1 and dim.kind == "int":
        raise SpaceError(f"int {dim.name!r} cannot combine log=True with step {dim.step}")
    if dim.step is not None and dim.step <= 0:
        raise SpaceError(f"{dim.kind} {dim.name!r} has step {dim.step} <= 0")
    for point in dim.grid or ():
        if not dim.low <= point <= dim.high:
            raise SpaceError(
                f"grid point {point} of {dim.kind} {dim.name!r} is outside [{dim.low}, {dim.high}]"
            )


@dataclass(frozen=True)
class Int(Dimension):
    """An integer in ``[low, high]``; a grid enumerates every ``step`` (or the given ``grid``)."""

    low: int = 0
    high: int = 0
    step: int = 1
    log: bool = False
    grid: tuple[int, ...] | None = None
    kind: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.grid is not None:
            object.__setattr__(self, "grid", tuple(int(v) for v in self.grid))
        _check_bounds(self)

    def param_values(self) -> list[Any]:
        if self.grid is not None:
            return list(self.grid)
        n = (self.high - self.low) // self.step + 1
        if n > MAX_DIM_POINTS:
            raise SpaceError(f"int {self.name!r} spans {n} values; give it grid points")
        return list(range(self.low, self.high + 1, self.step))

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        if self.grid is not None:
            out["grid"] = list(self.grid)
        return out


@dataclass(frozen=True)
class Float(Dimension):
    """A real number in ``[low, high]``, linear or log. A grid needs explicit ``grid`` points
    (or a ``step``); TPE and random sampling use the continuous range."""

    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    grid: tuple[float, ...] | None = None
    kind: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.grid is not None:
            object.__setattr__(self, "grid", tuple(float(v) for v in self.grid))
        _check_bounds(self)

    def param_values(self) -> list[Any]:
        if self.grid is not None:
            return list(self.grid)
        if self.step is not None:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            if n > MAX_DIM_POINTS:
                raise SpaceError(f"float {self.name!r} spans {n} steps; give it grid points")
            return [round(self.low + i * self.step, 12) for i in range(n)]
        raise SpaceError(
            f"float {self.name!r} is continuous and has no grid points; give it 'grid: [...]' "
            "or sample it with --sampler tpe/random"
        )

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        if self.grid is not None:
            out["grid"] = list(self.grid)
        return out


@dataclass(frozen=True)
class Bool(Dimension):
    """True or False."""

    kind: ClassVar[str] = "bool"

    def param_values(self) -> list[Any]:
        return [False, True]


@dataclass(frozen=True)
class Presence(Dimension):
    """Whether ``token`` stays in the layer list at config key ``target``.

    The parameter is a bool; when it is False every occurrence of the token is removed from the
    target list after all other dimensions are decoded. A space with presences of k tokens is a
    full 2^k factorial ablation of those layers.
    """

    token: str = ""
    target: str = "layers"
    kind: ClassVar[str] = "presence"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.key is not None:
            raise SpaceError(f"presence {self.name!r} edits {self.target!r}; use 'target', not 'key'")
        parse_token(self.token)

    def writes(self) -> set[str]:
        return set()  # edits its target; it does not own a key

    def param_values(self) -> list[Any]:
        return [True, False]

    def decode(self, param: Any) -> dict[str, Any]:
        return {}

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token}
        if self.target != "layers":
            out["target"] = self.target
        return out


@dataclass(frozen=True)
class Ordering(Dimension):
    """A permutation of ``tokens`` between a fixed ``prefix`` and ``suffix``.

    The Optuna parameter is one categorical whose value is the canonical string of the permuted
    part (``BN-Conv-PL-DropL``); the config key (``layers`` by default) gets the decoded list
    ``prefix + permutation + suffix``. Tokens listed in ``optional`` may also be absent, which
    expresses orderings with presence: every subset (keeping the required tokens) in every order.
    """

    tokens: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    kind: ClassVar[str] = "ordering"

    def __post_init__(self) -> None:
        super().__post_init__()
        for attr in ("tokens", "prefix", "suffix", "optional"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = parse_layers(value)
            object.__setattr__(self, attr, tuple(value))
        if not self.tokens:
            raise SpaceError(f"ordering {self.name!r} has no tokens to order")
        dupes = sorted({t for t in self.tokens if self.tokens.count(t) > 1})
        if dupes:
            raise SpaceError(f"ordering {self.name!r} has duplicate tokens: {valid_list(dupes)}")
        for t in (*self.tokens, *self.prefix, *self.suffix):
            parse_token(t)
        stray = [t for t in self.optional if t not in self.tokens]
        if stray:
            raise SpaceError(
                f"optional tokens {valid_list(stray)} of ordering {self.name!r} are not among its "
                f"tokens: {valid_list(self.tokens)}"
            )
        n = _count_orderings(len(self.tokens), len(self.optional))
        if n > MAX_DIM_POINTS:
            raise SpaceError(
                f"ordering {self.name!r} has {n} arrangements, more than {MAX_DIM_POINTS}; "
                "fix a prefix or suffix to shrink it"
            )

    def param_values(self) -> list[Any]:
        required = [t for t in self.tokens if t not in self.optional]
        out: list[str] = []
        # Subsets from largest to smallest so the full set's orderings come first.
        for k in range(len(self.optional), -1, -1):
            for dropped in itertools.combinations(self.optional, len(self.optional) - k):
                kept = [t for t in self.tokens if t not in dropped]
                assert len(kept) >= len(required)
                out.extend(format_layers(p) for p in itertools.permutations(kept))
        return out

    def decode(self, param: Any) -> dict[str, Any]:
        middle = parse_layers(str(param))
        allowed = set(self.tokens)
        required = set(self.tokens) - set(self.optional)
        if (
            any(t not in allowed for t in middle)
            or len(set(middle)) != len(middle)
            or not required <= set(middle)
        ):
            raise SpaceError(
                f"{param!r} is not an arrangement of ordering {self.name!r} "
                f"(tokens {valid_list(self.tokens)}, optional {valid_list(self.optional) or 'none'})"
            )
        return {self.config_key: [*self.prefix, *middle, *self.suffix]}

    def writes(self) -> set[str]:
        return {self.key or "layers"}

    @property
    def config_key(self) -> str:
        return self.key or "layers"

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tokens": list(self.tokens)}
        for attr in ("prefix", "suffix", "optional"):
            if getattr(self, attr):
                out[attr] = list(getattr(self, attr))
        return out


def _count_orderings(n: int, n_optional: int) -> int:
    return sum(
        math.comb(n_optional, k) * math.factorial(n - n_optional + k) for k in range(n_optional + 1)
    )


@dataclass(frozen=True)
class Fixed(Dimension):
    """A constant recorded in the config (not an Optuna parameter)."""

    value: Any = None
    kind: ClassVar[str] = "fixed"
    is_param: ClassVar[bool] = False

    def param_values(self) -> list[Any]:
        return [label_of(self.value)]

    def decode(self, param: Any) -> dict[str, Any]:
        return {self.config_key: _plain(self.value)}

    def spec(self) -> dict[str, Any]:
        return {"value": _plain(self.value)}


DIMENSION_KINDS: dict[str, type[Dimension]] = {
    cls.kind: cls for cls in (Categorical, Variants, Int, Float, Bool, Presence, Ordering, Fixed)
}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_tokens(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v))


# What each field of a dimension's plain form must be, and how to say it in an error.
_FIELD_TYPES: dict[str, tuple[Any, str]] = {
    "low": (_is_number, "a number"),
    "high": (_is_number, "a number"),
    "step": (lambda v: v is None or _is_number(v), "a number"),
    "log": (lambda v: isinstance(v, bool), "true or false"),
    "grid": (
        lambda v: v is None or (isinstance(v, (list, tuple)) and all(_is_number(x) for x in v)),
        "a list of numbers",
    ),
    "choices": (lambda v: isinstance(v, (list, tuple, Mapping)), "a list of values or a mapping {label: value}"),
    "options": (lambda v: isinstance(v, Mapping), "a mapping {label: {config key: value}}"),
    "tokens": (_is_tokens, "a list of layer tokens or a layer string"),
    "prefix": (_is_tokens, "a list of layer tokens or a layer string"),
    "suffix": (_is_tokens, "a list of layer tokens or a layer string"),
    "optional": (_is_tokens, "a list of layer tokens or a layer string"),
    "token": (lambda v: isinstance(v, str), "a layer token (string)"),
    "target": (lambda v: isinstance(v, str), "a config key (string)"),
    "key": (lambda v: v is None or isinstance(v, str), "a config key (string)"),
}


def _check_field(name: str, kind: str, field_name: str, value: Any) -> None:
    check = _FIELD_TYPES.get(field_name)
    if check is not None and not check[0](value):
        raise SpaceError(f"dimension {name!r} ({kind}): {field_name!r} must be {check[1]}, got {value!r}")


def dimension_from_dict(name: str, spec: Mapping[str, Any] | Any) -> Dimension:
    """Build a dimension from its plain-data form (as written in a preset's ``space:``)."""
    if not isinstance(spec, Mapping):
        # A bare value or list is shorthand: a list is a categorical, anything else a constant.
        if isinstance(spec, list):
            return Categorical(name, choices=tuple(spec))
        return Fixed(name, value=spec)
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in DIMENSION_KINDS:
        raise SpaceError(
            f"dimension {name!r} has type {kind!r}; valid types: {valid_list(DIMENSION_KINDS)}"
        )
    cls = DIMENSION_KINDS[kind]
    fields = {f.name for f in dataclasses.fields(cls)} - {"name"}
    unknown = sorted(set(spec) - fields)
    if unknown:
        raise SpaceError(
            f"dimension {name!r} ({kind}) has unknown field(s) {valid_list(unknown)}; "
            f"valid: {valid_list(sorted(fields))}"
        )
    for field_name, value in spec.items():
        _check_field(name, kind, field_name, value)
    when = spec.pop("when", None)
    if when is not None:
        if not isinstance(when, Mapping) or len(when) != 1:
            raise SpaceError(
                f"'when' of dimension {name!r} must map one parent to its values, e.g. "
                "{optimizer: [sgd, rmsprop]}"
            )
        ((parent, values),) = when.items()
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        spec["when"] = When(str(parent), values)
    for tuple_field in ("tokens", "prefix", "suffix", "optional", "grid"):
        if isinstance(spec.get(tuple_field), list):
            spec[tuple_field] = tuple(spec[tuple_field])
    if kind == "categorical" and isinstance(spec.get("choices"), list):
        spec["choices"] = tuple(spec["choices"])
    try:
        return cls(name, **spec)
    except TypeError as exc:  # a wrongly typed field, e.g. a string for 'low'
        raise SpaceError(f"dimension {name!r} ({kind}): {exc}") from None
