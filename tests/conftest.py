"""Shared fixtures: a tiny fast preset and a temporary SQLite storage."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

@pytest.fixture(autouse=True)
def _restore_stop_signals():
    """`study launch` and `study worker` run in-process install their stop-signal handlers
    (studies.engine._faults.stop_on_signals); each test gets the process's own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


TINY_PRESET = """\
name: tiny
description: tiny LOLO for tests
sampler: grid
repeats: 2
baseline: {layers: full}
defaults:
  family: seq
  dataset: digits
  channels: 4
  fc_units: 16
  epochs: 1
  batch_size: 64
space:
  layers:
    type: categorical
    choices:
      full: Conv-BN-PL-FCL-AL
      no-BN: Conv-PL-FCL-AL
      no-Conv: BN-PL-FCL-AL
"""


@pytest.fixture
def tiny_preset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_PRESET))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"
