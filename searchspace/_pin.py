"""Space-to-Space edits: add a preset's defaults to a space, and pin config keys to values.

:func:`build_space` turns a searched space plus fixed defaults into a study's space;
:func:`apply_overrides` pins keys everywhere in a space (a command line's ``--set key=value``,
``--dataset``, ``--epochs``), shrinking its grid. Both take and return plain :class:`Space` data, so
they live here, below the objectives and studies that call them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from searchspace._dims import Categorical, Dimension, Fixed, Float, Variants, When, label_of
from searchspace._errors import ConfigError, LayerlabError, valid_list
from searchspace._space import Space


def build_space(defaults: Mapping[str, Any], space: Space) -> Space:
    """The study space: the searched dimensions plus the defaults as constants.

    A default applies wherever no searched dimension sets its key. A key no dimension writes
    becomes a constant. A key written only in some branches (by dimensions conditional on one
    parent, or by a variants dimension some of whose options set it) gets a constant conditioned
    on the parent's remaining values, so a walk states its carried-forward settings once, as
    defaults, and each step states only what it changes.
    """
    names = {d.name for d in space}
    fixed: list[Fixed] = []
    for key, value in defaults.items():
        writers = [d for d in space if key in d.writes()]
        if not writers:
            if key in names:
                raise ConfigError(f"default {key!r} shares a name with a dimension; rename the dimension")
            fixed.append(Fixed(key, value=value))
            continue
        gap = _unset_branches(space, key, writers)
        if gap is not None:
            parent, values = gap
            name = f"{key}@default"
            if name in names:
                raise ConfigError(f"dimension name {name!r} is reserved for the default of {key!r}")
            fixed.append(Fixed(name, value=value, key=key, when=When(parent, tuple(values))))
    return Space([*fixed, *space])


def _unset_branches(space: Space, key: str, writers: list[Dimension]) -> tuple[str, list[Any]] | None:
    """(parent, values) under which no dimension in ``writers`` sets ``key``; None if always set."""
    parents: set[str] = set()
    covered: list[Any] = []
    for dim in writers:
        if isinstance(dim, Variants):
            partial = [label for label, option in dim.options.items() if key not in option]
            if not partial:
                if dim.when is None:
                    return None
            elif dim.when is None:
                parents.add(dim.name)
                covered += [label for label in dim.options if label not in partial]
                continue
            else:
                raise ConfigError(
                    f"default {key!r} cannot fill options {valid_list(partial)} of conditional variants "
                    f"{dim.name!r}; set {key!r} in each of its options"
                )
        if dim.when is None:
            return None  # written in every branch: the default is never used
        parents.add(dim.when.parent)
        covered += list(dim.when.values)
    who = valid_list(sorted(d.name for d in writers))
    if len(parents) != 1:
        raise ConfigError(
            f"default {key!r} cannot fill the branches {who} leave unset: they depend on different "
            f"dimensions ({valid_list(sorted(parents))}); set {key!r} in every branch instead"
        )
    parent = space[parents.pop()]
    if parent.when is not None or (isinstance(parent, Float) and parent.grid is None and parent.step is None):
        raise ConfigError(
            f"default {key!r} cannot fill the branches {who} leave unset: their parent {parent.name!r} "
            f"is conditional or continuous; set {key!r} in every branch instead"
        )
    rest = [v for v in parent.param_values() if v not in covered]
    return (parent.name, rest) if rest else None


def apply_overrides(space: Space, overrides: Mapping[str, Any]) -> Space:
    """Pin config keys to values everywhere in the space; the grid shrinks accordingly.

    A constant or searched dimension that writes the key is replaced by the pinned constant (a
    second one is removed); variants lose the key from their options, and an option whose value
    the pin changed is relabelled (``Res512`` -> ``Res512 (widths=64-64-64-64)``) so no label
    names a config it no longer is; a
    key nobody writes is added as a constant. Conditions on a replaced dimension are resolved
    against the pinned value: dimensions it activates become unconditional (or keep the pinned
    constant's own condition), and those it can no longer activate are removed with their
    descendants.
    """
    for key, value in overrides.items():
        for pin_key, pin_value in _resolve_label(space, key, value).items():
            space = _pin(space, pin_key, pin_value)
    return space


def _resolve_label(space: Space, key: str, value: Any) -> dict[str, Any]:
    """``{key: value}``, where ``value`` may be the preset's own label of a choice: ``layers=full``
    pins the layers the categorical ``layers`` names ``full``, and ``arch=Res512`` pins every key of
    the variants option ``Res512``. A value that is itself one of the choices stays as it is."""
    if not isinstance(value, str) or key not in space:
        return {key: value}
    dim = space[key]
    if isinstance(dim, Categorical) and isinstance(dim.choices, Mapping):
        if value in dim.choices and value not in [label_of(v) for v in dim.choices.values()]:
            return {dim.key or dim.name: dim.choices[value]}
    if isinstance(dim, Variants) and value in dim.options:
        return dict(dim.options[value])
    return {key: value}


def _pin(space: Space, key: str, value: Any) -> Space:
    owners = [d for d in space if key in d.writes()]
    replaced = [d for d in owners if not isinstance(d, Variants)]
    when = None
    parents = {d.when.parent for d in replaced if d.when is not None}
    if replaced and all(d.when is not None for d in replaced) and len(parents) == 1 and len(replaced) == len(owners):
        # Every owner is conditional on one parent: pin only where one of them was active.
        order = space[parents.pop()].param_values()
        active = {repr(v) for d in replaced for v in d.when.values}  # type: ignore[union-attr]
        when = When(replaced[0].when.parent, tuple(v for v in order if repr(v) in active))  # type: ignore[union-attr]
    if replaced:
        first = next((d for d in replaced if d.name == key), replaced[0])  # keep the key's own name
        name = first.name
        if name == f"{key}@default" and key not in space:
            name = key  # a pinned value is no longer a default
        pinned = Fixed(name, value=value, key=key if name != key else None, when=when)
    else:
        name = key if key not in space else f"{key}@pinned"
        pinned = Fixed(name, value=value, key=key if name != key else None)
    dims: list[Dimension] = []
    renamed: dict[str, dict[Any, Any]] = {}  # variants name -> {old label: its label now}
    for dim in space:
        if isinstance(dim, Variants) and key in dim.writes():
            stripped, renamed[dim.name] = _strip_option_key(space, dim, key, value, {d.name for d in replaced})
            dims.append(stripped)
        elif any(dim is d for d in replaced):
            if dim is first:
                dims.append(pinned)
        else:
            dims.append(dim)
    if not replaced:
        dims.insert(0, pinned)
    dims = [_follow_labels(d, renamed) for d in dims]
    pinned = next(d for d in dims if d.name == pinned.name)  # type: ignore[assignment]
    return Space(_resolve_conditions(dims, replaced, pinned, value))


def _follow_labels(dim: Dimension, renamed: Mapping[str, Mapping[Any, Any]]) -> Dimension:
    """Point a condition on relabelled or merged variants at their labels now."""
    if dim.when is None or not renamed.get(dim.when.parent):
        return dim
    mapping = renamed[dim.when.parent]
    values = tuple(dict.fromkeys(mapping.get(v, v) for v in dim.when.values))
    return dataclasses.replace(dim, when=When(dim.when.parent, values))


def _strip_option_key(
    space: Space, dim: Variants, key: str, value: Any, removed: set[str]
) -> tuple[Variants, dict[Any, Any]]:
    """``dim`` without ``key`` in its options, and where each old label went. An option whose
    ``key`` differed from the pinned ``value`` is relabelled to say so; an option that becomes
    identical to an earlier one, and activates the same dimensions, is merged into it (the grid
    shrinks instead of running one config twice)."""
    children = [d for d in space if d.when is not None and d.when.parent == dim.name and d.name not in removed]
    options: dict[str, dict[str, Any]] = {}
    kept_as: dict[Any, Any] = {}  # old label -> its label now
    kept_options: dict[Any, dict[str, Any]] = {}  # by old label
    for label, option in dim.options.items():
        stripped = {k: v for k, v in option.items() if k != key}
        twin = next(
            (
                kept
                for kept, kept_option in kept_options.items()
                if _plain_eq(stripped, kept_option)
                and all(
                    (label in c.when.values) == (kept in c.when.values)  # type: ignore[union-attr]
                    for c in children
                )
            ),
            None,
        )
        if twin is not None:
            kept_as[label] = kept_as[twin]
            if key in option and not _plain_eq(option[key], value):
                _relabel(options, kept_as, twin, key, value)
            continue
        changed = key in option and not _plain_eq(option[key], value)
        new = f"{label} ({key}={label_of(value)})" if changed else label
        options[new] = stripped
        kept_as[label] = new
        kept_options[label] = stripped
    return dataclasses.replace(dim, options=options), kept_as


def _relabel(options: dict[str, Any], kept_as: dict[Any, Any], old: Any, key: str, value: Any) -> None:
    """Mark the kept option ``old`` as changed by the pin (it absorbed an option the pin changed)."""
    current = kept_as[old]
    tag = f" ({key}={label_of(value)})"
    if current.endswith(tag):
        return
    new = f"{current}{tag}"
    options_list = list(options.items())
    options.clear()
    options.update((new if k == current else k, v) for k, v in options_list)
    for k, v in kept_as.items():
        if v == current:
            kept_as[k] = new


def _resolve_conditions(dims: list[Dimension], replaced: list[Dimension], pinned: Fixed, value: Any) -> list[Dimension]:
    """Re-point or drop the dimensions conditional on ``replaced`` now that their key is pinned."""
    by_name = {d.name: d for d in replaced}
    dropped: set[str] = set()
    out: list[Dimension] = []
    for dim in dims:
        if dim.when is None or dim is pinned:
            out.append(dim)
            continue
        if dim.when.parent in dropped:
            dropped.add(dim.name)
            continue
        parent = by_name.get(dim.when.parent)
        if parent is None:
            out.append(dim)
            continue
        if any(_decodes_to(parent, v, value) for v in dim.when.values):
            out.append(dataclasses.replace(dim, when=pinned.when))
        else:
            dropped.add(dim.name)
    return out


def _decodes_to(dim: Dimension, param: Any, value: Any) -> bool:
    try:
        decoded = dim.decode(param).get(dim.config_key)
    except LayerlabError:
        return False
    return _plain_eq(decoded, value) or _plain_eq(param, value)


def _plain_eq(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
