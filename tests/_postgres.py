"""A throwaway PostgreSQL server that a test or a benchmark may stop and start (an outage).

Started by ``.ci/postgres.sh`` (the same server the CI's tests use, on 127.0.0.1), driven with
``pg_ctl``: ``tests/studies/test_outages.py`` stops it mid-study, ``benchmarks/soak.py`` restarts
it at random.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "postgres.sh"


class PostgresServer:
    """A server of its own: ``url``, ``stop()`` (immediate), ``start()``, ``restart(down)``, ``remove()``."""

    def __init__(self, timeout: float = 300) -> None:
        done = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"could not start a PostgreSQL server: {done.stderr[-2000:]}")
        exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines()
                       if line.startswith("export "))
        self.dir, self.url = Path(exports["LAYERLAB_PG_DIR"]), exports["LAYERLAB_TEST_POSTGRES_URL"]
        words = shlex.split((self.dir / "data" / "postmaster.opts").read_text())  # postgres -D DIR options...
        self.bin, self.options = Path(words[0]).parent, shlex.join(words[3:])

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, cwd="/", check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        self._ctl("-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o", self.options, "start")

    def restart(self, down: float) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def remove(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(self.dir)], capture_output=True, timeout=300)
