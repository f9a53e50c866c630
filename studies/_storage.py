"""Storage URLs -> Optuna storages, with heartbeats where the backend supports them.

- ``sqlite:///runs/layerlab.db`` (default): one machine, several local workers.
- ``postgresql://user:pass@host:5432/db``: many workers on many machines share one database.
  This is layerlab's distributed engine; there is no other.
- ``journal:///shared/fs/study.log`` (or a path ending in ``.log``): Optuna's JournalStorage on a
  shared file system.

RDB storages (SQLite, PostgreSQL, MySQL) get Optuna's heartbeat: a worker that dies mid-trial
stops beating, another worker marks its trial failed after the grace period and re-queues the same
cell (same parameters, same repeat) exactly once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from searchspace._errors import LayerlabError

DEFAULT_STORAGE = "sqlite:///runs/layerlab.db"
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats
GRACE_PERIOD = 40  # seconds without a heartbeat before a trial counts as dead
SCHEMES = ("sqlite", "postgresql", "mysql", "journal")


class StorageError(LayerlabError):
    """A storage URL is malformed, uses an unknown scheme, or cannot be reached."""


@dataclass(frozen=True)
class StorageOptions:
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = GRACE_PERIOD
    max_retry: int = 3  # how many times one cell is re-queued after its worker died


def scheme_of(url: str) -> str:
    if "://" not in url:
        if url.endswith((".log", ".journal")):
            return "journal"
        raise StorageError(
            f"storage URL {url!r} has no scheme; valid schemes: {', '.join(SCHEMES)} "
            "(e.g. sqlite:///runs/layerlab.db, postgresql://user@127.0.0.1/db, journal:///path/study.log)"
        )
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in SCHEMES:
        raise StorageError(f"unknown storage scheme {scheme!r} in {url!r}; valid schemes: {', '.join(SCHEMES)}")
    return scheme


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other schemes or in-memory databases)."""
    if scheme_of(url) != "sqlite":
        return None
    path = url.split("://", 1)[1]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///relative/x.db -> relative/x.db ; sqlite:////abs -> /abs
    return None if path in ("", ":memory:") else Path(path)


def check_url(url: str, *, create: bool = False) -> None:
    """Validate ``url`` without writing anything (``create`` allows a missing SQLite file)."""
    scheme = scheme_of(url)
    if scheme == "sqlite":
        path = sqlite_path(url)
        if path is not None and not create and not path.exists():
            raise StorageError(f"no SQLite database at {path} (from {url!r})")
    if scheme == "journal":
        path = Path(url.split("://", 1)[1]) if "://" in url else Path(url)
        if not create and not path.exists():
            raise StorageError(f"no journal file at {path} (from {url!r})")


def open_storage(url: str, *, create: bool = False, options: StorageOptions | None = None) -> optuna.storages.BaseStorage:
    """Open (and with ``create``, initialise) the storage at ``url``; unreachable -> StorageError."""
    options = options or StorageOptions()
    check_url(url, create=create)
    scheme = scheme_of(url)
    if scheme == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url.split("://", 1)[1]) if "://" in url else Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise StorageError(f"cannot open journal {path}: {exc}") from None
    if scheme == "sqlite" and create:
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs = {"pool_pre_ping": True} if scheme != "sqlite" else {"connect_args": {"timeout": 60}}
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; we rely on them knowingly
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=options.heartbeat_interval,
                grace_period=options.grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=options.max_retry),
            )
    except ImportError as exc:
        raise StorageError(f"storage {redact(url)!r} needs a database driver: {exc} (pip install 'layerlab[postgres]')") from None
    except Exception as exc:  # sqlalchemy's OperationalError and friends: one line, no traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot reach storage {redact(url)}: {reason}") from None


def redact(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    return isinstance(storage, RDBStorage)


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail trials whose worker stopped beating; the storage's callback re-queues each cell once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
