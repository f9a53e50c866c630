"""A kill -9 or a full disk in the middle of `study report` leaves the previous report intact
(searchspace._atomic): the fault is injected while the new report is being written."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cli
from tests.studies._util import ROOT, wait_for
from tests.studies.analysis._synthetic import grid_study

pytestmark = pytest.mark.faults

MEANS = {"full": 0.9, "no-BN": 0.8, "no-PL": 0.7}


@pytest.fixture
def reported(tmp_path):
    """A study, and its report written once: (storage URL, report path, the report's bytes)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    grid_study({"layers": tuple(MEANS)}, lambda p: MEANS[p["layers"]], storage=url, name="r")
    out = tmp_path / "out" / "r.html"
    code, err = _report(url, out)
    assert code == 0, err
    return url, out, out.read_bytes()


def _args(url: str, out: Path) -> list[str]:
    return ["study", "report", "--storage", url, "--study-name", "r", "--out", str(out), "--bootstrap", "0",
            "--datasets", "none", "--plotly", "cdn", "--no-upload", "--no-progress"]


def _report(url: str, out: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(_args(url, out))
    return code, err.getvalue()


@contextlib.contextmanager
def _disk_full_after(limit: int, directory: Path):
    """Every file opened for writing under ``directory`` raises ENOSPC once ``limit`` bytes went to
    it (whichever way it was opened: open, Path.write_*, os.fdopen): a disk filling mid-write."""
    real_open, real_fdopen = io.open, os.fdopen

    class Filling:
        def __init__(self, handle):
            self._handle, self._written = handle, 0

        def write(self, data):
            room = limit - self._written
            if len(data) > room:
                self._handle.write(data[:max(room, 0)])
                self._handle.flush()
                raise OSError(errno.ENOSPC, "No space left on device")
            self._written += len(data)
            return self._handle.write(data)

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._handle.__exit__(*exc)

    def watched(path: str) -> bool:
        return str(path).startswith(str(directory))

    def fake_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(m in mode for m in "wax") and isinstance(file, (str, os.PathLike))
        return Filling(handle) if writing and watched(os.fspath(file)) else handle

    def fake_fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return Filling(handle) if "w" in mode and watched(os.readlink(f"/proc/self/fd/{fd}")) else handle

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(io, "open", fake_open)
        patch.setattr("builtins.open", fake_open)
        patch.setattr(os, "fdopen", fake_fdopen)
        yield


def test_a_full_disk_mid_report_keeps_the_previous_report(reported):
    url, out, before = reported
    with _disk_full_after(4096, out.parent):
        code, err = _report(url, out)
    assert code == 4, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    assert "previous report there is unchanged" in lines[0], err
    assert "Traceback" not in err
    assert out.read_bytes() == before, "the previous report was damaged"
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.html"], "no temporary file remains"


# Runs `study report` with every write under $SLOW_DIR slowed to 64 KiB every 20 ms (a slow disk),
# whichever way the file was opened, so the test can kill it in the middle of writing the report.
SLOW_DISK = textwrap.dedent("""\
    import builtins, io, os, sys, time
    slow_dir, real_open, real_fdopen = os.environ["SLOW_DIR"], io.open, os.fdopen

    class Slow:
        def __init__(self, handle):
            self._handle = handle
        def write(self, data):
            for start in range(0, len(data), 65536):
                self._handle.write(data[start:start + 65536])
                self._handle.flush()
                time.sleep(0.02)
            return len(data)
        def __getattr__(self, name):
            return getattr(self._handle, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self._handle.__exit__(*exc)

    def slow_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(m in mode for m in "wax") and isinstance(file, (str, os.PathLike))
        return Slow(handle) if writing and os.fspath(file).startswith(slow_dir) else handle

    def slow_fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return Slow(handle) if "w" in mode and os.readlink(f"/proc/self/fd/{fd}").startswith(slow_dir) else handle

    builtins.open = io.open = slow_open
    os.fdopen = slow_fdopen
    import cli
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_kill_9_of_study_report_mid_write_keeps_the_previous_report(reported, tmp_path):
    url, out, before = reported
    args = _args(url, out)
    args[args.index("cdn")] = "inline"  # plotly.js inside: about 4.6 MB, written over a second or more
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLOW_DIR": str(out.parent)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_DISK, *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def writing():  # over 64 KiB of the new report reached the disk, wherever it goes
            if proc.poll() is not None:
                raise AssertionError(f"exited {proc.returncode} before the kill: {proc.stderr.read()[-2000:]}")
            files = list(out.parent.iterdir())
            return any(p.stat().st_size > 65536 and (p != out or p.read_bytes() != before) for p in files)

        wait_for(writing, timeout=240, every=0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == before, "the previous report was damaged by a kill mid-write"
