"""A worker process's start-up: imports made ahead of time, and the collector kept off them.

A worker process started by ``study launch`` is gated: it waits while the launch validates the
spec and queues the cells (``studies.engine._processes``). Importing here, in that wait, moves seconds of
CPU off the first trial's critical path, on a core the launch is not using.

The collector: importing torch, torch._dynamo and scikit-learn creates millions of objects that
live as long as the process. While they are created, each full collection walks all of those made
so far: seven of them took 0.8 s of a 4 s demo start-up here, and the interpreter walked them all
again at exit (1.3 s). So the start-up of a launch or a worker runs with the collector paused
(:func:`pause_collection`), and :func:`end_start_up` then moves every object alive to the
permanent generation (``gc.freeze``, which later collections and the ones at exit skip) and
resumes it; what the trials create is collected as before.

Freezing is for layerlab's own processes only (``cli.py`` and the worker processes call
:func:`own_process`): a frozen object is never collected, so in a user's process (a notebook
calling ``launch``) a frozen cycle that became garbage later would never be freed. There the
start-up only runs with the collector paused.
"""

from __future__ import annotations

import gc
import importlib

WARM_MODULES = (
    "objectives.skip",  # the objectives and config parts an objective may name
    "torch._dynamo",  # constructing the first torch.optim optimizer imports it (~1.1 s of CPU here)
    "sklearn.model_selection",  # every stratified split (objectives.data._splits; ~1 s)
)

_state = {"paused": False, "frozen": False, "own": False}


def own_process() -> None:
    """Mark this process as layerlab's own (an entry point's first step): :func:`end_start_up`
    may then freeze its objects."""
    _state["own"] = True


def pause_collection() -> None:
    """Pause the cyclic collector until :func:`end_start_up` or :func:`resume_collection` (a collector
    already off stays off: it was not ours to turn on)."""
    if gc.isenabled() and not _state["frozen"]:
        gc.disable()
        _state["paused"] = True


def resume_collection() -> None:
    """Turn the collector back on if :func:`pause_collection` turned it off."""
    if _state["paused"]:
        _state["paused"] = False
        gc.enable()


def end_start_up() -> None:
    """In layerlab's own process (:func:`own_process`) the first call freezes every object alive
    (the imports' objects, which live as long as the process); the collector resumes."""
    if _state["own"] and not _state["frozen"]:
        _state["frozen"] = True
        gc.freeze()
    resume_collection()


def warm_up(device: str = "auto") -> None:
    """Import what a trial of the built-in objectives imports on first use (:data:`WARM_MODULES`),
    on a CUDA ``device`` create the CUDA context and load the kernels every trial runs
    (``objectives.train._gpu.warm_cuda``), then :func:`end_start_up`. Only a gated worker process
    does this, while it waits anyway, so a worker pays it once and no trial does; a worker in a
    running process leaves the imports to the trials (an objective that trains nothing never pays them)."""
    for module in WARM_MODULES:
        importlib.import_module(module)
    if device != "cpu":
        import torch

        if torch.cuda.is_available() and (device in ("auto", "cuda") or device.startswith("cuda:")):
            from objectives.train._gpu import warm_cuda

            warm_cuda("cuda" if device == "auto" else device)
    end_start_up()
