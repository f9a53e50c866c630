"""Checkpoints: checksummed, atomic, the previous one kept, damaged ones moved aside, taken by time."""

from __future__ import annotations

import errno
import logging
import os

import pytest
import torch

from objectives.train import _checkpoint
from objectives.train._checkpoint import Checkpointer, checkpoint_interval, load_checkpoint, save_checkpoint


def _state(n: int) -> dict:
    return {"n": n, "w": torch.arange(4096, dtype=torch.float32) * n}


def _files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_checkpoint_round_trips_and_keeps_the_previous_one(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    assert _files(tmp_path) == ["c.pt", "c.pt.prev"]
    state = load_checkpoint(path)
    assert state["n"] == 2 and torch.equal(state["w"], _state(2)["w"])


@pytest.mark.parametrize("how", ["truncated", "overwritten", "random", "empty"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, how, caplog):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    blob = path.read_bytes()
    damaged = {
        "truncated": blob[: len(blob) - 100],
        "overwritten": blob[:200] + bytes(1024) + blob[1224:],
        "random": os.urandom(len(blob)),
        "empty": b"",
    }[how]
    path.write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="layerlab"):
        state = load_checkpoint(path)
    assert state["n"] == 1
    (message,) = [r.getMessage() for r in caplog.records]
    assert str(path) in message and "damaged" in message and "previous checkpoint" in message
    assert _files(tmp_path) == ["c.pt.damaged", "c.pt.prev"]


def test_with_no_good_checkpoint_left_the_fit_starts_at_epoch_0(tmp_path, caplog):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state(1))
    path.write_bytes(path.read_bytes()[:50])
    with caplog.at_level(logging.WARNING, logger="layerlab"):
        assert load_checkpoint(path) is None
    assert "epoch 0" in caplog.records[0].getMessage()


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state(1))

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_checkpoint.os, "fsync", no_space)
    with pytest.raises(OSError) as caught:
        save_checkpoint(path, _state(2))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)  # the path is named
    assert _files(tmp_path) == ["c.pt"]
    assert load_checkpoint(path)["n"] == 1


def test_removing_a_finished_cells_checkpoint_also_removes_what_a_killed_save_left(tmp_path):
    """A kill -9 mid-save leaves a hidden temporary beside the checkpoint (see test_atomic); when the
    resumed cell finishes, its removal takes that too, and leaves other cells' files alone."""
    from objectives.train._checkpoint import remove_checkpoint

    path, other = tmp_path / "a-r0.pt", tmp_path / "a-r1.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    save_checkpoint(other, _state(3))
    (tmp_path / ".a-r0.pt.k9x_2ab.tmp").write_bytes(b"half")  # a save of a-r0.pt killed mid-write
    (tmp_path / ".a-r1.pt.k9x_3cd.tmp").write_bytes(b"half")
    remove_checkpoint(path)
    assert _files(tmp_path) == [".a-r1.pt.k9x_3cd.tmp", "a-r1.pt"]


def test_checkpoints_are_taken_by_time(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(_checkpoint.time, "monotonic", lambda: clock[0])
    saver = Checkpointer(tmp_path / "c.pt", interval=30)
    assert saver.load() is None and not saver.due()
    clock[0] += 29.9
    assert not saver.due()
    clock[0] += 0.1
    assert saver.due()
    saver.save(_state(1))
    assert not saver.due()  # the clock restarts at each save


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("LAYERLAB_CHECKPOINT_INTERVAL", raising=False)
    assert checkpoint_interval() == 30.0
    monkeypatch.setenv("LAYERLAB_CHECKPOINT_INTERVAL", "0")
    assert checkpoint_interval() == 0.0
    monkeypatch.setenv("LAYERLAB_CHECKPOINT_INTERVAL", "soon")
    from searchspace import ConfigError

    with pytest.raises(ConfigError, match="LAYERLAB_CHECKPOINT_INTERVAL"):
        checkpoint_interval()
