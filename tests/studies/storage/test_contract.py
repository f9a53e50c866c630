"""The storage contract: what the engine relies on, checked on every registered backend.

Each backend (``studies.storage._registry.list_schemes()``) gets a fresh storage from ``FACTORIES``; the
PostgreSQL case needs ``LAYERLAB_TEST_POSTGRES_URL`` (``.ci/postgres.sh`` starts a server) and
skips without it, or fails under ``LAYERLAB_REQUIRE_POSTGRES=1`` as the other PostgreSQL tests do.
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import nullcontext

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from searchspace.errors import StorageError
from studies.storage import (
    Backend,
    StorageOptions,
    backend_of,
    open_storage,
    redact,
    register,
    storage_file,
    trial_id_of,
)
from studies.storage._registry import list_schemes
from tests.studies._util import postgres_database

OPTIONS = StorageOptions(heartbeat_interval=1, grace_period=3, outage_limit=30)

FACTORIES = {
    "sqlite": lambda tmp_path: nullcontext(f"sqlite:///{tmp_path / 'contract.db'}"),
    "postgresql": postgres_database,
    "journal": lambda tmp_path: nullcontext(f"journal:///{tmp_path / 'contract.log'}"),
    "memory": lambda tmp_path: nullcontext(f"memory://contract-{uuid.uuid4().hex}"),
}
UNTESTED = {"mysql": "no MySQL server in CI; the plain RDB backend is exercised through SQLite and PostgreSQL"}


def test_every_registered_backend_is_under_contract():
    assert set(FACTORIES) | set(UNTESTED) == set(list_schemes())


@pytest.fixture(params=list(list_schemes()))
def url(request, tmp_path):
    if request.param in UNTESTED:
        pytest.skip(UNTESTED[request.param])
    with FACTORIES[request.param](tmp_path) as url:
        yield url


def _study(url: str, name: str = "c", *, create: bool = True) -> optuna.Study:
    storage = open_storage(url, create=create, options=OPTIONS)
    if create:
        return optuna.create_study(study_name=name, storage=storage, direction="maximize")
    return optuna.load_study(study_name=name, storage=storage)


def _queue(study: optuna.Study, n: int) -> None:
    backend_of(study).add_trials(study, [
        optuna.trial.create_trial(state=TrialState.WAITING, user_attrs={"repeat": 0}, system_attrs={"cell": i})
        for i in range(n)
    ])


def _claim_one(study: optuna.Study, token: str) -> int | None:
    backend = backend_of(study)
    while True:
        candidates = backend.waiting_ids(study, 8)
        if not candidates:
            return None
        for candidate in candidates:
            try:
                if backend.claim(study, candidate, token):
                    return candidate
            except optuna.exceptions.UpdateFinishedTrialError:
                continue


def test_opening_creates_the_storage_and_reopening_sees_the_same_study(url):
    study = _study(url)
    _queue(study, 3)
    path = storage_file(url)
    assert path is None or path.exists()  # a file-based backend says where its file is
    again = _study(url, create=False)
    assert [t.state for t in again.trials] == [TrialState.WAITING] * 3
    assert isinstance(backend_of(again), Backend) and type(backend_of(again)) is type(backend_of(study))


def test_bulk_added_trials_are_waiting_with_their_params_and_attributes(url):
    study = _study(url)
    _queue(study, 2)
    dists = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "layers": CategoricalDistribution(["a", "b"])}
    backend_of(study).add_trials(study, [
        optuna.trial.create_trial(state=TrialState.WAITING, params={"lr": 0.01, "layers": "b"}, distributions=dists,
                                  user_attrs={"repeat": 1})
    ])
    trials = _study(url, create=False).trials
    assert [t.state for t in trials] == [TrialState.WAITING] * 3
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.system_attrs.get("cell") for t in trials[:2]] == [0, 1]
    assert trials[2].params == {"lr": 0.01, "layers": "b"} and trials[2].user_attrs == {"repeat": 1}
    assert backend_of(study).waiting_ids(study, 2) == [trial_id_of(t) for t in trials[:2]]  # oldest first


def test_a_claimed_trial_is_running_and_cannot_be_claimed_again(url):
    study = _study(url)
    _queue(study, 2)
    backend = backend_of(study)
    backend.ensure_claim_index()
    backend.ensure_claim_index()  # idempotent
    assert not backend.has_running(study)
    first = _claim_one(study, "me")
    assert backend.get_trial(first).state == TrialState.RUNNING and backend.has_running(study)
    assert not backend_of(_study(url, create=False)).claim(study, first, "someone else")
    assert backend.waiting_ids(study, 8) == [trial_id_of(_study(url, create=False).trials[1])]


def test_claims_are_exclusive_among_concurrent_claimers(url):
    cells, claimers = 24, 4
    _queue(_study(url), cells)
    won: list[list[int]] = [[] for _ in range(claimers)]
    errors: list[BaseException] = []
    start = threading.Barrier(claimers)

    def claimer(i: int) -> None:
        try:
            study = _study(url, create=False)  # each its own connection, as separate workers have
            start.wait()
            while (trial := _claim_one(study, f"worker-{i}")) is not None:
                won[i].append(trial)
        except BaseException as exc:  # reported below: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    every = [trial for mine in won for trial in mine]
    assert len(every) == len(set(every)) == cells  # never one trial to two claimers, none left behind
    assert {t.state for t in _study(url, create=False).trials} == {TrialState.RUNNING}


def test_attributes_written_in_one_call_are_all_visible_after(url):
    study = _study(url)
    _queue(study, 1)
    claimed = _claim_one(study, "me")
    user = {"config": {"lr": 0.1, "layers": "Conv-BN"}, "history": [{"epoch": 1}], "seed": 3, "flag": True}
    backend_of(study).set_trial_attrs(claimed, user=user, system={"layerlab:x": 1})
    backend_of(study).set_trial_attrs(claimed, user={"seed": 4})  # overwrites one, keeps the rest
    (fresh,) = _study(url, create=False).trials
    assert {k: fresh.user_attrs[k] for k in user} == {**user, "seed": 4} and fresh.user_attrs["repeat"] == 0
    assert fresh.system_attrs["layerlab:x"] == 1 and fresh.system_attrs["cell"] == 0


def test_a_trial_whose_heartbeat_stands_still_is_failed_and_queued_again_once(url, monkeypatch):
    from studies.storage import _outage

    now = [time.monotonic() + 1e6]  # a clock of our own: staleness counts the time the storage answered
    monkeypatch.setattr(_outage, "monotonic", lambda: now[0])
    study = _study(url)
    _queue(study, 1)
    backend = backend_of(study)
    claimed = _claim_one(study, "me")
    if not backend.has_heartbeat():  # in memory: one process, nobody else could take the cell
        backend.fail_stale_trials(study)
        assert backend.get_trial(claimed).state == TrialState.RUNNING
        return
    backend.record_heartbeat(claimed)
    watchers = [study, _study(url, create=False)]
    for watcher in watchers:
        backend_of(watcher).fail_stale_trials(watcher)  # each starts watching the beat
    now[0] += OPTIONS.grace_period - 1
    for watcher in watchers:
        backend_of(watcher).fail_stale_trials(watcher)
    assert [t.state for t in _study(url, create=False).trials] == [TrialState.RUNNING]  # not yet
    backend.record_heartbeat(claimed)  # a live worker's beat restarts the watch
    for watcher in watchers:
        backend_of(watcher).fail_stale_trials(watcher)
    now[0] += OPTIONS.grace_period + 1
    for watcher in watchers:
        backend_of(watcher).fail_stale_trials(watcher)
    trials = _study(url, create=False).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]  # re-queued exactly once
    assert trials[0].user_attrs["fail_reason"] == f"worker lost (no heartbeat for {OPTIONS.grace_period} s)"
    assert trials[1].system_attrs["failed_trial"] == 0


def test_the_study_lock_can_be_taken_again_once_released(url):
    study = _study(url)
    backend = backend_of(study)
    for _ in range(2):
        with backend.study_lock("c", url):
            _queue(study, 1)
    assert len(_study(url, create=False).trials) == 2


def test_redaction_hides_a_password(url):
    scheme = url.split("://", 1)[0]
    assert redact(url) == url  # nothing to hide
    secret = f"{scheme}://me:s3cret@host:5432/db"
    assert "s3cret" not in redact(secret) and redact(secret) == f"{scheme}://me:***@host:5432/db"


def test_the_registry_refuses_a_taken_scheme_and_names_the_valid_ones():
    class Again(Backend):
        scheme = "sqlite"

    with pytest.raises(ValueError, match="registered twice"):
        register(Again)
    with pytest.raises(StorageError, match="valid schemes: .*sqlite.*journal"):
        open_storage("nosuch://x")
