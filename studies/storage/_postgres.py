"""PostgreSQL: many workers on many machines share one database server.

Connections go through psycopg 3 when it is installed (the ``postgres`` extra), are checked
before use (``pool_pre_ping``: a restarted server's dead connections are replaced), a claim locks
its row (``SELECT ... FOR UPDATE``), and the study lock is a session-level advisory lock. Several
first launches on a fresh database create Optuna's tables one at a time (:func:`_schema_lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from optuna.storages import RDBStorage

from searchspace.errors import LayerlabError, StorageError
from studies.storage._backend import StorageOptions
from studies.storage._outage import call_with_retry
from studies.storage._rdb import RdbBackend, open_failure


class PostgresBackend(RdbBackend):
    scheme = "postgresql"
    aliases = ("postgres",)  # the libpq spelling; SQLAlchemy only knows "postgresql"

    @classmethod
    def engine_url(cls, url: str) -> str:
        """``postgresql://`` gets an installed driver, preferring psycopg 3 (the one layerlab's
        ``postgres`` extra installs; SQLAlchemy's default would be psycopg2)."""
        return engine_url(url)

    @classmethod
    def _create(cls, url: str, make: Callable[[], RDBStorage], engine_kwargs: dict, options: StorageOptions,
                wait: bool) -> RDBStorage:
        with _schema_lock(url, engine_kwargs, options.outage_limit if wait else None):  # one creates the tables
            return call_with_retry(make, url=url, what="opening the storage", max_wait=options.outage_limit)

    def _insert(self) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert

    @contextlib.contextmanager
    def study_lock(self, study_name: str, url: str | None = None) -> Iterator[None]:
        """A session-level advisory lock named after the study."""
        from sqlalchemy import text

        key = int.from_bytes(hashlib.sha1(f"layerlab:{study_name}".encode()).digest()[:8], "big", signed=True)
        engine = self._raw.engine

        def lock():
            conn = engine.connect()
            try:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()  # the lock belongs to the session; do not sit idle in a transaction
            except BaseException:
                conn.close()
                raise
            return conn

        conn = self.call("taking the study lock", lock)  # waits out a restarting server
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            except Exception:  # the server went away: its session, and the lock with it, are gone
                pass
            finally:
                conn.close()


def engine_url(url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL storage URL (psycopg 3 when installed)."""
    scheme, rest = url.split("://", 1)
    if scheme.lower() in ("postgres", "postgresql") and importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    if scheme.lower() == "postgres":
        return f"postgresql://{rest}"
    return url


@contextlib.contextmanager
def _schema_lock(url: str, engine_kwargs: dict, wait: float | None = None) -> Iterator[None]:
    """A PostgreSQL advisory lock held while Optuna creates (or checks) its tables, so concurrent
    first launches on a fresh database do not race in ``CREATE TABLE`` (UniqueViolation on
    ``pg_type_typname_nsp_index``). ``wait``: seconds to wait for a server that does not answer
    (a worker joining mid-study while the server restarts); None: refuse at once."""
    from sqlalchemy import create_engine, text

    engine = create_engine(engine_url(url), **engine_kwargs)

    def lock():
        conn = engine.connect()
        try:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    try:
        try:
            conn = lock() if wait is None else call_with_retry(lock, url=url, what="connecting", max_wait=wait)
        except LayerlabError:
            raise
        except Exception as exc:
            raise StorageError(open_failure(url, exc)) from None
        with conn:
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a server gone meanwhile took the session's lock with it
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
                    conn.commit()
    finally:
        engine.dispose()


SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha1(b"layerlab:schema").digest()[:8], "big", signed=True)
