"""The report's race section: how a raced study (``study launch --race``) spent its seeds."""

from __future__ import annotations

import json
from typing import Any

import optuna
import pandas as pd

from studies.engine._race import RACE_ATTR


def race_summary(study: optuna.Study) -> dict[str, Any] | None:
    """Per config: seeds run, the round it was decided at, its verdict and why; and the seeds
    saved against every config at max_repeats. None for a study that is not a race."""
    if RACE_ATTR not in study.user_attrs:
        return None
    from studies.engine._race_storage import race_state

    state = race_state(study)
    rows = []
    for config, repeats in state.repeats.items():
        decision = state.decisions.get(config)
        label = ", ".join(f"{k}={v}" for k, v in json.loads(config).items()) or "(fixed)"
        rows.append({
            "config": label,
            "repeats": repeats,
            "decided_round": None if decision is None else decision.round,
            "verdict": "open" if decision is None else decision.verdict,
            "why": "" if decision is None else decision.reason,
            "delta": None if decision is None else decision.delta,
        })
    return {
        "settings": state.settings.to_dict(), "mode": state.mode, "finished": state.finished, "round": state.round,
        "trials": state.trials, "trials_at_max_repeats": state.trials_fixed, "saved_fraction": state.saved,
        "configs": rows,
    }


def race_section(study: optuna.Study):
    """(JSON data, report Section) for a raced study, or None."""
    from studies.analysis._sections import Section

    summary = race_summary(study)
    if summary is None:
        return None
    s = summary["settings"]
    text = [
        f"This study was a race ({summary['mode']} mode): every config ran {s['min_repeats']} seeds, "
        "then after each round only configs whose question was still open got one more seed, "
        f"up to {s['max_repeats']}. Verdicts are paired t-tests by seed with alpha spending over the looks "
        "(Kim-DeMets power family, rho 3), Holm across configs and non-binding futility "
        f"(family-wise error <= {s['alpha']}; see docs/racing.md).",
        f"{'Finished' if summary['finished'] else 'Still running, at round ' + str(summary['round'])}: "
        f"{summary['trials']} trials against {summary['trials_at_max_repeats']} "
        f"with every config at {s['max_repeats']} seeds "
        f"({100 * summary['saved_fraction']:.0f}% saved).",
    ]
    return summary, Section("Race", text, [pd.DataFrame(summary["configs"])])
