"""What the layer above (``studies``: the engine, the race, the analysis) uses from the objectives.

Not the researcher's API, which is ``objectives.__all__``: these are the engine's needs (a run's
checks and seeds, the metrics a trial stores, repeats trained together, GPU memory, the collector
around a worker's start-up) and change with it. ``studies`` reaches the objectives through
``objectives`` and this module only, never through a private module (``tests/test_layers.py``), so
that this file is the whole contract between the two packages.

Torch-free names are imported alone on first use: ``study status`` and the spec check read plain
names without importing torch. The others first register the built-in objectives and config
parts, as ``objectives`` does.
"""

from searchspace.interface import lazy_attributes as _lazy_attributes

# name -> the module that defines it; torch-free modules first.
_LIGHT = {
    **dict.fromkeys(("BUILTIN_OBJECTIVES", "SCALAR_METRICS"), "objectives._names"),
    **dict.fromkeys(("JOINT", "SOURCES", "SeedDesign", "parse_vary"), "objectives._seeding"),
    **dict.fromkeys(("PER_IMAGE_ATTRS", "unpack_correct"), "objectives._per_image"),
    **dict.fromkeys(("end_start_up", "own_process", "pause_collection", "resume_collection", "warm_up"),
                    "objectives._warm"),
    "find_dataset": "objectives.catalog._registry",
}
_HEAVY = {
    **dict.fromkeys(("family_keys", "valid_keys"), "objectives._config"),
    "TrainConfig": "objectives.train._config",
    **dict.fromkeys(("check_run", "check_run_shapes"), "objectives._check"),
    **dict.fromkeys(
        ("list_objectives", "objective_config_parts", "objective_report_attrs", "objective_report_description",
         "objective_report_pairs"),
        "objectives._objective",
    ),
    "trial_config": "objectives._trial",
    **dict.fromkeys(("has_resume_point", "plan_batch", "run_repeats", "supports_batch"), "objectives._repeats"),
    "data_shape": "objectives.data._shapes",
    "get_dataset": "objectives.data._registry",
    "resolve_device": "objectives.train._device",
    "checkpoint_owner": "objectives.train._checkpoint",
    "check_batch_mode": "objectives.train._batched",
    "check_precision": "objectives.train._precision",
    **dict.fromkeys(("is_out_of_memory", "release_cached_memory", "trial_footprint"), "objectives.train._gpu"),
}


def _prepare(module: str) -> None:
    if module not in _LIGHT.values():
        from objectives import _load_builtins

        _load_builtins()


__getattr__, __dir__ = _lazy_attributes(__name__, {**_LIGHT, **_HEAVY}, prepare=_prepare)
