"""What optuna-dashboard (and ``optuna`` CLI) users read on a layerlab study, besides its trials.

- **The objective's name** (Optuna's ``study.set_metric_names``): the dashboard labels the value
  ``val_accuracy``, not "Objective 0".
- **The spec as separate user attributes** (``spec.sampler``, ``spec.repeats``, ``space.lr``, ...),
  one readable line each, beside the JSON the code reads back (user attribute ``layerlab``, which
  stays the one source of truth: these are written from it and never read).
- **The best config by its mean over seeds** (user attribute ``best_config``): the dashboard's "best
  trial" is the luckiest single seed; this names the config whose repeats score best on average,
  as the leaderboard ranks them. Refreshed when a worker stops (``run_worker``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from studies.engine._prune import config_key
from studies._spec import StudySpec, config_label

METRIC_NAME = "val_accuracy"  # the value every built-in objective returns: validation accuracy
BEST_ATTR = "best_config"
SPEC_PREFIX = "spec."
SPACE_PREFIX = "space."


def spec_attributes(spec: StudySpec) -> dict[str, Any]:
    """The spec as ``{attribute: readable value}``: its settings, its fixed values in one line, and
    one line per searched dimension (``space.lr``: ``float 0.0001..0.1, log``)."""
    attrs: dict[str, Any] = {
        "spec.preset": spec.name, "spec.description": spec.description, "spec.paper": spec.paper,
        "spec.objective": spec.objective, "spec.sampler": spec.sampler, "spec.n_trials": spec.n_trials,
        "spec.repeats": spec.repeats, "spec.pruner": spec.pruner, "spec.seed": spec.seed,
        "spec.baseline": ", ".join(f"{k}={v}" for k, v in (spec.baseline or {}).items()) or None,
        "spec.vary": ", ".join(spec.vary) or None,
    }
    fixed = [d for d in spec.space if not d.is_param]
    attrs["spec.fixed"] = ", ".join(f"{d.config_key}={_text(d.to_dict().get('value'))}" for d in fixed) or None
    for dim in spec.space:
        if dim.is_param:
            attrs[SPACE_PREFIX + dim.name] = _dimension_text(dim.to_dict())
    return {k: v for k, v in attrs.items() if v not in (None, "")}


def _dimension_text(data: Mapping[str, Any]) -> str:
    """``categorical: full | no-Conv`` / ``float 0.0001..0.1, log`` / ``ordering of Conv, BN, PL``."""
    kind = data.get("type", "?")
    if "choices" in data:
        choices = data["choices"]
        text = f"{kind}: " + " | ".join(map(_text, choices.keys() if isinstance(choices, Mapping) else choices))
    elif "options" in data:
        text = f"{kind}: " + " | ".join(map(str, data["options"]))
    elif "low" in data and "high" in data:
        text = f"{kind} {_text(data['low'])}..{_text(data['high'])}" + (", log" if data.get("log") else "")
    elif "tokens" in data:
        text = f"{kind} of {', '.join(map(str, data['tokens']))}"
    else:
        text = json.dumps({k: v for k, v in data.items() if k not in ("type", "when")}, default=str)
        text = f"{kind} {text}"
    when = data.get("when")
    if when:
        text += f" (when {_text(when)})"
    return text


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} in {_text(v)}" if isinstance(v, list) else f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "/".join(map(_text, value))
    return str(value)


def describe_study(study: optuna.Study, spec: StudySpec) -> None:
    """Name the objective and write the spec's readable attributes on ``study`` (only those that
    changed: a resumed study costs no write)."""
    if study.metric_names != [METRIC_NAME]:
        with warnings.catch_warnings():  # Optuna calls it experimental (since 3.2); the dashboard reads it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([METRIC_NAME])
    current = study.user_attrs
    for key, value in spec_attributes(spec).items():
        if current.get(key) != value:
            study.set_user_attr(key, value)


def best_config(study: optuna.Study) -> dict[str, Any] | None:
    """The config whose completed repeats have the highest mean value (ties: more repeats, then the
    earlier config): ``label``, ``config_id``, ``mean``, ``n``, ``trials``; None before any completes."""
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.value is not None and np.isfinite(trial.value):
            groups.setdefault(config_key(trial), []).append(trial)
    if not groups:
        return None
    order = list(groups)
    best = max(order, key=lambda k: (float(np.mean([t.value for t in groups[k]])), len(groups[k]), -order.index(k)))
    trials = groups[best]

    return {
        "label": config_label(dict(trials[0].params)),
        "config_id": trials[0].user_attrs.get("config_id"),
        "mean": float(np.mean([t.value for t in trials])),
        "n": len(trials),
        "trials": sorted(t.number for t in trials),
    }


def mark_best_config(study: optuna.Study) -> dict[str, Any] | None:
    """Write :func:`best_config` on ``study`` as one readable line (user attribute ``best_config``:
    ``layers=no-DropL: mean val_accuracy 0.9753 over 3 seeds (trials 12, 13, 14)``), when it changed."""
    best = best_config(study)
    if best is None:
        return None
    from studies._terminal import round_floats

    trials = ", ".join(map(str, best["trials"][:10])) + (", ..." if len(best["trials"]) > 10 else "")
    text = round_floats(f"{best['label']}: mean {METRIC_NAME} {best['mean']:.4f} over {best['n']} "
                        f"seed{'s' if best['n'] != 1 else ''} (trials {trials})")
    if study.user_attrs.get(BEST_ATTR) != text:
        study.set_user_attr(BEST_ATTR, text)
    return best
