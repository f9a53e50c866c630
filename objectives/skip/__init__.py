"""Seed 003 (Gadepally et al.): per-image elimination of irrelevant conv layers.

Importing this package registers the ``skip`` config part (keys ``skip_maps``, ``skip_top``,
``skip_tie``, ``skip_unselected``, ``skip_train_on``, ``skip_routing``, ``skip_router_balance``,
``skip_cnn3_init``, ``router``) and the
``skip_layers`` objective. The network is the ``skip_cnn`` family in ``searchspace``.
"""

# Every module of the package, imported as the package always did: importing them fills the
# registries (loaders, optimizers, schedules, augmentations, the skip config part and objective).
from objectives.skip import _config  # noqa: F401
from objectives.skip import _labels  # noqa: F401
from objectives.skip import _objective  # noqa: F401
from objectives.skip import _pipeline  # noqa: F401
from objectives.skip import _routed  # noqa: F401
