"""atomic_write: the previous file survives any failure in the middle of a write."""

from __future__ import annotations

import errno
import os

import pytest

from searchspace._atomic import atomic_write


def test_writes_bytes_text_or_through_a_writer_and_keeps_the_previous_file_when_asked(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, "one")
    atomic_write(target, b"two", previous=tmp_path / "f.prev")
    assert target.read_text() == "two" and (tmp_path / "f.prev").read_text() == "one"
    atomic_write(target, lambda handle: handle.write(b"three"))
    assert target.read_text() == "three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.prev", "f.txt"]  # no temporary file left


def test_a_full_disk_mid_write_leaves_the_previous_file_and_names_the_path(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("previous")

    def half_then_full(handle):
        handle.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        atomic_write(target, half_then_full)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_text() == "previous" and os.listdir(tmp_path) == ["report.html"]


def test_an_interrupt_mid_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "a.pt"
    target.write_bytes(b"old")

    def interrupted(handle):
        handle.write(b"new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted, previous=tmp_path / "a.pt.prev")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.pt"]


def test_a_written_file_gets_the_mode_open_would_give_it(tmp_path):
    import os

    from searchspace._atomic import atomic_write

    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o644  # not mkstemp's private 0600
