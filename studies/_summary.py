"""What a finished launch prints: which study, what protocol, the leaderboard, what failed, and
the commands that read the study next, ready to paste (a password in a storage URL is hidden).

This was ``cli.py``'s own code; it is an API function so that the command line only parses and
prints, and so that a script that launches gets the same summary.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from studies._listing import repeats_text
from studies._results import failure_summary, format_leaderboard, format_status, leaderboard, load_study, study_status
from studies._terminal import fit_lines
from studies.storage import redact

if TYPE_CHECKING:
    import optuna

    from studies._spec import Overrides, StudySpec
    from studies.engine._race import RaceSettings


@dataclass(frozen=True)
class LaunchSummary:
    """``text`` goes to stdout, then ``error`` (one line, None when every cell completed) to stderr,
    then ``next_steps`` to stdout; a command line exits 3 when ``error`` is set."""

    text: str
    error: str | None
    next_steps: str


def _command_line(storage: str, study_name: str) -> tuple[str, str]:
    """The program (``python cli.py`` when run from the checkout, else ``layerlab``) and the
    ``--storage ... --study-name ...`` that the next commands take, shell-quoted, password hidden."""
    prog = "python cli.py" if os.path.basename(sys.argv[0]) == "cli.py" else "layerlab"
    return prog, f"--storage {shlex.quote(redact(storage))} --study-name {shlex.quote(study_name)}"


def next_steps(storage: str, study_name: str, *, queue_only: bool = False) -> str:
    """The commands that read this study next (``study worker`` and ``study status`` first for a
    study only queued)."""
    prog, where = _command_line(storage, study_name)
    lines = ["next steps:"]
    if queue_only:
        lines.append(f"  {prog} study worker {where}      # on each machine or GPU that should train")
        lines.append(f"  {prog} study status {where}")
    lines.append(f"  {prog} study report {where}      # HTML report: verdicts, leaderboard, ablation, importance")
    lines.append(f"  {prog} study dashboard --storage {shlex.quote(redact(storage))}"
                 "      # optuna-dashboard with the artifacts")
    if redact(storage) != storage:
        lines.append("  (the storage URL's password is hidden: put it back in, or use a ~/.pgpass file)")
    return "\n".join(lines)


def format_launch(
    study: optuna.Study,
    spec: StudySpec,
    *,
    storage: str,
    overrides: Overrides | None = None,
    race: RaceSettings | None = None,
    queue_only: bool = False,
    compare_with: str | None = None,
) -> LaunchSummary:
    """What ``study launch`` prints after :func:`studies.launch` returned ``study``: its status and
    next steps when only queued; a transfer race's answer against ``compare_with``; else the header
    (the preset and the overrides that changed its protocol), the leaderboard, the failed and
    pruned trials, and the commands that read the study next."""
    if race is not None and race.mode == "transfer" or compare_with is not None:
        return _transfer_summary(study, storage, compare_with)
    if queue_only:
        return LaunchSummary(format_status(study_status(study)), None,
                             next_steps(storage, study.study_name, queue_only=True))
    cells = spec.total_cells()
    changed = overrides.describe() if overrides is not None else ""
    where = f"study {study.study_name!r} in {redact(storage)}"
    if changed:  # the preset's description no longer tells the whole protocol
        lines = [fit_lines([f"{where}: preset {spec.name} with {changed}",
                            f"  (the preset: {spec.description or spec.name})"])]
    else:
        lines = [fit_lines([f"{where}: {spec.description or spec.name}"])]
    if race:
        lines.append(f"{cells // spec.repeats} configs raced over {race.min_repeats}..{race.max_repeats} seeds "
                     "(see study status / report)")
    else:
        lines.append(f"{cells // spec.repeats if cells else '?'} configs x {repeats_text(spec)} ({spec.sampler})")
    lines.append(format_leaderboard(leaderboard(study)))
    failures = failure_summary(study)
    if failures:
        lines.append(failures)
    failed = study_status(study)["cells_failed"]
    error = None
    if failed:
        error = (f"{failed} of {cells or '?'} cells ended FAIL ({failures.removeprefix('not in the leaderboard: ')}); "
                 "`study launch --retry-failed` with the same options runs them again")
    return LaunchSummary("\n".join(lines), error, next_steps(storage, study.study_name))


def _transfer_summary(study: optuna.Study, storage: str, compare_with: str | None) -> LaunchSummary:
    """A finished transfer race: its answer, and the report that reads it next."""
    from studies.engine._race_transfer import answer_lines, race_answer

    other = load_study(storage, compare_with)
    text = "\n".join(answer_lines(race_answer(study, other), study.study_name, other.study_name))
    prog, where = _command_line(storage, study.study_name)
    steps = f"next steps:\n  {prog} study report {where} --compare-with {shlex.quote(other.study_name)}"
    return LaunchSummary(text, None, steps)
