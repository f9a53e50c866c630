"""Seed 003 (Gadepally et al.): per-image elimination of irrelevant conv layers.

Importing this package registers the ``skip`` config part (keys ``skip_maps``, ``skip_top``,
``skip_tie``, ``skip_unselected``, ``skip_train_on``, ``skip_routing``, ``skip_router_balance``,
``skip_cnn3_init``, ``router``) and the
``skip_layers`` objective. The network is the ``skip_cnn`` family in ``searchspace``.
"""

from objectives.skip._config import SkipConfig, router_run
from objectives.skip._labels import (
    assign_labels,
    map_scores,
    oversample,
    score_thresholds,
    threshold_selection,
    top_selection,
)
from objectives.skip._objective import SkipObjective
from objectives.skip._pipeline import SkipResult, run_pipeline
from objectives.skip._routed import predict, routed_forward, seconds_per_image

__all__ = [
    "SkipConfig",
    "SkipObjective",
    "SkipResult",
    "assign_labels",
    "map_scores",
    "oversample",
    "predict",
    "routed_forward",
    "router_run",
    "run_pipeline",
    "score_thresholds",
    "seconds_per_image",
    "threshold_selection",
    "top_selection",
]
