"""A trial's attributes written in one storage transaction, not one per attribute.

Optuna's storages write one attribute per call (``set_trial_user_attr``), and on an RDB storage
each call is its own transaction: a SQLite commit (an fsync) or a PostgreSQL round trip. A trial
stores about 25 attributes, so that was most of a short trial's storage time. Here
:class:`BatchedTrial` buffers ``set_user_attr`` and :func:`set_trial_attrs` writes the buffer:

- RDB (SQLite, PostgreSQL, MySQL): every attribute through Optuna's own upsert
  (``RDBStorage._set_trial_attr_without_commit``) inside one session, so one commit;
- journal: one ``append_logs`` call with one log entry per attribute (Optuna's journal replays
  exactly one attribute per entry), so one locked append;
- any other storage: one ``set_trial_user_attr`` per attribute, as Optuna does.

The rows written are exactly the ones Optuna writes, so the ``optuna`` CLI and optuna-dashboard
read the study unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage


def _backend(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """The storage behind Optuna's ``_CachedStorage`` wrapper (which caches nothing of attributes);
    any other storage as is (a JournalStorage's own ``_backend`` is its log file)."""
    from optuna.storages._cached_storage import _CachedStorage

    return storage._backend if isinstance(storage, _CachedStorage) else storage


def set_trial_attrs(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    user: Mapping[str, Any] | None = None,
    system: Mapping[str, Any] | None = None,
) -> None:
    """Set user and system attributes of a running trial in one transaction (see module doc)."""
    user, system = dict(user or {}), dict(system or {})
    if not user and not system:
        return
    from studies._outage import storage_call

    # one transaction (or one append), so retried whole while the storage is away (studies._outage)
    storage_call(storage, "writing trial attributes", lambda: _set_trial_attrs(storage, trial_id, user, system))


def _set_trial_attrs(storage: optuna.storages.BaseStorage, trial_id: int, user: dict, system: dict) -> None:
    backend = _backend(storage)
    if isinstance(backend, RDBStorage):
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session, True) as session:
            for model, attrs in ((models.TrialUserAttributeModel, user), (models.TrialSystemAttributeModel, system)):
                if attrs and not _upsert_many(backend, session, model, trial_id, attrs):
                    for key, value in attrs.items():
                        backend._set_trial_attr_without_commit(session, model, trial_id, key, value)
        return
    if isinstance(backend, JournalStorage):
        from optuna.storages.journal._storage import JournalOperation

        worker = backend._replay_result.worker_id
        logs = [
            {"op_code": op, "worker_id": worker, "trial_id": trial_id, field: {key: value}}
            for op, field, attrs in (
                (JournalOperation.SET_TRIAL_USER_ATTR, "user_attr", user),
                (JournalOperation.SET_TRIAL_SYSTEM_ATTR, "system_attr", system),
            )
            for key, value in attrs.items()
        ]
        with backend._thread_lock:  # as JournalStorage.set_trial_user_attr, for N entries at once
            backend._backend.append_logs(logs)
            backend._sync_with_backend()
        return
    for key, value in user.items():
        storage.set_trial_user_attr(trial_id, key, value)
    for key, value in system.items():
        storage.set_trial_system_attr(trial_id, key, value)


