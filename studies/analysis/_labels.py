"""Short config IDs for configs whose labels do not fit a table cell or an axis.

A sampled config's label names every parameter with a sampled float
(``optimizer=adamw, init=default, lr=0.00617, weight_decay=1.74e-06, dropout=0.333``): as a tick
label it wraps onto three lines and collides with its neighbours, as a table cell it makes the
table wider than the page. When any label is longer than :data:`LONG_LABEL` characters (after
rounding), every config gets an ID by its leaderboard rank (``c01`` is the best), figures and
tables show the ID (the label on hover), and a legend table maps IDs to labels. Short labels (a
grid's ``layers=no-Conv``) read better than any ID and are kept.
"""

from __future__ import annotations

import pandas as pd

from studies.analysis._format import round_floats

LONG_LABEL = 32  # characters of a rounded label beyond which configs get short IDs


def config_ids(board: pd.DataFrame, *, always: bool = False) -> dict[str, str]:
    """label -> ID (``c01`` = rank 1, zero-padded to the number of configs), or {} when every
    label is short enough to show as is (unless ``always``)."""
    labels = [str(label) for label in board["label"]]
    if not labels or (not always and all(len(round_floats(label)) <= LONG_LABEL for label in labels)):
        return {}
    width = max(2, len(str(len(labels))))
    return {label: f"c{int(rank):0{width}d}" for label, rank in zip(labels, board["rank"])}


def legend_table(board: pd.DataFrame, ids: dict[str, str]) -> pd.DataFrame:
    """ID -> the config's parameters, in leaderboard order."""
    return pd.DataFrame({"id": [ids[str(label)] for label in board["label"]], "label": list(board["label"])})


def shown(label: str, ids: dict[str, str]) -> str:
    """What a figure or a sentence shows for ``label``: its ID when IDs are in use, else the
    label with its floats rounded."""
    return ids.get(str(label)) or round_floats(str(label))
