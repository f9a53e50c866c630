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


def test_a_kill_9_mid_write_leaves_a_hidden_temporary_that_only_its_target_names(tmp_path):
    """A real SIGKILL inside the write: the previous file is intact, and the temporary it leaves is
    found for that target only (never for a neighbour whose name it starts with)."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "c-r0.pt"
    target.write_bytes(b"old")
    (tmp_path / ".c-r0.pt2.x1y2.tmp").write_bytes(b"n")  # what a killed write of c-r0.pt2 leaves
    script = ("import os, signal, sys; from searchspace._atomic import atomic_write\n"
              "def die(handle):\n    handle.write(b'half'); handle.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
              "atomic_write(sys.argv[1], die, previous=sys.argv[1] + '.prev')\n")
    done = subprocess.run([sys.executable, "-c", script, str(target)], cwd=os.getcwd(), timeout=60)
    assert done.returncode == -signal.SIGKILL
    from searchspace._atomic import leftover_temporaries

    left = leftover_temporaries(target)
    assert len(left) == 1 and left[0].name.startswith(".c-r0.pt.") and left[0].read_bytes() == b"half"
    assert target.read_bytes() == b"old"
    assert [p.name for p in leftover_temporaries(tmp_path / "c-r0.pt2")] == [".c-r0.pt2.x1y2.tmp"]
