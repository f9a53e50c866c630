"""The transfer race (``study launch --race --race-mode transfer --compare-with OTHER``): add seeds
to two studies only where a pair of configs that matters is still unsettled, until the rank
transfer question is decided.

**The question.** Do the two studies order their shared configs alike? A pair of configs is
*settled* in a study when a Tukey-Kramer simultaneous interval of its contrast excludes 0 (the
config x seed least-squares model of :mod:`studies._transfer_stats`, the same as
``study compare``). A pair is *decided* once it is settled in both studies (it agrees or it
disagrees), or *undecidable* once even ``max_repeats`` seeds would settle it in both with
probability below ``futility`` at the current contrasts (a near-tie: the noncentral t power of
:func:`studies._transfer_stats.settle_probability`). The race is decided when no pair
is open. Its answer is the settled-pair concordance ("of the 20 pairs it settled in both (of
190), 20 agree; concordance >= 0.86") and the pairs left as near-ties.

**Rounds.** Both studies start with ``min_repeats`` seeds per shared config (a study that ran
them already, e.g. with fixed repeats, starts from its trials). After each round (a *look*) the
race fits each study's model to every seed so far and settles pairs; then every config that is
part of an open pair unsettled in a study gets one more seed *in that study*. Repeat ``r`` of a
config trains with seed ``seed + r``, as everywhere in layerlab, so the studies stay paired by
seed within themselves.

**Error control.** A pair once settled stays settled (its sign is the race's verdict). Looks
spend alpha by the power family ``alpha t^3`` (Kim & DeMets 1987; :data:`TRANSFER_SPENDING_RHO`:
its own exponent, not the ablation race's 10: these looks are Bonferroni increments, so any
exponent keeps the error bound, and at 10 the first looks get almost no alpha, so that pairs 10
SDs apart stayed unsettled at 3 seeds and cost a seed per config),
half to each study: at the look with n seeds each study's Tukey-Kramer intervals are at level
``1 - level(n) / 2``. By Bonferroni over looks and studies, the chance that any
verdict of the race has a sign that is wrong in either study is at most ``alpha`` (under the
model: normal errors, one SD per study). Futility is non-binding (it only stops chances to
settle).

**Who runs what.** The launch process drives the race: it queues each round's cells in both
studies (under each study's lock, each cell once), runs a worker on the launched study and then
on the other until nothing is waiting, looks, and so on. The state is a pure function of the
trials (:func:`replay_transfer`), so a killed launch resumes where it stopped when relaunched with
the same options; ``study worker`` on other machines can take queued cells of either study, but
only the launch looks and queues the next round. The other study must exist in the same storage
(a layerlab grid study, e.g. the full dataset launched with fixed repeats); its trials beyond its
own ``repeats`` are the race's extra seeds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from studies._artifacts import SPEC_ATTR
from studies.engine._cells import cell_key, repeat_of, trial_params
from studies.engine._race import DONE, PENDING, RaceError, RaceSettings
from studies._spec import StudySpec

TRANSFER_ATTR = "layerlab_transfer_race"  # on the launched study: {"settings": ..., "compare_with": name}
MIN_SHARED = 3  # as `study compare`: fewer shared configs hold no ranking to transfer


@dataclass
class TransferState:
    """Where a transfer race stands, recomputed from both studies' cells by :func:`replay_transfer`."""

    settings: RaceSettings
    n: int  # seeds of the current round
    round: int  # 0-based
    finished: bool
    signs_a: np.ndarray  # per pair i < j: the race's settled sign in A (0: unsettled)
    signs_b: np.ndarray
    futile: np.ndarray  # per pair: stopped as a near-tie
    repeats_a: dict[int, int]  # seeds asked of each shared config so far
    repeats_b: dict[int, int]
    to_queue_a: list[tuple[int, int]] = field(default_factory=list)  # (config index, repeat) cells missing
    to_queue_b: list[tuple[int, int]] = field(default_factory=list)
    looks: list[dict[str, Any]] = field(default_factory=list)  # per look: pairs settled in both, open, futile

    @property
    def open(self) -> np.ndarray:
        return ~(((self.signs_a != 0) & (self.signs_b != 0)) | self.futile)

    @property
    def trials(self) -> int:
        return sum(self.repeats_a.values()) + sum(self.repeats_b.values())

    @property
    def trials_fixed(self) -> int:
        """What both studies at max_repeats would cost (their shared configs)."""
        return 2 * len(self.repeats_a) * self.settings.max_repeats

    def answer(self) -> dict[str, Any]:
        """The race's verdict: concordance of the pairs it settled in both, near-ties, cost."""
        from studies._transfer_stats import concordance

        both = concordance(self.signs_a, self.signs_b, 1 - self.settings.alpha)
        return {
            "finished": self.finished, "round": self.round, "seeds": self.n, "pairs": len(self.signs_a),
            "settled_both": both["settled"], "agree": both["agree"], "disagree": both["disagree"],
            "concordance_low": both["low"], "near_ties": int(self.futile.sum()), "open": int(self.open.sum()),
            "trials": self.trials, "trials_at_max_repeats": self.trials_fixed,
            "saved_fraction": 1 - self.trials / self.trials_fixed if self.trials_fixed else 0.0,
            "looks": self.looks,
        }


