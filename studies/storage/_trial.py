"""A trial whose attributes are written in a few storage transactions, not one per attribute.

Optuna's storages write one attribute per call (``set_trial_user_attr``), and on an RDB storage
each call is its own transaction: a SQLite commit or a PostgreSQL round trip. A trial stores about
25 attributes, so that was most of a short trial's storage time. :class:`BatchedTrial` buffers
``set_user_attr`` and writes the buffer with the backend's ``set_trial_attrs`` (one transaction on
an RDB storage, one append on a journal).
"""

from __future__ import annotations

import copy
from typing import Any

import optuna

from studies.storage._backend import backend_of


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
            backend_of(self.storage).set_trial_attrs(self._trial_id, user=pending)
