"""The objectives registry: every registered objective is built the way a worker builds it,
with its runtime arguments (the epoch callback included) passed in through the constructor."""

from __future__ import annotations

import pytest

from objectives._objective import ClassifyObjective, list_objectives
from objectives import make_objective
from searchspace._dims import Fixed
from searchspace import Space
from searchspace.errors import RegistryError

SPACE = Space([Fixed("family", value="seq"), Fixed("dataset", value="digits")])


@pytest.mark.parametrize("name", list_objectives())
def test_every_objective_takes_the_workers_arguments_and_keeps_its_epoch_callback(name):
    def on_epoch(stats) -> None:
        pass

    objective = make_objective(name, SPACE, device="cpu", data_dir=None, checkpoint_dir=None, base_seed=3,
                               on_epoch=on_epoch)
    assert callable(objective)
    if isinstance(objective, ClassifyObjective):
        assert objective.on_epoch is on_epoch and objective.base_seed == 3
    assert ClassifyObjective(SPACE, device="cpu").on_epoch is None  # no callback unless given


def test_an_unknown_objective_names_the_registered_ones():
    with pytest.raises(RegistryError, match="unknown objective 'nope'; valid: .*classify"):
        make_objective("nope", SPACE)