def _upsert_many(backend: RDBStorage, session: Any, model: Any, trial_id: int, attrs: Mapping[str, Any]) -> bool:
    """All of ``attrs`` in one multi-row ``INSERT ... ON CONFLICT DO UPDATE``: the statement
    Optuna's ``_set_trial_attr_without_commit`` runs for one attribute on SQLite (>= 3.24) and
    PostgreSQL, after the same check that the trial is still running, so the rows are the same.
    Optuna looks the trial up and compiles one statement per attribute (about 1 ms of CPU each,
    ~14 attributes per flush). False on other databases, which take Optuna's own path."""
    import json
    import sqlite3

    from optuna.storages._rdb import models

    name = backend.engine.name
    if name == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return False
    trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
    backend.check_trial_is_updatable(trial_id, trial.state)
    stmt = insert(model).values(
        [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    )
    session.execute(stmt.on_conflict_do_update(index_elements=[model.trial_id, model.key],
                                               set_={"value_json": stmt.excluded.value_json}))
    return True


class BatchedTrial(optuna.trial.Trial):
    """An Optuna ``Trial`` whose ``set_user_attr`` is buffered and written by :meth:`flush`.

    ``trial.user_attrs`` sees buffered values at once. The buffer is flushed before each
    intermediate report (so the first epoch's report makes the config visible on the dashboard)
    and by the worker before the trial is told its result: a bounded few transactions per trial,
    whatever the number of attributes.
    """

    def __init__(self, study: optuna.Study, trial_id: int) -> None:
        super().__init__(study, trial_id)
        # Our own copy: a journal storage hands out its in-memory trial, which buffered values
        # must not reach before they are written.
        self._cached_frozen_trial = copy.deepcopy(self._cached_frozen_trial)
        self._pending_user_attrs: dict[str, Any] = {}

    def set_user_attr(self, key: str, value: Any) -> None:
        self._pending_user_attrs[key] = value
        self._cached_frozen_trial.user_attrs[key] = value

    def report(self, value: float, step: int) -> None:
        self.flush()
        super().report(value, step)

    def flush(self) -> None:
        """Write the buffered attributes (one transaction); a no-op when none is pending."""
        if self._pending_user_attrs:
            pending, self._pending_user_attrs = self._pending_user_attrs, {}
            set_trial_attrs(self.storage, self._trial_id, user=pending)


def add_trials(study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> None:
    """Add queued trials (WAITING, with attributes only: what ``study.enqueue_trial`` adds) in one
    transaction on an RDB storage.

    Optuna adds each trial in its own transaction, and numbers it with a count of the study's
    earlier trials: queueing 1,260 cells took over a minute on a slow disk, and grew with the
    square of the study. Here the study row is locked as Optuna locks it when it creates a trial
    (so no other trial of the study is created meanwhile), the next number is counted once, and
    the trials and their attributes are inserted with one multi-row ``INSERT`` per table. The rows
    are the ones Optuna writes. Trials with parameters, values or intermediate values, and other
    storages, go through ``study.add_trials``.
    """
    if not trials:
        return
    backend = _backend(study._storage)
    plain = all(
        t.state == optuna.trial.TrialState.WAITING and not t.params and t.values is None and not t.intermediate_values
        for t in trials
    )
    if not isinstance(backend, RDBStorage) or not plain:
        study.add_trials(trials)
        return
    from studies._outage import storage_call

    storage_call(study._storage, "queueing trials", lambda: _insert_trials(study, backend, trials))


def _insert_trials(study: optuna.Study, backend: RDBStorage, trials: list[optuna.trial.FrozenTrial]) -> None:
    """The one transaction of :func:`add_trials` on an RDB storage."""
    import json

    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    table = models.TrialModel.__table__
    with _create_scoped_session(backend.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(study._study_id, session, for_update=True)
        first = session.execute(
            sqlalchemy.select(sqlalchemy.func.count()).select_from(table).where(table.c.study_id == study._study_id)
        ).scalar_one()
        session.execute(sqlalchemy.insert(table), [
            {"number": first + i, "study_id": study._study_id, "state": t.state,
             "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete}
            for i, t in enumerate(trials)
        ])
        ids = dict(session.execute(
            sqlalchemy.select(table.c.number, table.c.trial_id)
            .where(table.c.study_id == study._study_id, table.c.number >= first)
        ).all())
        for model, which in ((models.TrialUserAttributeModel, "user_attrs"),
                             (models.TrialSystemAttributeModel, "system_attrs")):
            rows = [
                {"trial_id": ids[first + i], "key": key, "value_json": json.dumps(value)}
                for i, t in enumerate(trials)
                for key, value in getattr(t, which).items()
            ]
            if rows:
                session.execute(sqlalchemy.insert(model.__table__), rows)
