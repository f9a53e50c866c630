"""Flat configs -> RunConfig: splitting, defaults, validation."""

from __future__ import annotations

import pytest

from objectives import RunConfig
from searchspace import ConfigError, FamilyError, LayerlabError


def test_flat_config_splits_into_model_data_train():
    run = RunConfig.from_flat({"family": "seq", "layers": "BN-Conv-FCL", "dataset": "mnist5k", "lr": 0.01, "epochs": 3})
    assert run.family == "seq"
    assert run.model["layers"] == ["BN", "Conv", "FCL"]  # decoded whatever the spelling
    assert run.model["channels"] == 32  # family default filled in
    assert run.data.dataset == "mnist5k" and run.train.lr == 0.01 and run.train.epochs == 3
    flat = run.to_flat()
    assert RunConfig.from_flat(flat) == run
    assert RunConfig.from_flat(flat).config_id == run.config_id


def test_layer_spellings_share_a_config_id():
    a = RunConfig.from_flat({"family": "seq", "layers": "Conv-BN-FCL"})
    b = RunConfig.from_flat({"family": "seq", "layers": ["Conv", "BN", "FCL"]})
    assert a.config_id == b.config_id


def test_keys_of_other_families_are_dropped_not_errors():
    run = RunConfig.from_flat({"family": "seq", "depth": 34, "dropout": 0.5})
    assert "depth" not in run.to_flat() and run.model["dropout"] == 0.5


@pytest.mark.parametrize(
    "flat, fragment",
    [
        ({"family": "seq", "lrr": 0.1}, "unknown config key 'lrr'"),
        ({"family": "seqq"}, "unknown family 'seqq'"),
        ({"family": "seq", "lr": -1.0}, "lr must be a positive number"),
        ({"family": "seq", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"family": "seq", "patience": -1}, "patience must be an integer >= 0"),
        ({"family": "seq", "split": "random"}, "unknown split 'random'"),
        ({"family": "seq", "val_size": 1.5}, "val_size must be a fraction"),
        ({"family": "seq", "lr": "fast"}, "lr must be a number"),
        ({"dataset": "digits"}, "config has no 'family'"),
        ({"family": "seq", "layers": "Conv-Pool"}, "unknown layer token"),
    ],
)
def test_bad_values_are_one_line_errors(flat, fragment):
    with pytest.raises(LayerlabError) as err:
        RunConfig.from_flat(flat)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, (ConfigError, FamilyError, ValueError))
