"""The model of a run for its data: the one place a trial's config becomes an ``nn.Module``.

Its own module so that the trainer, the precision probe and the GPU footprint probe all build the
same model without importing one another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from searchspace import build_model

if TYPE_CHECKING:  # objectives._config imports the train package's config module
    from objectives._config import RunConfig
    from objectives.data import PreparedData

# Makes the model of a config for the data (in_channels, num_classes, input_size come from it).
ModelBuilder = Callable[["RunConfig", "PreparedData"], nn.Module]


def build_for_data(run: RunConfig, data: PreparedData) -> nn.Module:
    """The default :data:`ModelBuilder`: the config's family, built for the data's shapes."""
    return build_model(
        run.family,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        input_size=data.input_size,
        init=run.init,
        **run.model,
    )
