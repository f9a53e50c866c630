"""Read a study's results: a tidy DataFrame, a leaderboard over seed repeats, and its status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import TrialState

from objectives.interface import SCALAR_METRICS
from studies._artifacts import SPEC_ATTR, artifact_dir_of
from studies.engine._cells import cell_trials, count_cells, root_number
from studies.engine._race_storage import format_race, race_status
from studies._spec import StudyError, StudySpec, config_label, load_spec
from studies.storage import open_storage, redact

if TYPE_CHECKING:
    import pandas as pd

# Per-trial metric columns: the objectives' one list of scalar metrics (val_accuracy is the value).
METRIC_ATTRS = tuple(k for k in SCALAR_METRICS if k != "val_accuracy")


def load_study(storage_url: str, study_name: str) -> optuna.Study:
    storage = open_storage(storage_url)
    names = [s.study_name for s in storage.get_all_studies()]  # names only: summaries read every trial
    if study_name not in names:
        listed = ", ".join(sorted(names)) or "none"
        raise StudyError(f"no study named {study_name!r} in {redact(storage_url)}; studies there: {listed}")
    return optuna.load_study(study_name=study_name, storage=storage)


def trials_frame(study: optuna.Study, *, states: tuple[TrialState, ...] | None = None) -> pd.DataFrame:
    """One row per trial: ``number``, ``state``, ``value`` (validation accuracy), ``config_id``,
    ``repeat``, ``seed``, ``slot`` (the trial number naming a sampled config; repeats share it),
    ``retry_of`` (first try of a re-run cell, else NaN), ``worker``, ``label``, ``param_<name>``
    per searched parameter, the metrics of ``METRIC_ATTRS`` plus the scalar attributes the study's
    objective lists in ``report_attrs``, and ``fail_reason``."""
    import pandas as pd  # here: `study status` reads no frame and skips pandas' import
    from objectives.interface import objective_report_attrs  # here too: `study status` never imports torch

    spec = spec_of(study)
    metric_attrs = (*METRIC_ATTRS, *(objective_report_attrs(spec.objective) if spec else ()))
    rows = []
    for t in study.get_trials(deepcopy=False, states=states):
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "config_id": t.user_attrs.get("config_id"),
            "repeat": t.user_attrs.get("repeat", 0),
            "seed": t.user_attrs.get("seed"),
            "slot": root_number(t),
            "retry_of": t.system_attrs.get("failed_trial"),
            "worker": t.user_attrs.get("worker"),
            "label": config_label(t.params),
        }
        row.update({f"param_{k}": v for k, v in t.params.items()})
        row.update({k: t.user_attrs.get(k) for k in metric_attrs})
        row["fail_reason"] = t.user_attrs.get("fail_reason")
        rows.append(row)
    return pd.DataFrame(rows)


LEADERBOARD_COLUMNS = ["config_id", "label", "n", "val_mean", "val_std", "val_ci_low", "val_ci_high", "test_mean",
                       "test_std", "params"]


def leaderboard(study: optuna.Study) -> pd.DataFrame:
    """Completed trials grouped by config, best first: the one leaderboard
    (``studies.analysis._leaderboard.leaderboard_table``: mean, std and CI of validation accuracy over repeats,
    test accuracy beside; selection is on validation), cut to the columns ``study launch`` prints.
    ``params`` here is the model's parameter count."""
    import pandas as pd  # here: `study status` reads no frame and skips pandas' import
    from studies.analysis._leaderboard import leaderboard_table  # lazy: the analysis imports this module
    from studies.analysis._collect import AnalysisError

    try:
        board = leaderboard_table(study)
    except AnalysisError:
        board = pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    else:
        board = board.drop(columns=["params"]).rename(columns={"model_params": "params"})[LEADERBOARD_COLUMNS]
    return _with_pruned(board, study).reset_index(drop=True)


def _with_pruned(board: pd.DataFrame, study: optuna.Study) -> pd.DataFrame:
    """Configs pruned as a whole, appended below the ranked ones (``pruned_at_epoch`` set, no
    validation mean) so that none silently drops out (studies.engine._prune)."""
    import pandas as pd  # here: `study status` reads no frame and skips pandas' import
    from studies.engine._prune import pruned_configs

    board = board.assign(pruned_at_epoch=None)
    pruned = pruned_configs(study)
    if not pruned:
        return board
    rows = pd.DataFrame([{"config_id": p["config_id"], "label": config_label(p["params"]), "n": 0, "val_mean": np.nan,
                          "val_std": np.nan, "test_mean": np.nan, "pruned_at_epoch": p["pruned_at_epoch"]}
                         for p in pruned])
    return pd.concat([board, rows], ignore_index=True) if len(board) else rows.reindex(columns=board.columns)


def format_leaderboard(board: pd.DataFrame, *, limit: int | None = 30) -> str:
    import pandas as pd  # here: `study status` reads no frame and skips pandas' import
    if board.empty:
        return "no completed trials yet"
    lines = [f"{'#':>3}  {'val acc (mean ± std)':>21}  {'n':>2}  {'test acc':>8}  {'params':>9}  config"]
    for i, row in board.head(limit).iterrows():
        if not pd.isna(row.get("pruned_at_epoch")):  # a config pruned as a whole: listed, not ranked
            lines.append(f"{'-':>3}  {'pruned at epoch ' + str(int(row.pruned_at_epoch)):>21}  "
                         f"{'':>2}  {'':>8}  {'':>9}  {row.label}")
            continue
        std = "" if np.isnan(row.val_std) else f" ± {row.val_std:.4f}"
        params = "" if row.params is None or pd.isna(row.params) else f"{int(row.params):,}"
        lines.append(f"{i + 1:>3}  {row.val_mean:>12.4f}{std:<9}  {row.n:>2}  {row.test_mean:>8.4f}  "
                     f"{params:>9}  {row.label}")
    if limit is not None and len(board) > limit:
        lines.append(f"... {len(board) - limit} more configs")
    from studies._terminal import fit_lines

    return fit_lines(lines)  # sampled floats in labels at 4 significant digits; long labels wrap at 100 columns


