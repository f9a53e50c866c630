"""Presets: one YAML file per experiment of the seed papers, read with ``yaml.safe_load``.

A preset file holds::

    name: liu-lolo                    # must match the file name
    description: one line
    paper: which seed paper and section the protocol comes from
    sampler: grid                     # grid | tpe | random
    repeats: 3                        # the paper's "3 runs"
    n_trials: null                    # tpe/random: configs to sample
    pruner: none
    seed: 0
    baseline: {layers: full}          # params of the reference config for ablation tables
    defaults: {dataset: ..., epochs: ...}   # fixed config values: the paper's protocol
    space: {name: {type: ..., ...}}   # the searched dimensions (see searchspace)
    notes: where the paper is ambiguous and what layerlab chose
    report: {best_per_dataset: ...}   # optional: the paper's own report tables (studies/_paper.py)
    vary: [init, order]               # optional: a variance design; repeats then count per source

Unknown keys, wrong types and bad YAML are rejected with the file, the key and what is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from searchspace import Space, build_space
from searchspace.errors import LayerlabError, PresetError, did_you_mean, valid_list
from studies._paper import BestPerDataset, parse_report
from studies._spec import StudySpec, design_spec
from studies._yaml import safe_load

PRESET_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "paper": str,
    "objective": str,
    "sampler": str,
    "repeats": int,
    "n_trials": (int, type(None)),
    "pruner": str,
    "seed": int,
    "baseline": (dict, type(None)),
    "defaults": dict,
    "space": dict,
    "notes": str,
    "report": dict,
    "vary": (str, list),  # a variance design (objectives._seeding): repeats then count per source
}
REQUIRED = ("name", "defaults", "space")
DEFAULT_PRESET = "demo"


def _preset_dir() -> Path:
    return Path(str(resources.files(__package__) / "presets"))  # __package__: studies


def list_presets() -> list[str]:
    return sorted(p.stem for p in _preset_dir().glob("*.yaml"))


def preset_path(name: str) -> Path:
    """Path of a built-in preset by name, or of a preset file given as a path."""
    candidate = Path(name)
    if candidate.is_dir():
        raise PresetError(f"preset {name!r} is a directory; give a preset name or a .yaml file")
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    path = _preset_dir() / f"{name}.yaml"
    if not path.exists():
        hint = did_you_mean(name, list_presets())
        raise PresetError(f"unknown preset {name!r}{hint}; valid: {valid_list(list_presets(), near=name)} "
                          "(or a path to a .yaml file)")
    return path


def read_preset(name: str) -> dict[str, Any]:
    """The raw, validated mapping of a preset file."""
    path = preset_path(name)
    if path.is_dir():
        raise PresetError(f"preset {str(path)!r} is a directory; give a preset name or a .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not a text (UTF-8) file, so not a preset YAML") from None
    except OSError as exc:
        raise PresetError(f"cannot read preset {path}: {exc.strerror or exc}") from None
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PresetError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, Mapping):
        raise PresetError(f"{path}: a preset is a mapping of keys to values; valid keys: {valid_list(PRESET_KEYS)}")
    unknown = sorted(set(data) - set(PRESET_KEYS))
    if unknown:
        raise PresetError(f"{path}: unknown key(s) {valid_list(unknown)}; valid keys: {valid_list(PRESET_KEYS)}")
    for key in REQUIRED:
        if key not in data:
            raise PresetError(f"{path}: missing required key {key!r}")
    for key, value in data.items():
        expected = PRESET_KEYS[key]
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is int):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise PresetError(f"{path}: key {key!r} must be {names}, got {type(value).__name__} {value!r}")
    try:
        parse_report(data.get("report"))
    except LayerlabError as exc:
        raise PresetError(f"{path}: {exc}") from None
    if path.parent == _preset_dir() and data["name"] != path.stem:
        raise PresetError(f"{path}: name {data['name']!r} does not match the file name {path.stem!r}")
    return dict(data)


def load_preset(name: str) -> StudySpec:
    """The :class:`StudySpec` of a preset (built-in name or path to a YAML file)."""
    data = read_preset(name)
    path = preset_path(name)
    try:
        searched = Space.from_dict(data.pop("space"))
        defaults = data.pop("defaults")
        _check_config_keys(defaults, searched)
        _check_family_keys(defaults, searched)
        _check_baseline(data.get("baseline"), searched)
        space = build_space(defaults, searched)
        vary = data.pop("vary", None)
        spec = StudySpec(space=space, **data)
        return design_spec(spec, vary) if vary else spec
    except LayerlabError as exc:
        raise PresetError(f"{path}: {exc}") from None


def _check_config_keys(defaults: Mapping[str, Any], space: Space) -> None:
    """Every key a preset sets must be a config key some part of a run reads."""
    from objectives.interface import valid_keys  # its first use registers the built-in parts (skip_*)

    valid = valid_keys()
    for key in defaults:
        if key not in valid:
            raise PresetError(f"unknown config key {key!r} in defaults; valid keys: {valid_list(valid)}")
    for dim in space:
        for key in sorted(dim.writes()):
            if key not in valid:
                raise PresetError(
                    f"dimension {dim.name!r} sets unknown config key {key!r}; valid keys: {valid_list(valid)}"
                )


def _families(defaults: Mapping[str, Any], space: Space) -> set[str] | None:
    """The families a preset can build (None when a dimension's values cannot be listed)."""
    from searchspace import Categorical, Variants

    found = {defaults["family"]} if isinstance(defaults.get("family"), str) else set()
    for dim in space:
        if "family" not in dim.writes():
            continue
        if isinstance(dim, Variants):
            found |= {o["family"] for o in dim.options.values() if isinstance(o.get("family"), str)}
        elif isinstance(dim, Categorical):
            values = dim.choices.values() if isinstance(dim.choices, Mapping) else dim.choices
            found |= {v for v in values if isinstance(v, str)}
        else:
            return None
    return found


def _check_family_keys(defaults: Mapping[str, Any], space: Space) -> None:
    """A default that is a model key of no family this preset builds is a typo or dead weight
    (e.g. ``widths`` for ``seq``): refused, as an unknown key is."""
    from searchspace.interface import family_params
    from searchspace.errors import LayerlabError as _Error

    families = _families(defaults, space)
    if not families:
        return
    try:
        used = set().union(*(family_params(f) for f in families))
    except _Error:
        return  # an unknown family is reported where the configs are built
    from objectives.interface import family_keys

    for key in defaults:
        if key in family_keys() and key not in used:
            raise PresetError(f"default {key!r} is not a parameter of family {valid_list(sorted(families))}, "
                              f"which this preset builds; valid model keys: {valid_list(sorted(used))}")


def _check_baseline(baseline: Mapping[str, Any] | None, space: Space) -> None:
    """Baseline entries name searched dimensions and one of their values (the reference cell)."""
    params = [d.name for d in space if d.is_param]
    for name, value in (baseline or {}).items():
        if name not in params:
            raise PresetError(f"baseline names {name!r}, which is not a searched dimension; "
                              f"valid: {valid_list(params)}")
        try:
            values = space[name].param_values()
        except LayerlabError:
            continue  # continuous: any value in range is a cell a sampler may visit
        if value not in values:
            raise PresetError(
                f"baseline {name}={value!r} is not a value of dimension {name!r}; "
                f"valid: {valid_list(map(repr, values))}"
            )


def paper_report(spec: Any) -> dict[str, BestPerDataset]:
    """The report layouts of a study's spec (``None`` for a study made by hand: none). A spec stored
    before specs carried ``report`` reads it from the built-in preset of the same name."""
    if spec is None:
        return {}
    report = getattr(spec, "report", None)
    if report is None:
        report = read_preset(spec.name).get("report") if spec.name in list_presets() else None
    return parse_report(report)
