"""The lean engine: batched attribute writes, bulk queueing, O(1) claims, lean status reads and the
report's per-group index give the same results as Optuna's one-at-a-time paths."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from studies.engine._cells import cell_trials, count_cells
from studies.storage import BatchedTrial, backend_of, open_storage
from studies.engine._worker import claim_waiting
from tests.studies._util import OPTIONS



# The backend's operations under the names these tests were written with.
def set_trial_attrs(storage, trial_id, user=None, system=None):
    backend_of(storage).set_trial_attrs(trial_id, user=user, system=system)


def add_trials(study, trials):
    backend_of(study).add_trials(study, trials)


def ensure_claim_index(storage):
    backend_of(storage).ensure_claim_index()


def waiting_ids(study, limit=8):
    return backend_of(study).waiting_ids(study, limit)


def has_running(study):
    return backend_of(study).has_running(study)


ATTRS = {"config": {"lr": 0.1, "layers": "Conv-BN"}, "history": [{"epoch": 1, "val": 0.5}], "seed": 3, "flag": True}


@pytest.fixture
def url(storage_url):
    """Each storage in tests/studies/_util.py's STORAGES (PostgreSQL when a test server is set)."""
    return storage_url


def _commits(storage) -> list[int]:
    """A counter of the RDB storage's commits (empty on a journal)."""
    from sqlalchemy import event

    backend = getattr(storage, "_backend", storage)
    count = [0]
    if hasattr(backend, "engine"):
        event.listen(backend.engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


def _study(url: str, name: str = "s") -> optuna.Study:
    storage = open_storage(url, create=True, options=OPTIONS)
    return optuna.create_study(study_name=name, storage=storage, direction="maximize")


def test_attributes_are_written_in_one_transaction_and_read_back_by_optuna(url):
    study = _study(url)
    study.enqueue_trial({}, user_attrs={"repeat": 0})
    trial_id = claim_waiting(study)
    commits = _commits(study._storage)
    set_trial_attrs(study._storage, trial_id, user=ATTRS, system={"layerlab:x": 1})
    assert commits[0] in (0, 1)  # one commit on SQLite; a journal appends once
    fresh = optuna.load_study(study_name="s", storage=open_storage(url, options=OPTIONS)).trials[0]
    assert {k: fresh.user_attrs[k] for k in ATTRS} == ATTRS and fresh.user_attrs["repeat"] == 0
    assert fresh.system_attrs["layerlab:x"] == 1


def test_attributes_written_at_once_equal_optunas_one_by_one_and_overwrite(url):
    study = _study(url)
    study.enqueue_trial({}, user_attrs={"repeat": 0, "seed": 1})
    study.enqueue_trial({}, user_attrs={"repeat": 0, "seed": 1})
    ours, theirs = claim_waiting(study), claim_waiting(study)
    set_trial_attrs(study._storage, ours, user=ATTRS, system={"layerlab:x": 1})  # seed overwritten
    for key, value in ATTRS.items():
        study._storage.set_trial_user_attr(theirs, key, value)
    study._storage.set_trial_system_attr(theirs, "layerlab:x", 1)
    fresh = {t._trial_id: t for t in optuna.load_study(study_name="s", storage=open_storage(url, options=OPTIONS)).trials}
    assert fresh[ours].user_attrs == fresh[theirs].user_attrs == {**ATTRS, "repeat": 0}
    assert fresh[ours].system_attrs["layerlab:x"] == fresh[theirs].system_attrs["layerlab:x"] == 1
    study._storage.set_trial_state_values(ours, TrialState.COMPLETE, [0.5])
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        set_trial_attrs(study._storage, ours, user={"late": 1})


def test_a_batched_trial_sees_its_attributes_at_once_and_writes_them_on_flush(url):
    study = _study(url)
    study.enqueue_trial({}, user_attrs={"repeat": 1})
    trial = BatchedTrial(study, claim_waiting(study))
    for key, value in ATTRS.items():
        trial.set_user_attr(key, value)
    assert trial.user_attrs["seed"] == 3 and trial.user_attrs["repeat"] == 1
    assert "seed" not in study._storage.get_trial(trial._trial_id).user_attrs  # buffered
    trial.report(0.5, 1)  # a report flushes first
    assert study._storage.get_trial(trial._trial_id).user_attrs["history"] == ATTRS["history"]
    trial.set_user_attr("late", 7)
    trial.flush()
    study.tell(trial, 0.5)
    done = optuna.load_study(study_name="s", storage=open_storage(url, options=OPTIONS)).trials[0]
    assert done.state == TrialState.COMPLETE and done.user_attrs["late"] == 7


def test_bulk_queueing_writes_what_enqueue_trial_writes(tmp_path):
    one = _study(f"sqlite:///{tmp_path / 'one.db'}")
    bulk = _study(f"sqlite:///{tmp_path / 'bulk.db'}")
    cells = [({"x": i % 3, "y": "a"}, i // 3) for i in range(7)]
    one.enqueue_trial({"z": 0}, user_attrs={"repeat": 0})  # a trial already there: numbers continue
    bulk.enqueue_trial({"z": 0}, user_attrs={"repeat": 0})
    for params, repeat in cells:
        one.enqueue_trial(params, user_attrs={"repeat": repeat})
    commits = _commits(bulk._storage)
    add_trials(bulk, [optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": p},
                                                user_attrs={"repeat": r}) for p, r in cells])
    assert commits[0] == 1

    def layout(study):
        return [(t.number, t.state, t.params, t.user_attrs, t.system_attrs, t.value) for t in study.get_trials()]

    assert layout(bulk) == layout(one)


def test_claims_take_waiting_trials_in_order_exactly_once(url):
    study = _study(url)
    ensure_claim_index(study._storage)
    ensure_claim_index(study._storage)  # idempotent
    for i in range(12):
        study.enqueue_trial({"x": i}, user_attrs={"repeat": 0})
    assert waiting_ids(study, limit=3) == [t._trial_id for t in study.get_trials()[:3]]
    assert not has_running(study)
    claimed = [claim_waiting(study) for _ in range(5)]
    assert has_running(study)
    other = optuna.load_study(study_name="s", storage=open_storage(url, options=OPTIONS))  # a second worker
    claimed += [claim_waiting(other) for _ in range(7)]
    assert claim_waiting(study) is None and claim_waiting(other) is None
    assert sorted(claimed) == sorted(t._trial_id for t in study.get_trials())
    assert claimed[:5] == sorted(claimed[:5])  # queue order


def test_cell_trials_count_cells_as_full_trials_do(tiny_preset, tmp_path):
    from studies.engine._launch import create_or_resume
    from studies import load_preset
    from studies.engine._cells import requeue

    url = f"sqlite:///{tmp_path / 'c.db'}"
    spec = load_preset(str(tiny_preset))
    study = create_or_resume(spec, url, "c", options=OPTIONS)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    for state, t in zip((TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING), waiting):
        study._storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
        if state != TrialState.RUNNING:
            study._storage.set_trial_state_values(t._trial_id, state, None if state != TrialState.COMPLETE else [0.5])
    study.add_trial(requeue(study._storage.get_trial(waiting[1]._trial_id)))
    lean = cell_trials(study)
    full = study.get_trials(deepcopy=False)
    assert [(t.number, t.state, t.params) for t in lean] == [(t.number, t.state, t.params) for t in full]
    assert count_cells(study, spec) == count_cells(study, spec, full)
    assert count_cells(study, spec).retries == 1


def test_the_study_table_index_matches_masks_over_the_frame():
    from studies.analysis import _collect
    from tests.studies.analysis._synthetic import grid_study

    study = grid_study({"a": ["x", "y", "z"], "b": [1, 2]}, lambda p: 0.5 + 0.1 * (p["a"] == "y"), repeats=3)
    table = _collect.collect(study)
    frame = table.frame
    assert table.groups == list(dict.fromkeys(frame["group"]))
    for group in table.groups:
        mask = frame["group"] == group
        np.testing.assert_array_equal(table.values(group), frame.loc[mask, "value"].to_numpy(dtype=float))
        np.testing.assert_array_equal(table.values(group, "test"), frame.loc[mask, "test"].to_numpy(dtype=float))
        assert table.rows(group).equals(frame[mask])
        assert table.label_of(group) == frame.loc[mask, "label"].iloc[0]
        assert table.params_of(group) == table.trials[int(np.flatnonzero(mask)[0])].params
    assert len(table.values("no such group")) == 0
    only = _collect.restrict(table, {"a": "y"})
    assert only.groups == [g for g in table.groups if table.params_of(g)["a"] == "y"]
    assert all(len(only.values(g)) == 3 for g in only.groups)


def test_a_worker_process_entry_refuses_a_missing_study_in_one_line(tmp_path, capsys):
    from studies.engine._processes import worker_main

    url = f"sqlite:///{tmp_path / 'w.db'}"
    _study(url, "present")
    code = worker_main(["--storage", url, "--study-name", "absent", "--device", "cpu",
                        "--heartbeat-interval", "1", "--grace-period", "8", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "absent" in err and len(err.strip().splitlines()) == 1
