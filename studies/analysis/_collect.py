"""Read any Optuna study into one tidy table of its completed trials, grouped into configs.

layerlab trials carry user attributes ``config_id``, ``repeat``, ``seed``, ``test_accuracy``,
``history``, ``confusion`` and ``config``; a study made by hand may carry none of them. Every
analysis reads trials through :func:`collect`, which falls back gracefully:

- config identity: ``config_id`` when present, else the trial's Optuna parameters (two trials
  with the same parameters are repeats of one config);
- pairing key (which runs of two configs share a seed): ``seed``, else ``repeat``, else none (the
  runs are treated as unpaired);
- test metric: ``test_accuracy`` when present, else missing (NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from searchspace.errors import AnalysisError, LayerlabError, valid_list
from studies._artifacts import SPEC_ATTR
from studies._spec import StudySpec, config_label, load_spec


@dataclass(frozen=True)
class StudyTable:
    """The completed trials of one study, one row each, with their config group.

    ``frame`` columns: ``number``, ``value`` (the objective: validation accuracy in layerlab),
    ``test`` (test accuracy or NaN), ``group`` (config identity), ``label`` (readable config),
    ``pair`` (seed / repeat, or None), ``repeat``, ``seed``. ``trials`` holds the FrozenTrials in
    the same order.
    """

    study_name: str
    direction: str  # "maximize" | "minimize"
    frame: pd.DataFrame
    trials: tuple[FrozenTrial, ...]
    state_counts: Mapping[str, int]
    spec: StudySpec | None
    grouping: str  # "config_id" (layerlab) | "params" (hand-made study) | "mixed"
    pairing: str  # "seed" | "repeat" | "none"
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Range the objective is known to lie in: (0, 1) for layerlab (validation accuracy), else None.
    value_bounds: tuple[float, float] | None = None
    # Row numbers of each group (first-seen order) and column arrays, built once: per-group
    # lookups by boolean masks over the whole frame made a report quadratic in the trials.
    _rows: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    _columns: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    _names: dict[str, list[str]] = field(init=False, repr=False, compare=False)
    _cache: dict[str, Any] = field(init=False, repr=False, compare=False)  # per-table lookups, built once

    def __post_init__(self) -> None:
        codes, uniques = pd.factorize(self.frame["group"].to_numpy(), sort=False) if len(self.frame) else ([], [])
        order = np.argsort(np.asarray(codes, dtype=np.int64), kind="stable")
        bounds = np.searchsorted(np.asarray(codes, dtype=np.int64)[order], np.arange(len(uniques) + 1))
        rows = {str(g) if not isinstance(g, str) else g: order[bounds[i]:bounds[i + 1]] for i, g in enumerate(uniques)}
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_columns", {})
        object.__setattr__(self, "_names", {})
        object.__setattr__(self, "_cache", {})

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def groups(self) -> list[str]:
        """Config groups in first-seen order."""
        return list(self._rows)

    def params_of(self, group: str) -> dict[str, Any]:
        return dict(self.trials[self._first_row(group)].params)

    def label_of(self, group: str) -> str:
        return str(self._column("label")[self._first_row(group)])

    def config_of(self, group: str) -> dict[str, Any] | None:
        """The trial's resolved config (layerlab's ``config`` user attribute), when stored."""
        config = self.trials[self._first_row(group)].user_attrs.get("config")
        return dict(config) if isinstance(config, Mapping) else None

    def values(self, group: str, metric: str = "value") -> np.ndarray:
        key = f"float:{metric}"
        if key not in self._columns:
            self._columns[key] = self.frame[metric].to_numpy(dtype=float)
        return self._columns[key][self._group_rows(group)]

    def rows(self, group: str) -> pd.DataFrame:
        return self.frame.iloc[self._group_rows(group)]

    def row_numbers(self, group: str) -> np.ndarray:
        """Positions of ``group``'s rows in ``frame`` and ``trials`` (``rows(group)`` without
        building a DataFrame: per-config statistics ask for them thousands of times)."""
        return self._group_rows(group)

    def column(self, name: str) -> np.ndarray:
        """The ``frame`` column ``name`` as an array, built once."""
        return self._column(name)

    def any_trial_has(self, attr: str) -> bool:
        """Whether some trial carries user attribute ``attr`` (looked up once per table: asked
        per config, a scan of every trial made the report quadratic)."""
        key = f"has:{attr}"
        if key not in self._cache:
            self._cache[key] = any(attr in t.user_attrs for t in self.trials)
        return self._cache[key]

    def param_names(self) -> list[str]:
        """Every Optuna parameter that appears in some completed trial, in first-seen order."""
        if "param_names" not in self._names:  # read once: analyses ask for it per comparison
            self._names["param_names"] = list(dict.fromkeys(k for t in self.trials for k in t.params))
        return list(self._names["param_names"])

    def _group_rows(self, group: str) -> np.ndarray:
        rows = self._rows.get(group)
        return rows if rows is not None else np.empty(0, dtype=np.int64)

    def _first_row(self, group: str) -> int:
        return int(self._rows[group][0])

    def _column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            self._columns[name] = self.frame[name].to_numpy()
        return self._columns[name]


def _group_key(trial: FrozenTrial) -> tuple[str, str]:
    cid = trial.user_attrs.get("config_id")
    if cid is not None:
        return str(cid), "config_id"
    return "params:" + json.dumps(trial.params, sort_keys=True, default=str), "params"


def _pair_key(trial: FrozenTrial) -> tuple[Any, str]:
    if trial.user_attrs.get("seed") is not None:
        return trial.user_attrs["seed"], "seed"
    if trial.user_attrs.get("repeat") is not None:
        return trial.user_attrs["repeat"], "repeat"
    return None, "none"


def _finite(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def collect(study: optuna.Study | StudyTable) -> StudyTable:
    """The completed trials of ``study`` as a :class:`StudyTable` (a table is returned as is).

    Raises AnalysisError for a study with no completed trial or with several objectives.
    """
    if isinstance(study, StudyTable):
        return study
    if len(study.directions) != 1:
        raise AnalysisError(f"study {study.study_name!r} has {len(study.directions)} objectives; "
                            "only single-objective studies can be analysed")
    all_trials = study.get_trials(deepcopy=False)
    counts = {s.name: 0 for s in TrialState}
    for t in all_trials:
        counts[t.state.name] += 1
    complete = [t for t in all_trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        present = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no trials at all"
        raise AnalysisError(f"study {study.study_name!r} has no completed trials ({present}); nothing to analyse")
    rows, groupings, pairings = [], set(), set()
    for t in complete:
        group, how = _group_key(t)
        pair, pair_how = _pair_key(t)
        groupings.add(how)
        pairings.add(pair_how)
        rows.append({
            "number": t.number,
            "value": float(t.value),
            "test": _finite(t.user_attrs.get("test_accuracy")),
            "group": group,
            "label": config_label(t.params),
            "pair": pair,
            "repeat": t.user_attrs.get("repeat"),
            "seed": t.user_attrs.get("seed"),
        })
    frame = pd.DataFrame(rows)
    frame["label"] = _unique_labels(frame)
    notes = []
    grouping = groupings.pop() if len(groupings) == 1 else "mixed"
    if grouping != "config_id":
        notes.append("some trials carry no config_id: their configs are identified by their Optuna parameters")
    pairing = pairings.pop() if len(pairings) == 1 else "none"
    if pairing == "none":
        notes.append("trials carry no common seed/repeat attribute: configs are compared unpaired (Welch)")
    failed = {s: n for s, n in counts.items() if s in ("FAIL", "PRUNED", "RUNNING", "WAITING") and n}
    if failed:
        notes.append("left out of every statistic: " + ", ".join(f"{n} {s.lower()}" for s, n in failed.items())
                     + " trial(s)")
    direction = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
    spec = load_spec(study) if study.user_attrs.get(SPEC_ATTR) else None
    # A layerlab objective returns validation accuracy (and records it as val_accuracy): a CI of
    # it must stay in [0, 1]. A hand-made study's objective has no known range.
    is_accuracy = spec is not None or all(_same_number(t.user_attrs.get("val_accuracy"), t.value) for t in complete)
    return StudyTable(
        study_name=study.study_name,
        direction=direction,
        frame=frame,
        trials=tuple(complete),
        state_counts=counts,
        spec=spec,
        grouping=grouping,
        pairing=pairing,
        notes=tuple(notes),
        value_bounds=(0.0, 1.0) if is_accuracy else None,
    )


def _same_number(a: Any, b: Any) -> bool:
    a, b = _finite(a), _finite(b)
    return math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _unique_labels(frame: pd.DataFrame) -> list[str]:
    """Config labels, with a short id appended where two configs would read the same."""
    first = frame.drop_duplicates("group").set_index("group")["label"]
    clash = set(first[first.duplicated(keep=False)])
    return [f"{lab} [{grp.split(':')[-1][:6]}]" if lab in clash else lab
            for lab, grp in zip(frame["label"], frame["group"])]


# -- parameter matching ------------------------------------------------------------------------


def same_value(a: Any, b: Any) -> bool:
    """Parameter values compare equal across types: ``"0.01"`` matches 0.01, ``"true"`` True,
    ``[1, 2]`` matches ``(1, 2)`` and ``"1,2"``."""
    if a == b and type(a) is type(b):
        return True
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        seq_a = list(a) if isinstance(a, (list, tuple)) else str(a).strip("[]()").split(",")
        seq_b = list(b) if isinstance(b, (list, tuple)) else str(b).strip("[]()").split(",")
        return len(seq_a) == len(seq_b) and all(same_value(x, y) for x, y in zip(seq_a, seq_b))
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        return float(a) == float(b)
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip().lower() == str(b).strip().lower()


def parse_assignments(text: str | Mapping[str, Any] | None, *, what: str = "--baseline") -> dict[str, Any]:
    """``"layers=full,lr=0.01"`` -> ``{"layers": "full", "lr": 0.01}`` (the grammar of ``--set``,
    ``studies._assign``; values compared loosely by :func:`same_value`)."""
    from studies._assign import parse_assignments as parse

    if text is None:
        return {}
    if not isinstance(text, Mapping) and not str(text).strip():
        raise AnalysisError(f"empty {what}: expected key=value[,key=value]")
    out = parse(text, what=what, error=AnalysisError)
    if not out:
        raise AnalysisError(f"empty {what}: expected key=value[,key=value]")
    return out


def matching_groups(table: StudyTable, assignment: Mapping[str, Any]) -> list[str]:
    """Config groups whose parameters agree with every key of ``assignment``."""
    groups = table.groups
    keep = np.ones(len(groups), dtype=bool)
    for k, v in assignment.items():
        cache_key = f"values_of:{k}"
        if cache_key not in table._cache:  # built once: the rank-transfer matrix asks once per dataset pair
            index: dict[tuple[type, str], int] = {}  # same type and repr: the same answer from same_value
            codes, distinct = [], []
            for g in groups:
                params = table.trials[table._first_row(g)].params
                if k not in params:
                    codes.append(-1)
                    continue
                key = (type(params[k]), repr(params[k]))
                if key not in index:
                    index[key] = len(distinct)
                    distinct.append(params[k])
                codes.append(index[key])
            table._cache[cache_key] = (np.array(codes, dtype=np.int64), distinct)
        codes, values = table._cache[cache_key]
        agrees = np.array([same_value(value, v) for value in values] + [False], dtype=bool)  # [-1]: absent
        keep &= agrees[codes]
    return [g for g, kept in zip(groups, keep.tolist()) if kept]


def check_keys(table: StudyTable, assignment: Mapping[str, Any], what: str) -> None:
    names = table.param_names()
    unknown = [k for k in assignment if k not in names]
    if unknown:
        raise AnalysisError(
            f"{what} key(s) {valid_list(unknown)} are not parameters of study {table.study_name!r}; "
            f"its parameters: {valid_list(names) or 'none'}"
        )


def format_assignment(assignment: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in assignment.items())


def restrict(table: StudyTable, where: Mapping[str, Any] | None, *, what: str = "--where") -> StudyTable:
    """Only the trials whose parameters match ``where`` (all trials when it is empty)."""
    if not where:
        return table
    check_keys(table, where, what)
    keep = set(matching_groups(table, where))
    if not keep:
        raise AnalysisError(f"{what} {format_assignment(where)} matches no completed config "
                            f"of study {table.study_name!r}")
    mask = table.frame["group"].isin(keep).to_numpy()
    frame = table.frame[mask].reset_index(drop=True)
    trials = tuple(t for t, m in zip(table.trials, mask) if m)
    return replace(table, frame=frame, trials=trials, notes=(*table.notes, f"restricted to {format_assignment(where)}"))


# -- bootstrap resampling plans ------------------------------------------------------------------


def seed_blocks(table: StudyTable, groups: list[str] | None = None) -> list[np.ndarray] | None:
    """Row indices of each group ordered by seed, when every group ran the same seeds exactly
    once (a complete block: layerlab's grid with repeats); None otherwise."""
    groups = table.groups if groups is None else groups
    if table.pairing == "none":
        return None
    pair = table.frame["group"].to_numpy()
    keys = table.frame["pair"].map(repr).to_numpy()
    out, reference = [], None
    for g in groups:
        rows = np.flatnonzero(pair == g)
        order = np.argsort(keys[rows], kind="stable")
        ks = list(keys[rows][order])
        if len(set(ks)) != len(ks) or (reference is not None and ks != reference):
            return None
        reference = ks
        out.append(rows[order])
    return out if reference and len(reference) > 1 else None


def resample_rows(
    table: StudyTable, rng: np.random.Generator, n: int, groups: list[str] | None = None
) -> tuple[list[list[np.ndarray]], str]:
    """``n`` bootstrap replicates of the trial rows of ``groups``: per replicate, one index array per
    group. Seeds are drawn jointly across configs when they form a complete block (so a shared
    lucky seed stays shared, as in the paired tests); otherwise each config's repeats are drawn
    independently."""
    groups = table.groups if groups is None else groups
    blocks = seed_blocks(table, groups)
    if blocks is not None:
        s = len(blocks[0])
        picks = rng.integers(0, s, size=(n, s))
        return ([[b[p] for b in blocks] for p in picks],
                "seeds drawn with replacement, jointly across configs (paired design)")
    pair = table.frame["group"].to_numpy()
    rows = [np.flatnonzero(pair == g) for g in groups]
    return ([[rng.choice(r, size=len(r), replace=True) for r in rows] for _ in range(n)],
            "repeats drawn with replacement within each config")
