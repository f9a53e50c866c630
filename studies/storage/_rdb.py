"""What SQLite and PostgreSQL (and MySQL) share: Optuna's ``RDBStorage`` and the SQL layerlab
runs beside it.

- **Claims** read a few waiting ids with one ``SELECT trial_id ... WHERE study_id = ? AND state =
  'WAITING' ORDER BY trial_id LIMIT k``, served by an extra index on ``trials (study_id, state,
  trial_id)`` (:meth:`RdbBackend.ensure_claim_index`; Optuna's schema only indexes ``study_id``),
  instead of building a FrozenTrial of every waiting trial (O(waiting) a claim, O(cells^2) a
  study). The claim is Optuna's WAITING -> RUNNING transition with a token written in the same
  transaction. The index changes nothing Optuna, its CLI or optuna-dashboard read.
- **Attributes** of a trial are written in one transaction, through Optuna's own upsert
  (``RDBStorage._set_trial_attr_without_commit``) or one multi-row upsert: Optuna writes one
  attribute per call, each its own commit, and a trial stores about 25.
- **Queued trials** go in with one multi-row ``INSERT`` per table, numbered once.

The rows written are exactly the ones Optuna writes, so the ``optuna`` CLI and optuna-dashboard
read the study unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from searchspace.errors import LayerlabError, StorageError
from studies.storage._backend import Backend, StorageOptions, retry_callback
from studies.storage._outage import MAX_DELAY, call_with_retry, install_retries
from studies.storage._registry import redact

log = logging.getLogger("layerlab")

CLAIM_INDEX = "ix_layerlab_trials_claim"
CLAIM_ATTR = "layerlab:claim"  # trial system attribute: who claimed it (host:pid:nonce), written with the claim

# Attributes that say which cell a trial belongs to (see studies.engine._cells.cell_of): all that
# progress counts need. Reading only these keeps `study status` fast on studies of many thousand
# trials, whose metrics, histories and confusion matrices it never looks at.
_CELL_USER_ATTRS = ("repeat", "repeat_of")
_CELL_SYSTEM_ATTRS = ("fixed_params", "failed_trial", "retry_history")


class RdbBackend(Backend):
    """A SQLAlchemy database through Optuna's ``RDBStorage``; the subclasses say how to connect."""

    scheme = "mysql"  # the plain RDB backend: MySQL gets no lock, no claim index, Optuna's own upserts

    # -- opening ------------------------------------------------------------------------------------

    @classmethod
    def adopts(cls, storage: optuna.storages.BaseStorage) -> bool:
        return isinstance(storage, RDBStorage) and storage.engine.name == cls.scheme

    @classmethod
    def engine_url(cls, url: str) -> str:
        """The SQLAlchemy URL of a storage URL."""
        return url

    @classmethod
    def engine_kwargs(cls) -> dict:
        return {"pool_pre_ping": True}

    @classmethod
    def open(cls, url: str, *, create: bool, options: StorageOptions, wait: bool) -> Backend:
        engine_kwargs = cls.engine_kwargs()
        retry = retry_callback(options)

        def make() -> RDBStorage:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; we rely on them knowingly
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    cls.engine_url(url),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=options.heartbeat_interval,
                    grace_period=options.grace_period,
                    heartbeat_stale_trial_callback=retry,
                )

        try:
            storage = cls._create(url, make, engine_kwargs, options, wait)
        except ImportError as exc:
            raise StorageError(f"storage {redact(url)!r} needs a database driver: {exc} "
                               "(pip install 'layerlab[postgres]')") from None
        except LayerlabError:
            raise
        except Exception as exc:  # sqlalchemy's OperationalError and friends: one line, no traceback
            raise StorageError(open_failure(url, exc)) from None
        cls._prepare(storage.engine, url)
        return cls(install_retries(storage, url, options.outage_limit, min(MAX_DELAY, options.heartbeat_interval)))

    @classmethod
    def _create(cls, url: str, make: Callable[[], RDBStorage], engine_kwargs: dict, options: StorageOptions,
                wait: bool) -> RDBStorage:
        return call_with_retry(_retry_schema_race(make), url=url, what="opening the storage",
                               max_wait=options.outage_limit)

    @classmethod
    def _prepare(cls, engine: Any, url: str) -> None:
        """Set up a new engine before any call (SQLite: transactions and the write-ahead log)."""

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must never turn a finished run into an error
            self._raw.engine.dispose()

    # -- attributes and queued trials -------------------------------------------------------------

    def set_trial_attrs(self, trial_id: int, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None:
        user, system = dict(user or {}), dict(system or {})
        if not user and not system:
            return
        # one transaction, so retried whole while the storage is away (studies.storage._outage)
        self.call("writing trial attributes", lambda: self._write_attrs(trial_id, user, system))

    def _write_attrs(self, trial_id: int, user: dict, system: dict) -> None:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        backend = self._raw
        with _create_scoped_session(backend.scoped_session, True) as session:
            for model, attrs in ((models.TrialUserAttributeModel, user), (models.TrialSystemAttributeModel, system)):
                if attrs and not self._upsert_many(session, model, trial_id, attrs):
                    for key, value in attrs.items():
                        backend._set_trial_attr_without_commit(session, model, trial_id, key, value)

    def _upsert_many(self, session: Any, model: Any, trial_id: int, attrs: Mapping[str, Any]) -> bool:
        """All of ``attrs`` in one multi-row ``INSERT ... ON CONFLICT DO UPDATE``: the statement
        Optuna's ``_set_trial_attr_without_commit`` runs for one attribute on SQLite (>= 3.24) and
        PostgreSQL, after the same check that the trial is still running, so the rows are the same.
        Optuna looks the trial up and compiles one statement per attribute (about 1 ms of CPU each,
        ~14 attributes per flush). False where the dialect has no such statement (``_insert``
        None), which takes Optuna's own path."""
        from optuna.storages._rdb import models

        insert = self._insert()
        if insert is None:
            return False
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        self._raw.check_trial_is_updatable(trial_id, trial.state)
        stmt = insert(model).values(
            [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
        )
        session.execute(stmt.on_conflict_do_update(index_elements=[model.trial_id, model.key],
                                                   set_={"value_json": stmt.excluded.value_json}))
        return True

    def _insert(self) -> Any:
        """The dialect's ``insert`` with ``on_conflict_do_update``, or None."""
        return None

    def add_trials(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        """Queued trials (WAITING, with attributes only: what ``study.enqueue_trial`` adds) in one
        transaction.

        Optuna adds each trial in its own transaction, and numbers it with a count of the study's
        earlier trials: queueing 1,260 cells took over a minute on a slow disk, and grew with the
        square of the study. Here the study row is locked as Optuna locks it when it creates a
        trial (so no other trial of the study is created meanwhile), the next number is counted
        once, and the trials and their attributes are inserted with one multi-row ``INSERT`` per
        table. Trials with parameters, values or intermediate values go through ``study.add_trials``."""
        if not trials:
            return
        plain = all(t.state == TrialState.WAITING and not t.params and t.values is None and not t.intermediate_values
                    for t in trials)
        if not plain:
            study.add_trials(trials)
            return
        self.call("queueing trials", lambda: self._insert_trials(study, trials))

    def _insert_trials(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        import sqlalchemy
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        table = models.TrialModel.__table__
        study_id = study._study_id
        with _create_scoped_session(self._raw.scoped_session) as session:
            models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
            first = session.execute(
                sqlalchemy.select(sqlalchemy.func.count()).select_from(table).where(table.c.study_id == study_id)
            ).scalar_one()
            session.execute(sqlalchemy.insert(table), [
                {"number": first + i, "study_id": study_id, "state": t.state,
                 "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete}
                for i, t in enumerate(trials)
            ])
            ids = dict(session.execute(
                sqlalchemy.select(table.c.number, table.c.trial_id)
                .where(table.c.study_id == study_id, table.c.number >= first)
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

    # -- claims -----------------------------------------------------------------------------------

    def ensure_claim_index(self) -> None:
        """Create the claim index if it is missing (idempotent; errors are logged: without the
        index claims are still correct, only slower on very large studies)."""
        if self.scheme == "mysql":
            return  # MySQL has no CREATE INDEX IF NOT EXISTS; its claims scan the study's trials
        from sqlalchemy import inspect, text

        engine = self._raw.engine

        def create() -> None:
            # Look before writing: a schema change (even CREATE INDEX IF NOT EXISTS) while another
            # process opens the same SQLite file can make that process's table check miss and fail
            # with "table ... already exists". `study launch` creates the index before its workers start.
            if any(ix.get("name") == CLAIM_INDEX for ix in inspect(engine).get_indexes("trials")):
                return
            with engine.begin() as conn:
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS {CLAIM_INDEX} ON trials (study_id, state, trial_id)"))

        try:
            self.call("creating the claim index", create)
        except Exception as exc:  # e.g. a read-only role: claims still work
            log.warning("could not create the claim index (%s); claims will scan the study's trials", exc)

    def waiting_ids(self, study: optuna.Study, limit: int) -> list[int]:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        def read() -> list[int]:
            with _create_scoped_session(self._raw.scoped_session) as session:
                rows = (
                    session.query(models.TrialModel.trial_id)
                    .filter(models.TrialModel.study_id == study._study_id)
                    .filter(models.TrialModel.state == TrialState.WAITING)
                    .order_by(models.TrialModel.trial_id)
                    .limit(limit)
                    .all()
                )
            return [row[0] for row in rows]

        return self.call("looking for waiting cells", read)

    def claim(self, study: optuna.Study, trial_id: int, token: str) -> bool:
        """The claim and ``token`` are written in one transaction, so a claim whose commit went
        through but whose answer was cut (a database restarting) is recognised as this worker's
        when it is retried, instead of being left RUNNING with nobody to run it."""
        return self.call("claiming a cell", lambda: self._claim(trial_id, token))

    def _claim(self, trial_id: int, token: str) -> bool:
        """Optuna's WAITING -> RUNNING transition (row locked, datetime_start set), plus the token."""
        from datetime import datetime

        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(self._raw.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            if trial.state != TrialState.WAITING:
                if trial.state != TrialState.RUNNING:
                    return False  # finished meanwhile
                attrs = models.TrialSystemAttributeModel
                held = (session.query(attrs.value_json)
                        .filter(attrs.trial_id == trial_id, attrs.key == CLAIM_ATTR).scalar())
                return held == json.dumps(token)  # ours: this is the retry of a claim whose answer was cut
            trial.state = TrialState.RUNNING
            trial.datetime_start = datetime.now()
            self._raw._set_trial_attr_without_commit(session, models.TrialSystemAttributeModel, trial_id,
                                                     CLAIM_ATTR, token)
        return True

    def note_claimed(self, study: optuna.Study, trial_id: int) -> None:
        """Tell Optuna's ``_CachedStorage`` (the wrapper ``load_study`` puts around an RDB storage)
        about a trial claimed without reading the study through it: it maps trial ids to studies
        only for trials it has read, and ``suggest_*`` needs that map. The trial is marked
        unfinished, so the cache re-reads it as before."""
        storage = study._storage
        if not hasattr(storage, "_add_trials_to_cache"):
            return
        from optuna.storages._cached_storage import _StudyInfo

        frozen = storage._backend.get_trial(trial_id)
        with storage._lock:
            info = storage._studies.setdefault(study._study_id, _StudyInfo())
            storage._add_trials_to_cache(study._study_id, [frozen])
            info.unfinished_trial_ids.add(trial_id)

    def cell_trials(self, study: optuna.Study) -> list[Any]:
        """Four plain queries instead of building every attribute of every trial."""
        return self.call("reading the cells", lambda: self._cell_trials(study))

    def _cell_trials(self, study: optuna.Study) -> list[Any]:
        import sqlalchemy
        from optuna.distributions import json_to_distribution
        from optuna.storages._rdb import models

        trials_t = models.TrialModel.__table__
        params_t = models.TrialParamModel.__table__
        user_t = models.TrialUserAttributeModel.__table__
        system_t = models.TrialSystemAttributeModel.__table__
        mine = sqlalchemy.select(trials_t.c.trial_id).where(trials_t.c.study_id == study._study_id)
        with self._raw.engine.connect() as conn:
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
                           params.get(trial_id, {}), attrs.get(("user", trial_id), {}),
                           attrs.get(("system", trial_id), {}))
                for trial_id, number, state in rows]

    def has_running(self, study: optuna.Study) -> bool:
        """One indexed ``EXISTS``."""
        import sqlalchemy
        from optuna.storages._rdb import models

        table = models.TrialModel.__table__
        query = sqlalchemy.select(table.c.trial_id).where(
            table.c.study_id == study._study_id, table.c.state == TrialState.RUNNING
        ).limit(1)

        def read() -> bool:
            with self._raw.engine.connect() as conn:
                return conn.execute(query).first() is not None

        return self.call("looking for running cells", read)

    # -- heartbeats ---------------------------------------------------------------------------------

    def running_heartbeats(self, study: optuna.Study) -> dict[int, Any] | None:
        """One query: Optuna's heartbeat table joined to the study's running trials."""
        import sqlalchemy
        from optuna.storages._rdb import models

        trials, beats = models.TrialModel.__table__, models.TrialHeartbeatModel.__table__
        query = (sqlalchemy.select(beats.c.trial_id, beats.c.heartbeat)
                 .join(trials, trials.c.trial_id == beats.c.trial_id)
                 .where(trials.c.study_id == study._study_id, trials.c.state == TrialState.RUNNING))
        with self._raw.engine.connect() as conn:
            return dict(conn.execute(query).all())


class _CellTrial:
    """The part of a FrozenTrial that studies.engine._cells reads (duck-typed; never handed to Optuna)."""

    __slots__ = ("_trial_id", "number", "state", "params", "user_attrs", "system_attrs")

    def __init__(self, trial_id, number, state, params, user_attrs, system_attrs) -> None:
        self._trial_id, self.number, self.state = trial_id, number, state
        self.params, self.user_attrs, self.system_attrs = params, user_attrs, system_attrs


def _retry_schema_race(create, attempts: int = 5):
    """``create`` retried when another process changed the SQLite schema while this one checked
    it (SQLAlchemy's table check then misses an existing table: "table ... already exists"; or
    both stamped Optuna's schema version: "UNIQUE constraint failed: alembic_version...")."""
    import time

    def run():
        for attempt in range(attempts):
            try:
                return create()
            except Exception as exc:
                raced = "already exists" in str(exc) or "UNIQUE constraint failed: alembic_version" in str(exc)
                if not raced or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    return run


def _is_unreachable(exc: BaseException) -> bool:
    """The server could not be reached at all (as opposed to a failure once connected)."""
    from sqlalchemy.exc import OperationalError

    texts = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None).lower()
    return isinstance(exc, OperationalError) and any(
        s in texts for s in ("connection refused", "could not connect", "could not translate host", "timeout expired",
                             "connection timed out", "name or service not known", "no route to host",
                             "unable to open database file")
    )


def open_failure(url: str, exc: BaseException) -> str:
    if _is_unreachable(exc):
        return f"cannot reach storage {redact(url)}: {_first_line(exc)}"
    return f"storage {redact(url)} could not be opened: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
