"""The study engine: launch, workers, cells and claims, racing, faults and GPU sharing.

Every module here is private (its names may change); the public entry points are re-exported by
:mod:`studies` (``launch``, ``run_worker``, ``command_process``, ``run_dashboard``,
``RaceSettings``). The engine stands on the study spec and presets (``studies/_spec.py``,
``studies/_presets.py``) and on :mod:`studies.storage`, and never imports the analysis
(``tests/test_layers.py`` holds that).
"""
