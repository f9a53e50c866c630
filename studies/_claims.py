"""Finding the next WAITING trial without reading every waiting trial.

``study.get_trials(states=(WAITING,))`` builds a FrozenTrial (parameters, attributes,
distributions) of every waiting trial, so a claim cost O(waiting) and a study O(cells^2). Here a
claim reads a few trial ids only:

- RDB storages (SQLite, PostgreSQL, MySQL): one ``SELECT trial_id ... WHERE study_id = ? AND
  state = 'WAITING' ORDER BY trial_id LIMIT k``, served by an extra index on
  ``trials (study_id, state, trial_id)`` (:func:`ensure_claim_index`; Optuna's schema only indexes
  ``study_id``). The index changes nothing Optuna, its CLI or optuna-dashboard read.
- Journal storage: the journal is replayed in memory anyway; a per-process cursor skips trials
  already seen finished or running (a trial never goes back to WAITING: a retry is a new trial at
  the end), so each claim looks at O(1) trials amortised.
- Any other storage: ``get_all_trials(deepcopy=False)`` filtered by state (O(waiting)).

The claim itself stays the storage's atomic WAITING -> RUNNING transition (see studies._worker).
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.trial import TrialState

from studies._attrs import _backend
from studies._outage import storage_call

log = logging.getLogger("layerlab")

CLAIM_INDEX = "ix_layerlab_trials_claim"
_CANDIDATES = 8  # waiting ids read per claim: enough for a few workers racing for the same one
_journal_cursor: dict[tuple[int, int], int] = {}  # (id(storage), study_id) -> first index maybe waiting


def ensure_claim_index(storage: optuna.storages.BaseStorage) -> None:
    """Create the claim index on an RDB storage if it is missing (idempotent; errors are logged:
    without the index claims are still correct, only slower on very large studies)."""
    backend = _backend(storage)
    if not isinstance(backend, RDBStorage) or backend.engine.name == "mysql":
        return  # MySQL has no CREATE INDEX IF NOT EXISTS; its claims scan the study's trials
    from sqlalchemy import inspect, text

    def create() -> None:
        # Look before writing: a schema change (even CREATE INDEX IF NOT EXISTS) while another
        # process opens the same SQLite file can make that process's table check miss and fail
        # with "table ... already exists". `study launch` creates the index before its workers start.
        if any(ix.get("name") == CLAIM_INDEX for ix in inspect(backend.engine).get_indexes("trials")):
            return
        with backend.engine.begin() as conn:
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {CLAIM_INDEX} ON trials (study_id, state, trial_id)"))

    try:
        storage_call(storage, "creating the claim index", create)
    except Exception as exc:  # e.g. a read-only role: claims still work
        log.warning("could not create the claim index (%s); claims will scan the study's trials", exc)


def waiting_trial_ids(study: optuna.Study, limit: int = _CANDIDATES) -> list[int]:
    """Up to ``limit`` ids of WAITING trials of ``study``, oldest first (cells run in queue order;
    a worker that loses the race for the first one tries the next)."""
    return storage_call(study._storage, "looking for waiting cells", lambda: _waiting_trial_ids(study, limit))


def _waiting_trial_ids(study: optuna.Study, limit: int) -> list[int]:
    backend = _backend(study._storage)
    if isinstance(backend, RDBStorage):
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session) as session:
            rows = (
                session.query(models.TrialModel.trial_id)
                .filter(models.TrialModel.study_id == study._study_id)
                .filter(models.TrialModel.state == TrialState.WAITING)
                .order_by(models.TrialModel.trial_id)
                .limit(limit)
                .all()
            )
        ids = [row[0] for row in rows]
    elif isinstance(backend, JournalStorage):
        ids = _journal_waiting(backend, study._study_id, limit)
    else:
        ids = [t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))][:limit]
    return ids


def _journal_waiting(backend: JournalStorage, study_id: int, limit: int) -> list[int]:
    with backend._thread_lock:
        backend._sync_with_backend()
        replay = backend._replay_result
        trial_ids = replay._study_id_to_trial_ids[study_id]
        key = (id(backend), study_id)
        start = _journal_cursor.get(key, 0)
        out: list[int] = []
        index = start
        while index < len(trial_ids) and len(out) < limit:
            trial_id = trial_ids[index]
            if replay._trials[trial_id].state == TrialState.WAITING:
                out.append(trial_id)
            elif not out:
                start = index + 1  # never waiting again: later claims start after it
            index += 1
        _journal_cursor[key] = start
    return out


CLAIM_ATTR = "layerlab:claim"  # trial system attribute: who claimed it (host:pid:nonce), written with the claim


def claim(study: optuna.Study, trial_id: int, token: str) -> bool:
    """Move WAITING trial ``trial_id`` to RUNNING for the worker holding ``token``; False when
    another worker took it first.

    On an RDB storage the claim and ``token`` are written in one transaction, so a claim whose
    commit went through but whose answer was cut (a database restarting) is recognised as this
    worker's when it is retried, instead of being left RUNNING with nobody to run it. Otherwise
    it is Optuna's ``set_trial_state_values`` (the journal's appends are whole or nothing)."""
    backend = _backend(study._storage)
    if not isinstance(backend, RDBStorage):
        return study._storage.set_trial_state_values(trial_id, TrialState.RUNNING)
    return storage_call(study._storage, "claiming a cell", lambda: _claim_rdb(backend, trial_id, token))


def _claim_rdb(backend: RDBStorage, trial_id: int, token: str) -> bool:
    """Optuna's WAITING -> RUNNING transition (row locked, datetime_start set), plus the token."""
    import json
    from datetime import datetime

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(backend.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        if trial.state != TrialState.WAITING:
            if trial.state != TrialState.RUNNING:
                return False  # finished meanwhile
            attrs = models.TrialSystemAttributeModel
            held = session.query(attrs.value_json).filter(attrs.trial_id == trial_id, attrs.key == CLAIM_ATTR).scalar()
            return held == json.dumps(token)  # ours: this is the retry of a claim whose answer was cut
        trial.state = TrialState.RUNNING
        trial.datetime_start = datetime.now()
        backend._set_trial_attr_without_commit(session, models.TrialSystemAttributeModel, trial_id, CLAIM_ATTR, token)
    return True


def note_claimed(study: optuna.Study, trial_id: int) -> None:
    """Tell Optuna's ``_CachedStorage`` (the wrapper ``load_study`` puts around an RDB storage)
    about a trial claimed without reading the study through it: it maps trial ids to studies only
    for trials it has read, and ``suggest_*`` needs that map. The trial is marked unfinished, so
    the cache re-reads it as before."""
    storage = study._storage
    if not hasattr(storage, "_add_trials_to_cache"):
        return
    from optuna.storages._cached_storage import _StudyInfo

    frozen = storage._backend.get_trial(trial_id)
    with storage._lock:
        info = storage._studies.setdefault(study._study_id, _StudyInfo())
        storage._add_trials_to_cache(study._study_id, [frozen])
        info.unfinished_trial_ids.add(trial_id)


# Attributes that say which cell a trial belongs to (see studies._cells.cell_of): all that
# progress counts need. Reading only these keeps `study status` fast on studies of many thousand
# trials, whose metrics, histories and confusion matrices it never looks at.
_CELL_USER_ATTRS = ("repeat", "repeat_of")
_CELL_SYSTEM_ATTRS = ("fixed_params", "failed_trial", "retry_history")


def cell_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Every trial of ``study`` with its number, state, parameters and the attributes naming its
    cell, and nothing else (no values, metrics or histories). On an RDB storage this is four plain
    queries instead of building every attribute of every trial; elsewhere it is
    ``study.get_trials(deepcopy=False)``."""
    backend = _backend(study._storage)
    if not isinstance(backend, RDBStorage):
        return study.get_trials(deepcopy=False)
    return storage_call(study._storage, "reading the cells", lambda: _cell_trials(study, backend))


def _cell_trials(study: optuna.Study, backend: RDBStorage) -> list[Any]:
    import json

    import sqlalchemy
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models

    trials_t = models.TrialModel.__table__
    params_t = models.TrialParamModel.__table__
    user_t = models.TrialUserAttributeModel.__table__
    system_t = models.TrialSystemAttributeModel.__table__
    mine = sqlalchemy.select(trials_t.c.trial_id).where(trials_t.c.study_id == study._study_id)
    with backend.engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.select(trials_t.c.trial_id, trials_t.c.number, trials_t.c.state)
            .where(trials_t.c.study_id == study._study_id).order_by(trials_t.c.number)
        ).all()
        params: dict[int, dict] = {}
        dists: dict[str, Any] = {}
        for trial_id, name, value, dist_json in conn.execute(
            sqlalchemy.select(params_t.c.trial_id, params_t.c.param_name, params_t.c.param_value,
                              params_t.c.distribution_json)
            .where(params_t.c.trial_id.in_(mine))
        ):
            dist = dists.get(dist_json) or dists.setdefault(dist_json, json_to_distribution(dist_json))
            params.setdefault(trial_id, {})[name] = dist.to_external_repr(value)
        attrs: dict[tuple[str, int], dict] = {}
        for which, table, keys in (("user", user_t, _CELL_USER_ATTRS), ("system", system_t, _CELL_SYSTEM_ATTRS)):
            for trial_id, key, value in conn.execute(
                sqlalchemy.select(table.c.trial_id, table.c.key, table.c.value_json)
                .where(table.c.trial_id.in_(mine), table.c.key.in_(keys))
            ):
                attrs.setdefault((which, trial_id), {})[key] = json.loads(value)
    return [_CellTrial(trial_id, number, TrialState(state) if not isinstance(state, TrialState) else state,
                       params.get(trial_id, {}), attrs.get(("user", trial_id), {}), attrs.get(("system", trial_id), {}))
            for trial_id, number, state in rows]


class _CellTrial:
    """The part of a FrozenTrial that studies._cells reads (duck-typed; never handed to Optuna)."""

    __slots__ = ("_trial_id", "number", "state", "params", "user_attrs", "system_attrs")

    def __init__(self, trial_id, number, state, params, user_attrs, system_attrs) -> None:
        self._trial_id, self.number, self.state = trial_id, number, state
        self.params, self.user_attrs, self.system_attrs = params, user_attrs, system_attrs


def has_running(study: optuna.Study) -> bool:
    """Whether any trial of ``study`` is RUNNING (one indexed ``EXISTS`` on an RDB storage)."""
    return storage_call(study._storage, "looking for running cells", lambda: _has_running(study))


def _has_running(study: optuna.Study) -> bool:
    backend = _backend(study._storage)
    if isinstance(backend, RDBStorage):
        import sqlalchemy
        from optuna.storages._rdb import models

        table = models.TrialModel.__table__
        query = sqlalchemy.select(table.c.trial_id).where(
            table.c.study_id == study._study_id, table.c.state == TrialState.RUNNING
        ).limit(1)
        with backend.engine.connect() as conn:
            return conn.execute(query).first() is not None
    return bool(backend.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,)))