TRANSFER_SPENDING_RHO = 3


def _level(n: int, settings: RaceSettings) -> float:
    """The alpha the transfer race spends at the look with ``n`` seeds: ``alpha * t**rho`` at
    ``t = n / max_repeats``, less what the looks before spent."""
    def spent(m: int) -> float:
        return settings.alpha * (m / settings.max_repeats) ** TRANSFER_SPENDING_RHO

    return spent(n) - (spent(n - 1) if n > settings.min_repeats else 0.0)


def replay_transfer(
    k: int,
    cells_a: Mapping[tuple[int, int], tuple[str, float | None]],
    cells_b: Mapping[tuple[int, int], tuple[str, float | None]],
    settings: RaceSettings,
) -> TransferState:
    """Recompute the race from its cells: ``cells_x[(config, repeat)] = (DONE, value or None)`` or
    ``(PENDING, None)`` for the k shared configs (indices 0..k-1, the same config in both);
    a missing key is a cell not queued yet. Looks happen in order while their cells are all done;
    the state stops at the first round still running or not queued (``to_queue_*``)."""
    from studies._transfer_stats import fit_noise, pair_index, settle_probability, settled_signs

    m = k * (k - 1) // 2
    i, j = pair_index(k)
    signs = {"a": np.zeros(m, dtype=int), "b": np.zeros(m, dtype=int)}
    futile = np.zeros(m, dtype=bool)
    repeats = {"a": dict.fromkeys(range(k), settings.min_repeats), "b": dict.fromkeys(range(k), settings.min_repeats)}
    cells = {"a": cells_a, "b": cells_b}
    looks: list[dict[str, Any]] = []
    n = settings.min_repeats
    while True:
        needed = {x: [(c, r) for c in range(k) for r in range(repeats[x][c])] for x in cells}
        missing = {x: [cell for cell in needed[x] if cell not in cells[x]] for x in cells}
        round_ = n - settings.min_repeats
        if any(missing.values()) or any(cells[x][cell][0] != DONE for x in cells for cell in needed[x]):
            return TransferState(settings, n, round_, False, signs["a"], signs["b"], futile, repeats["a"], repeats["b"],
                                 missing["a"], missing["b"], looks)
        level = 1 - _level(n, settings) / 2  # half of this look's alpha to each study
        noises = {}
        for x in cells:
            values, blocks = [], []
            for c in range(k):
                done = [(r, cells[x][(c, r)][1]) for r in range(repeats[x][c]) if cells[x][(c, r)][1] is not None]
                values.append(np.array([v for _, v in done], dtype=float))
                blocks.append([r for r, _ in done])
            noise = fit_noise(values, blocks) if all(len(v) for v in values) else None
            noises[x] = noise
            if noise is not None:
                new = settled_signs(noise, level)
                signs[x] = np.where(signs[x] != 0, signs[x], new)  # a verdict stands once given
        open_ = ~(((signs["a"] != 0) & (signs["b"] != 0)) | futile)
        if settings.futility > 0 and n < settings.max_repeats and all(noises.values()):
            final = 1 - _level(settings.max_repeats, settings) / 2
            chance = np.ones(m)
            for x, noise in noises.items():
                unsettled = signs[x] == 0
                contrast = noise.effects[i] - noise.effects[j]
                at_max = settle_probability(contrast, noise, settings.max_repeats, final)
                chance = np.where(unsettled, chance * at_max, chance)
            futile |= open_ & (chance < settings.futility)
            open_ &= ~futile
        looks.append({"round": round_, "seeds": n, "settled_both": int(((signs["a"] != 0) & (signs["b"] != 0)).sum()),
                      "open": int(open_.sum()), "near_ties": int(futile.sum())})
        if not open_.any() or n == settings.max_repeats:
            return TransferState(settings, n, round_, True, signs["a"], signs["b"], futile, repeats["a"], repeats["b"],
                                 [], [], looks)
        n += 1
        for x in cells:
            need = open_ & (signs[x] == 0)
            for c in set(i[need].tolist()) | set(j[need].tolist()):
                repeats[x][c] = n


