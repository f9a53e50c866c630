"""In memory: Optuna's ``InMemoryStorage``, for tests and notebooks, and the fallback for any
Optuna storage layerlab did not open (``optuna.create_study()`` without a URL).

Nothing here is faster than Optuna's public API, so every operation is that API: a claim is
``set_trial_state_values`` (atomic under the storage's lock), attributes are one call each,
waiting trials are read by filtering the study's trials. ``memory://name`` opens the storage of
that name in this process (reopening it sees the same studies); it has no heartbeat, so a dead
worker's cell is not re-queued (there is no other process to take it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from studies.storage._backend import Backend, StorageOptions
from studies.storage._outage import MAX_DELAY, install_retries

_STORAGES: dict[str, InMemoryStorage] = {}  # memory://name -> its storage, for this process
_LOCK = threading.Lock()


class MemoryBackend(Backend):
    scheme = "memory"

    @classmethod
    def adopts(cls, storage: optuna.storages.BaseStorage) -> bool:
        return True  # registered last: any storage no other backend claims, through Optuna's public API

    @classmethod
    def open(cls, url: str, *, create: bool, options: StorageOptions, wait: bool) -> Backend:
        name = url.split("://", 1)[1]
        with _LOCK:
            storage = _STORAGES.get(name)
            if storage is None:
                storage = _STORAGES[name] = install_retries(InMemoryStorage(), url, options.outage_limit,
                                                            min(MAX_DELAY, options.heartbeat_interval))
        return cls(storage)

    def set_trial_attrs(self, trial_id: int, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None:
        for key, value in (user or {}).items():
            self.storage.set_trial_user_attr(trial_id, key, value)
        for key, value in (system or {}).items():
            self.storage.set_trial_system_attr(trial_id, key, value)

    def add_trials(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        if trials:
            study.add_trials(trials)

    def waiting_ids(self, study: optuna.Study, limit: int) -> list[int]:
        return self.call("looking for waiting cells", lambda: [
            t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))][:limit])

    def claim(self, study: optuna.Study, trial_id: int, token: str) -> bool:
        return self.storage.set_trial_state_values(trial_id, TrialState.RUNNING)
