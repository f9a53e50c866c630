"""The analysis of a study: which choices mattered, and how far to trust that. Private to
``studies``: its entry points are ``studies.build_report``, ``compare_studies``,
``aggregate_studies`` and ``dataset_statistics``; the modules here are its parts (docs/map.md).

Works on layerlab studies and on studies made by hand: trial user attributes ``config_id``,
``repeat``, ``seed``, ``test_accuracy``, ``history`` and ``confusion`` are used when present,
with graceful fallbacks when absent (``_collect.collect``).
"""
