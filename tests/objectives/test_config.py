"""Flat configs -> RunConfig: splitting, defaults, validation."""

from __future__ import annotations

import dataclasses

import pytest

from objectives import RunConfig
from objectives._config import register_config_part, valid_keys
from objectives._config import _PARTS
from searchspace import ConfigError, LayerlabError
from searchspace._errors import FamilyError, RegistryError


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


# --- extra config parts (objectives register their own keys) -----------------------------------

@pytest.fixture
def toy_part():
    @dataclasses.dataclass(frozen=True)
    class ToyConfig:
        toy_depth: int = 2  # a positive int
        toy_mode: str = "a"  # a | b

        def validate(self, run):
            if self.toy_depth < 1 or self.toy_mode not in ("a", "b"):
                raise ConfigError(f"bad toy config {self.toy_depth!r}/{self.toy_mode!r} for family {run.family}")

    register_config_part("toy")(ToyConfig)
    yield ToyConfig
    del _PARTS["toy"]


def test_a_config_part_is_filled_from_the_flat_config(toy_part):
    plain = RunConfig.from_flat({"family": "seq", "lr": 0.01})
    assert plain.parts == {}  # not asked for and no key given: the config is what it always was
    assert "toy_depth" not in plain.to_flat()
    asked = RunConfig.from_flat({"family": "seq", "lr": 0.01}, parts=["toy"])
    assert asked.part("toy") == toy_part() and asked.to_flat()["toy_mode"] == "a"  # defaults stored
    given = RunConfig.from_flat({"family": "seq", "toy_depth": 5.0})
    assert given.part("toy") == toy_part(toy_depth=5) and isinstance(given.part("toy").toy_depth, int)
    assert RunConfig.from_flat(given.to_flat()) == given  # round trip
    assert given.config_id != RunConfig.from_flat({"family": "seq"}).config_id
    assert "toy_mode" in valid_keys()


def test_a_config_part_validates_and_unknown_keys_still_fail(toy_part):
    with pytest.raises(ConfigError, match="bad toy config 2/'c' for family seq"):
        RunConfig.from_flat({"family": "seq", "toy_mode": "c"})
    with pytest.raises(ConfigError, match="unknown config key 'toy_width'"):
        RunConfig.from_flat({"family": "seq", "toy_width": 3})
    with pytest.raises(RegistryError, match="unknown config part 'toyy'; valid: .*toy"):
        RunConfig.from_flat({"family": "seq"}, parts=["toyy"])
    with pytest.raises(RegistryError, match="config part 'toy' is not resolved"):
        RunConfig.from_flat({"family": "seq"}).part("toy")


def test_config_parts_cannot_take_a_name_or_key_twice(toy_part):
    with pytest.raises(RegistryError, match="already registered"):
        register_config_part("toy")(toy_part)

    @dataclasses.dataclass(frozen=True)
    class Clash:
        lr: float = 0.1  # a TrainConfig key

        def validate(self, run):
            pass

    with pytest.raises(RegistryError, match="reuses key"):
        register_config_part("clash")(Clash)
    assert "clash" not in _PARTS


def test_keys_added_later_keep_existing_config_ids_at_their_old_value():
    plain = RunConfig.from_flat({"family": "seq", "dataset": "digits"})
    assert plain.model["padding"] == "same" and (plain.model["bn_momentum"], plain.model["bn_eps"]) == (0.1, 1e-5)
    spelled = RunConfig.from_flat({"family": "seq", "dataset": "digits", "padding": "same", "bn_eps": 1e-5})
    assert spelled.config_id == plain.config_id == "990cad5c6d86"  # the id before these keys existed
    keras = {"padding": "valid", "bn_momentum": 0.01, "bn_eps": 1e-3}
    ids = {RunConfig.from_flat({"family": "seq", "dataset": "digits", k: v}).config_id for k, v in keras.items()}
    assert len(ids) == 3 and plain.config_id not in ids
    assert "bn_momentum" not in RunConfig.from_flat({"family": "skip_cnn", "dataset": "digits"}).to_flat()