def study_status(study: optuna.Study) -> dict[str, Any]:
    """Counts by state and progress through the study's cells, as plain JSON-able data.

    Keys: ``study``; ``trials`` (all trials, retries included); ``states`` (trial count per Optuna
    state). For layerlab studies also: ``preset``, ``sampler``, ``pruner``, ``repeats``,
    ``configs_total`` (grid configs, or configs to sample), ``cells_total`` (configs x repeats),
    ``cells_done`` (= ``cells_complete`` + ``cells_pruned``), ``cells_failed`` (every try failed; no
    retry pending), ``cells_running``, ``cells_waiting``, ``cells_remaining`` (not finished and not
    failed, including cells not queued yet), ``cells_duplicated`` (cells finished more than once:
    always 0 unless exactly-once broke), ``retries`` (trials re-running a dead or stopped worker's
    cell), ``progress`` (cells_done / cells_total), ``finished`` (nothing waiting, running or
    remaining) and ``artifact_dir``. A race (``study launch --race``) adds ``race`` (its settings,
    ``round``, ``open_configs``, ``decided_configs``, ``trials_spent``, ``trials_at_max_repeats``...;
    see :func:`studies.engine._race_storage.race_status`), and its ``finished`` means the race is over.
    """
    counts = {s.name: 0 for s in TrialState}
    trials = cell_trials(study)  # states and cell attributes only: one cheap read, whatever the size
    for t in trials:
        counts[t.state.name] += 1
    out: dict[str, Any] = {"study": study.study_name, "trials": len(trials), "states": counts}
    try:
        spec = load_spec(study)
    except StudyError:
        return out
    cells = count_cells(study, spec, trials)
    total = cells.total
    out.update({
        "preset": spec.name,
        "sampler": spec.sampler,
        "pruner": spec.pruner,
        "repeats": spec.repeats,
        "configs_total": None if total is None else total // spec.repeats,
        "cells_total": total,
        "cells_done": cells.done,
        "cells_complete": cells.complete,
        "cells_pruned": cells.pruned,
        "cells_failed": cells.failed,
        "cells_running": cells.running,
        "cells_waiting": cells.waiting,
        "cells_remaining": cells.remaining,
        "cells_duplicated": cells.duplicated,
        "retries": cells.retries,
        "progress": (cells.done / total) if total else None,
        "finished": counts["WAITING"] == 0 and counts["RUNNING"] == 0 and cells.remaining == 0,
        "artifact_dir": str(artifact_dir_of(study)) if artifact_dir_of(study) else None,
    })
    out.update(race_status(study, spec))  # a race: its round, open configs, seeds spent (else nothing)
    return out


def format_status(status: dict[str, Any]) -> str:
    """The text ``study status`` prints."""
    states = ", ".join(f"{k.lower()} {v}" for k, v in status["states"].items() if v) or "none yet"
    if not status.get("cells_total"):  # not a layerlab study (or an unbounded one)
        return f"study {status['study']!r}: {status['trials']} trials ({states})"
    # a race plans its cells round by round: its own line says how far it is (not cells_total)
    done = (f"{status['cells_done']} done" if status.get("race") else
            f"{status['cells_done']}/{status['cells_total']} done ({100 * status['progress']:.1f}%)")
    lines = [
        f"study {status['study']!r}: preset {status['preset']}, sampler {status['sampler']}, "
        f"{status['configs_total']} configs x {status['repeats']} repeats = {status['cells_total']} cells",
        f"trials: {status['trials']} ({states})",
        f"cells: {done}: "
        f"{status['cells_complete']} complete, {status['cells_pruned']} pruned, {status['cells_failed']} failed, "
        f"{status['cells_running']} running, {status['cells_waiting']} waiting"
        + (f", {status['retries']} retried" if status["retries"] else ""),
    ]
    lines += format_race(status)
    if status["cells_duplicated"]:
        lines.append(f"warning: {status['cells_duplicated']} cells finished more than once")
    lines.append("finished" if status["finished"] else f"{status['cells_remaining']} cells to go")
    return "\n".join(lines)


def failure_summary(study: optuna.Study) -> str:
    """One line on failed and pruned trials, which the leaderboard (completed trials) leaves out:
    ``not in the leaderboard: 2 trial(s) failed (most often: <reason> x2); 1 trial(s) pruned``
    (empty when there are none). ``study launch`` prints it under the leaderboard."""
    from collections import Counter

    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    parts = []
    if failed:
        reasons = Counter(t.user_attrs.get("fail_reason", "no reason recorded") for t in failed)
        reason, n = reasons.most_common(1)[0]
        parts.append(f"{len(failed)} trial(s) failed (most often: {reason} x{n})")
    if pruned:
        parts.append(f"{len(pruned)} trial(s) pruned")
    return ("not in the leaderboard: " + "; ".join(parts)) if parts else ""


def spec_of(study: optuna.Study) -> StudySpec | None:
    return load_spec(study) if study.user_attrs.get(SPEC_ATTR) else None
