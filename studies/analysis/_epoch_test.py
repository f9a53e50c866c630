"""Per-epoch test accuracy, for studies that trained with ``eval_test_every_epoch``.

Seed 001 plots test error per epoch and seed 004 reports "the highest test accuracy" over the
epochs of a run. Both are measurements of the paper, not selection rules: picking the best
epoch by its test accuracy optimises on the test set. So this section only *shows* them, beside
the leaderboard's validation-selected numbers, and says so in its title and its column names. It
never feeds a ranking, a verdict or an ablation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from studies.analysis._collect import StudyTable

NOT_SELECTION = "not a selection metric"


def _test_history(trial: Any) -> list[float]:
    history = trial.user_attrs.get("history")
    if not isinstance(history, list):
        return []
    return [float(h["test_accuracy"]) for h in history if isinstance(h, dict) and h.get("test_accuracy") is not None]


def best_test_over_epochs(table: StudyTable, board: pd.DataFrame) -> pd.DataFrame:
    """Per config (leaderboard order): the highest test accuracy any epoch reached, mean over the
    repeats that recorded it, and the epoch's mean index; empty when no trial recorded test
    accuracy per epoch. Columns say the number is not a selection metric."""
    rows = []
    for group, label in zip(board["group"], board["label"]):
        index = np.flatnonzero(table.frame["group"].to_numpy() == group)
        runs = [h for h in (_test_history(table.trials[i]) for i in index) if h]
        if not runs:
            continue
        best = [max(h) for h in runs]
        rows.append({
            "config": label,
            f"best test accuracy over epochs ({NOT_SELECTION})": float(np.mean(best)),
            "at epoch (mean)": float(np.mean([int(np.argmax(h)) + 1 for h in runs])),
            "final-epoch test accuracy": float(np.mean([h[-1] for h in runs])),
            "runs": len(runs),
        })
    return pd.DataFrame(rows)


def per_epoch_test_section(table: StudyTable, board: pd.DataFrame, figs: Any, section: type) -> Any | None:
    """The report section (a ``section`` instance) with the test-accuracy curves and the table
    above, or None when the study did not evaluate test per epoch."""
    best = best_test_over_epochs(table, board)
    if best.empty:
        return None
    fig, _ = figs.learning_curves_figure(table, board, metric="test_accuracy")
    paras = [
        "Test accuracy after every epoch (eval_test_every_epoch), as seed 001 plots and seed 004 tabulates it. "
        "This is reporting only: the objective, early stopping, the restored weights and every ranking above use "
        "validation accuracy. 'Best test accuracy over epochs' picks an epoch by its test score, "
        f"so it is {NOT_SELECTION} and is optimistic; compare it with the papers' 'highest test accuracy', "
        "not between configs to choose one.",
    ]
    return section(f"Test accuracy per epoch ({NOT_SELECTION})", paras, [best], [fig] if fig is not None else [])
