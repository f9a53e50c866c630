"""Storages: one interface the engine talks to (:class:`Backend`), one module per kind of storage.

``open_storage(url)`` opens a storage for Optuna; ``backend_of(study)`` is the backend running a
study's storage, with the operations Optuna's public API lacks (claims, batched writes,
heartbeats judged on answered time, the study lock). The backends are registered by URL scheme
(``_registry.list_schemes()``): ``sqlite`` (``_sqlite``), ``postgresql`` (``_postgres``), ``mysql`` (the
plain RDB backend, ``_rdb``), ``journal`` (``_journal``) and ``memory`` (``_memory``, also the
fallback for storages opened outside layerlab). Only the modules of this package touch Optuna's
private attributes. Storage calls wait out outages (``_outage``); what a storage failure is lives
in ``_faults``. Nothing here imports the engine.

Private to ``studies``: the names below are what the engine uses (``StorageOptions`` is also
``studies.StorageOptions``); ``tests/studies/storage/test_contract.py`` holds every backend to them.
"""

from studies.storage._backend import (
    DEFAULT_STORAGE,
    Backend,
    StorageOptions,
    backend_of,
    close_storage,
    close_storages,
    open_storage,
    trial_id_of,
)
from studies.storage._faults import _STOPPING as stopping
from studies.storage._faults import as_fault, disk_full_path, first_line, is_lock_error, is_transient
from studies.storage._journal import JournalBackend
from studies.storage._memory import MemoryBackend
from studies.storage._outage import CLOCK as outage_clock
from studies.storage._outage import StorageUnanswered, outage_fault, single_attempt
from studies.storage._postgres import PostgresBackend
from studies.storage._rdb import RdbBackend
from studies.storage._registry import redact, register, storage_file
from studies.storage._sqlite import SqliteBackend
from studies.storage._trial import BatchedTrial

# The order matters twice: it is the order list_schemes() names them in, and backend_of() asks
# each in turn whether it runs a storage opened elsewhere (MemoryBackend, last, takes any).
for _cls in (SqliteBackend, PostgresBackend, RdbBackend, JournalBackend, MemoryBackend):
    register(_cls)
del _cls
