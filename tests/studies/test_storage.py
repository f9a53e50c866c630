"""Storage URLs, the atomic claim under contention, and launches racing on one study."""

from __future__ import annotations

import pytest

from searchspace.errors import StorageError
from studies import StorageOptions
from studies.storage import backend_of, open_storage, redact
from studies.storage._registry import scheme_of
from studies.storage import storage_file as sqlite_path
from studies.storage._postgres import engine_url
from tests.studies._util import run_together


@pytest.mark.parametrize(
    "url, scheme",
    [
        ("sqlite:///runs/x.db", "sqlite"),
        ("postgresql://u@127.0.0.1/db", "postgresql"),
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("journal:///shared/x.log", "journal"),
        ("/shared/study.log", "journal"),
    ],
)
def test_schemes(url, scheme):
    assert scheme_of(url) == scheme


@pytest.mark.parametrize("url, fragment", [("ftp://x/y", "unknown storage scheme 'ftp'"), ("runs/x.db", "has no scheme")])
def test_bad_urls_name_the_valid_schemes(url, fragment):
    with pytest.raises(StorageError, match=fragment) as info:
        scheme_of(url)
    assert "sqlite" in str(info.value) and "postgresql" in str(info.value)


def test_postgres_urls_use_psycopg3_and_passwords_are_redacted():
    assert engine_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"  # explicit driver kept
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert sqlite_path("sqlite:///runs/x.db").as_posix() == "runs/x.db"
    assert sqlite_path("sqlite:////abs/x.db").as_posix() == "/abs/x.db"


def test_storage_options_are_checked():
    with pytest.raises(StorageError, match="grace_period"):
        StorageOptions(heartbeat_interval=10, grace_period=5)
    with pytest.raises(StorageError, match="heartbeat_interval"):
        StorageOptions(heartbeat_interval=0)


def test_missing_files_are_not_created(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'no.db'}", f"journal:///{tmp_path / 'no.log'}"):
        with pytest.raises(StorageError, match="no (SQLite database|journal file)"):
            open_storage(url)
    assert list(tmp_path.iterdir()) == []


# Claims under contention and racing launches run on every storage in test_exactly_once.py.


def test_a_failed_journal_append_leaves_no_half_written_line(tmp_path, monkeypatch):
    """A full disk in the middle of an append (simulated: fsync raises ENOSPC after the write)
    cuts the journal back to its last whole line, so the journal still loads and later appends
    are not glued onto a partial one."""
    import errno
    import os

    import optuna

    from studies.storage._journal import WholeLinesJournalBackend

    path = tmp_path / "study.log"
    storage = optuna.storages.JournalStorage(WholeLinesJournalBackend(str(path)))
    study = optuna.create_study(study_name="j", storage=storage)
    study.enqueue_trial({"x": 1})
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    try:
        study.enqueue_trial({"x": 2})
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        raise AssertionError("the append should have failed")
    monkeypatch.undo()
    assert path.read_bytes() == before
    study.enqueue_trial({"x": 3})
    again = optuna.load_study(study_name="j", storage=optuna.storages.JournalStorage(WholeLinesJournalBackend(str(path))))
    assert [t.system_attrs.get("fixed_params") for t in again.trials] == [{"x": 1}, {"x": 3}]


def test_the_study_lock_never_drops_sqlites_own_locks(tmp_path):
    """study_lock must not open the database file itself: closing that descriptor dropped every
    POSIX lock of this process on it, so another process closing its connection took itself for
    the last one and deleted the write-ahead log under this process's live connection (the cause
    of "database disk image is malformed" with two workers)."""
    import subprocess
    import sys

    import optuna


    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    storage = open_storage(url, create=True)
    study = optuna.create_study(study_name="s", storage=storage)
    study.enqueue_trial({})  # a write: the WAL now holds a frame, and this process a connection
    with backend_of(storage).study_lock("s", url):
        pass
    child = f"import sqlite3; c = sqlite3.connect({str(db)!r}); c.execute('select count(*) from trials').fetchall(); c.close()"
    subprocess.run([sys.executable, "-c", child], check=True)
    assert (tmp_path / "s.db-wal").exists()  # this process's connection still holds the log
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 1


def _open_at_once(url: str, name: str, start, queue) -> None:
    start.wait()  # every process opens the fresh file together
    try:
        open_storage(url, create=True)
        queue.put("ok")
    except Exception as exc:
        queue.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_sqlite_file_together_all_succeed(tmp_path):
    """A launch creating a study while workers (or a status) open the same new file: each writes
    Optuna's schema and version stamp; the losers of that race retry (studies.storage._rdb). Without
    the retry, 2 of 15 rounds of 4 processes failed with 'UNIQUE constraint failed: alembic_version'."""
    for round_ in range(10):
        url = f"sqlite:///{tmp_path / f'{round_}.db'}"
        assert run_together(_open_at_once, url, "unused", 4) == ["ok"] * 4