# -- on storage -----------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    """Parameter values compared loosely, as `study compare` matches configs (0.01 == "0.01")."""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value).strip().lower()


def matched_configs(spec_a: StudySpec, spec_b: StudySpec, name_a: str, name_b: str) -> list[tuple[dict, dict, str]]:
    """(params in A, params in B, label) of the grid configs both studies share, matched on the
    parameters both search (as ``study compare`` matches them); fewer than 3 is refused."""
    points_a = [p for p, _c, r in spec_a.grid_cells() if r == 0]
    points_b = [p for p, _c, r in spec_b.grid_cells() if r == 0]
    names = [n for n in dict.fromkeys(k for p in points_a for k in p) if any(n in p for p in points_b)]
    by_b: dict[tuple, dict] = {}
    for p in points_b:
        by_b.setdefault(tuple((n, _norm(p[n])) for n in names if n in p), p)
    out, seen = [], set()
    for p in points_a:
        key = tuple((n, _norm(p[n])) for n in names if n in p)
        if key in by_b and key not in seen:
            seen.add(key)
            out.append((p, by_b[key], ", ".join(f"{n}={p[n]}" for n in names if n in p)))
    if len(out) < MIN_SHARED:
        found = {0: "no shared configs", 1: "only one shared config"}.get(len(out), f"only {len(out)} shared configs")
        raise RaceError(f"studies {name_a!r} and {name_b!r} have {found} (matched on {', '.join(names) or 'nothing'}); "
                        f"a transfer race needs {MIN_SHARED} or more")
    return out


