"""A worker's start-up: the collector paused over the imports, then the long-lived objects frozen."""

from __future__ import annotations

import gc
import subprocess
import sys

from tests.studies._util import ROOT

CODE = """
import gc, sys
from objectives._warm import WARM_MODULES, end_start_up, pause_collection, resume_collection, warm_up
from objectives._warm import own_process
pause_collection()
assert not gc.isenabled()
resume_collection()
assert gc.isenabled() and gc.get_freeze_count() == 0
pause_collection()
warm_up()  # a user's process (a notebook): imports, resumes, never freezes
assert gc.isenabled() and gc.get_freeze_count() == 0
own_process()  # cli.py and the worker processes
pause_collection()
warm_up()
assert gc.isenabled() and gc.get_freeze_count() > 100_000, gc.get_freeze_count()
assert all(m in sys.modules for m in WARM_MODULES)
pause_collection()  # once frozen, the start-up is over: never paused again
assert gc.isenabled()
count = gc.get_freeze_count()
end_start_up()  # once per process
assert gc.get_freeze_count() == count
gc.disable()
resume_collection()  # a collector the caller turned off is not ours to turn on
assert not gc.isenabled()
print("ok")
"""


def test_the_collector_is_paused_over_the_start_up_and_the_imports_frozen():
    # a fresh interpreter: own_process and the freeze are once per process
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_launch_in_this_process_leaves_the_collector_on(tiny_preset, sqlite_url):
    from studies import launch, load_preset

    launch(load_preset(str(tiny_preset)), storage=sqlite_url, study_name="w", progress=False, queue_only=True)
    assert gc.isenabled()
