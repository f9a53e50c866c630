"""What the layers above (``objectives``, ``studies``) use from searchspace beyond its public API.

Not the researcher's API, which is ``searchspace.__all__``: these are the pieces the objectives and
the engine build on (sampling a trial, grid sizes, config ids, layer strings, a family's keys, the
atomic file write, lazy package attributes) and they change with them. The packages above reach
searchspace through ``searchspace``, this module and ``searchspace.errors`` only, never through a
private module (``tests/test_layers.py``).

The families import torch: their names are imported on first use (PEP 562).
"""

import sys as _sys

from searchspace._atomic import atomic_write, leftover_temporaries
from searchspace._lazy import lazy_attributes
from searchspace._space import config_id, grid_size, random_configs, sample
from searchspace._tokens import parse_layers


def loaded_families() -> list[str] | None:
    """The live family registry's names once the families are imported (a family you registered
    counts), else None, without importing them (and torch): the name check before torch uses it."""
    registry = _sys.modules.get("searchspace.families._registry")
    return None if registry is None else registry.list_families()


__getattr__, __dir__ = lazy_attributes(__name__, {
    **dict.fromkeys(("INIT_SCHEMES", "family_params", "get_family", "list_families"), "searchspace.families"),
    "resolve_widths": "searchspace.families._skip",
})