def _cells(study: optuna.Study, keys: list[str]) -> dict[tuple[int, int], tuple[str, float | None]]:
    index = {key: c for c, key in enumerate(keys)}
    groups: dict[tuple[int, int], list[optuna.trial.FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        c = index.get(json.dumps(trial_params(t), sort_keys=True, default=str))
        if c is not None:
            groups.setdefault((c, repeat_of(t)), []).append(t)
    cells: dict[tuple[int, int], tuple[str, float | None]] = {}
    for cell, trials in groups.items():
        states = {t.state for t in trials}
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if complete:
            cells[cell] = (DONE, float(complete[0].value))
        elif states & {TrialState.WAITING, TrialState.RUNNING}:
            cells[cell] = (PENDING, None)
        else:
            cells[cell] = (DONE, None)  # pruned, or every try failed: the race goes on without this seed
    return cells


def transfer_state(study_a: optuna.Study, study_b: optuna.Study, settings: RaceSettings) -> tuple[TransferState, list]:
    """The race's state from both studies' trials, and the matched configs."""
    spec_a = StudySpec.from_dict(study_a.user_attrs[SPEC_ATTR]["spec"])
    spec_b = StudySpec.from_dict(study_b.user_attrs[SPEC_ATTR]["spec"])
    matched = matched_configs(spec_a, spec_b, study_a.study_name, study_b.study_name)
    keys_a = [json.dumps(a, sort_keys=True, default=str) for a, _b, _label in matched]
    keys_b = [json.dumps(b, sort_keys=True, default=str) for _a, b, _label in matched]
    state = replay_transfer(len(matched), _cells(study_a, keys_a), _cells(study_b, keys_b), settings)
    return state, matched


def _queue(study: optuna.Study, params: Sequence[dict], cells: Sequence[tuple[int, int]]) -> int:
    present = {cell_key(trial_params(t), repeat_of(t)) for t in study.get_trials(deepcopy=False)}
    queued = 0
    for c, repeat in cells:
        if cell_key(params[c], repeat) not in present:
            study.enqueue_trial(params[c], user_attrs={"repeat": repeat})
            queued += 1
    return queued


def check_transfer(settings: RaceSettings, spec: StudySpec, study_name: str, compare_with: str | None) -> None:
    """What can be refused before the storage is opened."""
    if not compare_with:
        raise RaceError("--race-mode transfer needs --compare-with STUDY (the study to compare with, same storage)")
    if compare_with == study_name:
        raise RaceError(f"--compare-with {compare_with!r} names the launched study itself; name the other study")
    if settings.margin is not None:
        raise RaceError("--margin applies to an ablation race (equivalence with the baseline), not to a transfer race")
    if spec.sampler != "grid":
        raise RaceError(f"--race-mode transfer needs a grid study, not sampler {spec.sampler!r}")


def launch_transfer(spec: StudySpec, *, storage: str, study_name: str | None, compare_with: str | None,
                    race: RaceSettings, device: str = "auto", data_dir: str | Path | None = None,
                    checkpoint_dir: str | Path | None = None, artifact_dir: str | Path | None = None, options=None,
                    retry_failed: bool = False,
                    max_cells: int | None = None, batch_repeats: str = "off", progress: bool = True,
                    create: Callable[..., optuna.Study], worker: Callable[..., Any]) -> optuna.Study:
    """Create or resume study ``study_name`` (``spec`` with ``min_repeats`` repeats) and race it
    against ``compare_with`` until the transfer question is decided (module docstring). Bad
    input -- a missing or non-grid other study, fewer than 3 shared configs, other race options
    than the stored ones -- is refused before anything is written. ``create``: the launch's
    ``create_or_resume``; ``worker``: :func:`studies.engine._worker.work` (passed in by the launch, which
    imports this module: the race itself stays below the launch and the worker)."""
    from studies.storage import backend_of, open_storage

    study_name = study_name or spec.name
    check_transfer(race, spec, study_name, compare_with)
    spec = spec.replace(repeats=race.min_repeats)  # the race adds the rest; a fixed-repeats study resumes as is
    backend = open_storage(storage, options=options)  # the other study must exist: no storage is created
    names = {s.study_name for s in backend.get_all_studies()}
    if compare_with not in names:
        raise RaceError(f"no study named {compare_with!r} in this storage to compare with; launch it first "
                        f"(its studies: {', '.join(sorted(names)) or 'none'})")
    other = optuna.load_study(study_name=compare_with, storage=backend)
    if not other.user_attrs.get(SPEC_ATTR):
        raise RaceError(f"study {compare_with!r} was not made by layerlab; a transfer race queues its cells")
    spec_b = StudySpec.from_dict(other.user_attrs[SPEC_ATTR]["spec"])
    if spec_b.sampler != "grid":
        raise RaceError(f"study {compare_with!r} samples its configs ({spec_b.sampler}); a transfer race needs two "
                        "grid studies")
    matched_configs(spec, spec_b, study_name, compare_with)
    record = {"settings": race.to_dict(), "compare_with": compare_with}
    if study_name in names:
        stored = optuna.load_study(study_name=study_name, storage=backend).user_attrs.get(TRANSFER_ATTR)
        if stored is not None and stored != record:
            raise RaceError(f"study {study_name!r} is a transfer race with {stored}; refusing to change it to {record} "
                            "(relaunch with the same options)")
    study = create(spec, storage, study_name, options=options, artifact_dir=artifact_dir, retry_failed=retry_failed,
                   data_dir=data_dir, checkpoint_dir=checkpoint_dir, max_cells=max_cells, progress=progress)
    with backend_of(study).study_lock(study_name, storage):
        study.set_user_attr(TRANSFER_ATTR, record)
    run_transfer(study, other, race, storage, device=device, data_dir=data_dir, checkpoint_dir=checkpoint_dir,
                 artifact_dir=artifact_dir, options=options, batch_repeats=batch_repeats, quiet=not progress,
                 worker=worker)
    return optuna.load_study(study_name=study_name, storage=open_storage(storage, options=options))


def run_transfer(study_a: optuna.Study, study_b: optuna.Study, race: RaceSettings, storage: str, *, worker,
                 quiet: bool = False, **worker_options: Any) -> TransferState:
    """Look, queue the round's cells in both studies, run ``worker`` (the signature of
    :func:`studies.engine._worker.work`) on each until nothing waits; until the race is decided."""
    from studies.storage import backend_of

    last = None
    while True:
        state, matched = transfer_state(study_a, study_b, race)
        queued = 0
        for study, cells, side in ((study_a, state.to_queue_a, 0), (study_b, state.to_queue_b, 1)):
            if cells:
                with backend_of(study).study_lock(study.study_name, storage):
                    queued += _queue(study, [m[side] for m in matched], cells)
        if not quiet and state.looks and state.looks[-1] != last:
            look = state.looks[-1]
            last = look
            sys.stderr.write(f"transfer race, look {look['round'] + 1} ({look['seeds']} seeds): {look['settled_both']} "
                             f"of {len(state.signs_a)} pairs settled in both, {look['near_ties']} near-ties, "
                             f"{look['open']} open\n")
        if state.finished:
            return state
        ran = 0
        # the other study's worker keeps that study's own checkpoint and artifact folders (recorded on it):
        # trial numbers restart in each study, so sharing a checkpoint folder could mix two studies' cells
        other_options = {**worker_options, "checkpoint_dir": None, "artifact_dir": None}
        for study, options in ((study_a, worker_options), (study_b, other_options)):
            if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                ran += len(worker(storage, study.study_name, **options).trials)
        busy = (TrialState.WAITING, TrialState.RUNNING)
        if not ran and not queued and not any(s.get_trials(deepcopy=False, states=busy) for s in (study_a, study_b)):
            raise RaceError("the transfer race cannot go on: its round's cells are neither done nor waiting "
                            "(relaunch with --retry-failed to run failed cells again)")


def transfer_race_of(study: optuna.Study) -> dict[str, Any] | None:
    """The stored transfer race of ``study`` (``{"settings", "compare_with"}``), or None."""
    stored = study.user_attrs.get(TRANSFER_ATTR)
    return dict(stored) if stored else None


def race_answer(study_a: optuna.Study, study_b: optuna.Study) -> dict[str, Any] | None:
    """The transfer race's answer (:meth:`TransferState.answer`) when ``study_a`` raced
    ``study_b``; None otherwise."""
    stored = transfer_race_of(study_a)
    if stored is None or stored["compare_with"] != study_b.study_name:
        return None
    settings = RaceSettings.from_dict(stored["settings"])
    state, _ = transfer_state(study_a, study_b, settings)
    return {"settings": settings.to_dict(), **state.answer()}


def answer_lines(answer: Mapping[str, Any], name_a: str, name_b: str) -> list[str]:
    """The transfer race's answer in a few lines."""
    s = answer["settings"]
    where = "decided" if answer["finished"] and not answer["open"] else (
        f"stopped at max_repeats={s['max_repeats']} with {answer['open']} pairs open" if answer["finished"]
        else f"running, round {answer['round']}")
    bound = "" if answer["concordance_low"] is None else f"; concordance >= {answer['concordance_low']:.2f}"
    return [
        f"transfer race {name_a!r} vs {name_b!r} ({s['min_repeats']}..{s['max_repeats']} seeds, alpha {s['alpha']}): "
        f"{where}",
        f"  of the {answer['settled_both']} pairs it settled in both (of {answer['pairs']}), {answer['agree']} "
        f"agree{bound}; {answer['near_ties']} near-ties (not settled by {s['max_repeats']} seeds at their contrasts)",
        f"  {answer['trials']} trials of the shared configs against {answer['trials_at_max_repeats']} with both at "
        f"{s['max_repeats']} seeds ({100 * answer['saved_fraction']:.0f}% saved)",
    ]

