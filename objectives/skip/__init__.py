"""Seed 003 (Gadepally et al.): per-image elimination of irrelevant conv layers.

Importing this package registers the ``skip`` config part (keys ``skip_maps``, ``skip_top``,
``skip_tie``, ``skip_unselected``, ``skip_train_on``, ``skip_routing``, ``skip_router_balance``,
``skip_cnn3_init``, ``router``) and the
``skip_layers`` objective. The network is the ``skip_cnn`` family in ``searchspace``.
"""

# Importing these registers the ``skip`` config part (_config) and the ``skip_layers`` objective
# (_objective); the other modules are what they use.
from objectives.skip import _config, _objective  # noqa: F401
