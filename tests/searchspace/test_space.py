"""Dimensions, spaces, grids and sampling."""

from __future__ import annotations

import itertools
import math

import optuna
import pytest

from searchspace._dims import Bool, Fixed, When
from searchspace import Categorical, Float, Int, Ordering, Presence, Space, SpaceError, Variants, grid_points
from searchspace._space import config_id, grid, grid_size, params_to_config, random_configs, sample
from searchspace._tokens import parse_layers

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASESEQ = ("Conv", "BN", "PL", "DropL", "FCL", "AL")


# -- tokens ------------------------------------------------------------------------------------


def test_parse_layers_expands_groups_and_arguments():
    assert parse_layers("Conv-BN-PL:avg-AL:tanh") == ["Conv", "BN", "PL:avg", "AL:tanh"]
    assert parse_layers("(Conv-PL-UpSamp)x3-FCL-AL") == ["Conv", "PL", "UpSamp"] * 3 + ["FCL", "AL"]
    assert parse_layers("none") == []
    assert parse_layers(["BN", "Conv"]) == ["BN", "Conv"]


@pytest.mark.parametrize(
    "bad, fragment",
    [("Conv-Pool", "unknown layer token 'Pool'"), ("PL:median", "bad pool kind"), ("Conv-", "trailing"),
     ("(Conv-PL", "unbalanced"), ("BN:3", "takes no argument"), ("(Conv)x0", "repeat count")],
)
def test_parse_layers_rejects_bad_strings(bad, fragment):
    with pytest.raises(SpaceError) as err:
        parse_layers(bad)
    assert fragment in str(err.value)


# -- grid sizes ----------------------------------------------------------------------------------


def test_all_orderings_of_four_tokens_is_24_configs():
    space = Space([Ordering("order", tokens=("Conv", "BN", "PL", "DropL"), suffix=("FCL", "AL"))])
    configs = grid(space)
    assert len(configs) == 24 == grid_size(space)
    layers = {tuple(c["layers"]) for c in configs}
    assert len(layers) == 24
    assert all(c["layers"][-2:] == ["FCL", "AL"] for c in configs)
    assert set(layers) == {(*p, "FCL", "AL") for p in itertools.permutations(("Conv", "BN", "PL", "DropL"))}


def test_ordering_param_is_canonical_string_and_config_holds_list():
    space = Space([Ordering("order", tokens=("BN", "Conv"), prefix=("UpSamp",))])
    points = grid_points(space)
    assert [p.params["order"] for p in points] == ["BN-Conv", "Conv-BN"]
    assert points[0].config == {"layers": ["UpSamp", "BN", "Conv"]}


def test_ordering_with_presence_counts_every_subset_in_every_order():
    # BN and DropL each present or absent, in any order: {}, {BN}, {DropL}, BN-DropL, DropL-BN
    space = Space([Ordering("bn_drop", tokens=("BN", "DropL"), optional=("BN", "DropL"), suffix=("FCL",))])
    configs = grid(space)
    assert len(configs) == 5 == grid_size(space)
    assert sorted(tuple(c["layers"]) for c in configs) == sorted(
        [("FCL",), ("BN", "FCL"), ("DropL", "FCL"), ("BN", "DropL", "FCL"), ("DropL", "BN", "FCL")]
    )
    # 3 tokens, 2 optional: sum_k C(2,k) (1+k)! = 1 + 2*2 + 6 = 11
    space3 = Space([Ordering("o", tokens=("Conv", "BN", "DropL"), optional=("BN", "DropL"))])
    assert grid_size(space3) == 11 == len(grid(space3))


def test_cartesian_product_with_conditionals_expands_only_where_active():
    space = Space([
        Categorical("optimizer", choices=("sgd", "adam", "rmsprop")),
        Float("momentum", low=0.0, high=0.99, grid=(0.0, 0.9), when=When("optimizer", ("sgd", "rmsprop"))),
        Categorical("lr", choices=(0.1, 0.01)),
    ])
    configs = grid(space)
    # sgd and rmsprop: 2 momenta x 2 lrs each; adam: 2 lrs
    assert len(configs) == 2 * 2 + 2 + 2 * 2 == grid_size(space)
    assert all("momentum" not in c for c in configs if c["optimizer"] == "adam")
    assert all("momentum" in c for c in configs if c["optimizer"] != "adam")


def test_conditional_key_shared_by_exclusive_dimensions():
    space = Space([
        Categorical("family", choices=("resnet", "cifar_resnet", "seq")),
        Categorical("resnet_depth", choices=(18, 34), key="depth", when=When("family", ("resnet",))),
        Categorical("cifar_depth", choices=(20, 32, 44), key="depth", when=When("family", ("cifar_resnet",))),
    ])
    configs = grid(space)
    assert len(configs) == 2 + 3 + 1
    assert {c.get("depth") for c in configs if c["family"] == "cifar_resnet"} == {20, 32, 44}
    assert "depth" not in next(c for c in configs if c["family"] == "seq")


def test_a_variants_parent_and_its_child_may_share_a_key_in_disjoint_options():
    # A walk: option "a" sets batch_size itself; the batch_size dimension searches it under "b".
    space = Space([
        Variants("step", options={"a": {"batch_size": 8}, "b": {}, "c": {}}),
        Categorical("batch_size", choices=(16, 32), when=When("step", ("b",))),
    ])
    assert [c.get("batch_size") for c in grid(space)] == [8, 16, 32, None]
    with pytest.raises(SpaceError, match="both set config key"):
        Space([*space, Categorical("bs", key="batch_size", choices=(1,), when=When("step", ("a",)))])


def test_presence_is_a_factorial_ablation():
    space = Space([
        Fixed("layers", value="Conv-BN-PL-DropL-FCL-AL"),
        Presence("has_BN", token="BN"),
        Presence("has_DropL", token="DropL"),
    ])
    configs = grid(space)
    assert len(configs) == 4
    assert ["Conv", "PL", "FCL", "AL"] in [c["layers"] for c in configs]
    assert ["Conv", "BN", "PL", "DropL", "FCL", "AL"] in [c["layers"] for c in configs]


def test_variants_set_several_keys_and_labels_are_params():
    space = Space([Variants("model", options={
        "Res64to512": {"family": "resnet", "widths": [64, 128, 256, 512]},
        "BaseSeq": {"family": "seq", "layers": "Conv-BN-PL-DropL-FCL-AL"},
    })])
    points = grid_points(space)
    assert [p.params["model"] for p in points] == ["Res64to512", "BaseSeq"]
    assert points[0].config == {"family": "resnet", "widths": [64, 128, 256, 512]}


def test_list_valued_categorical_uses_string_labels():
    space = Space([Categorical("widths", choices=([64, 128, 256, 512], [512] * 4))])
    points = grid_points(space)
    assert [p.params["widths"] for p in points] == ["64-128-256-512", "512-512-512-512"]
    assert points[1].config["widths"] == [512, 512, 512, 512]


def test_int_and_bool_grids():
    space = Space([Int("n", low=1, high=4), Bool("se"), Int("k", low=3, high=7, step=2)])
    assert grid_size(space) == 4 * 2 * 3 == len(grid(space))


def test_continuous_float_cannot_be_gridded():
    space = Space([Float("lr", low=1e-4, high=1e-1, log=True)])
    with pytest.raises(SpaceError, match="continuous"):
        grid(space)


def test_grid_subset_is_seeded_and_distinct():
    space = Space([Int("a", low=0, high=99), Int("b", low=0, high=99)])
    assert grid_size(space) == 10_000
    first = grid_points(space, limit=50, seed=3)
    again = grid_points(space, limit=50, seed=3)
    assert [p.params for p in first] == [p.params for p in again]
    assert len({(p.params["a"], p.params["b"]) for p in first}) == 50
    assert [p.params for p in grid_points(space, limit=50, seed=4)] != [p.params for p in first]


def test_unrank_matches_enumeration_with_conditionals():
    space = Space([
        Categorical("optimizer", choices=("sgd", "adam")),
        Categorical("momentum", choices=(0.0, 0.9, 0.99), when=When("optimizer", ("sgd",))),
        Bool("nesterov", when=When("momentum", (0.9, 0.99))),
        Categorical("bs", choices=(16, 32)),
    ])
    full = [p.params for p in grid_points(space)]
    assert len(full) == grid_size(space) == (1 + 2 + 2) * 2 + 2  # sgd: 0.0, 0.9 x nesterov, 0.99 x nesterov
    subset = [p.params for p in grid_points(space, limit=len(full) - 1, seed=0)]
    assert all(p in full for p in subset) and len(subset) == len(full) - 1


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: Categorical("x", choices=()), "empty choice list"),
        (lambda: Ordering("o", tokens=("BN", "BN")), "duplicate tokens"),
        (lambda: Ordering("o", tokens=("BN", "Pool")), "unknown layer token 'Pool'"),
        (lambda: Int("n", low=5, high=1), "low 5 > high 1"),
        (lambda: Float("lr", low=0.0, high=1.0, log=True), "log-scaled but low 0.0 <= 0"),
        (lambda: Space([Float("m", low=0, high=1, when=When("optimizer", ("sgd",)))]), "names 'optimizer', which is not a dimension"),
        (lambda: Space([Categorical("a", choices=(1,)), Categorical("a", choices=(2,))]), "duplicate dimension names"),
        (lambda: Space([Categorical("lr", choices=(0.1,)), Fixed("lr2", value=1, key="lr")]), "both set config key"),
        (lambda: Space([Categorical("opt", choices=("sgd",)), Bool("n", when=When("opt", ("sgdd",)))]), "expects 'sgdd'"),
        (lambda: Categorical("x", choices=(1, 1)), "duplicate choices"),
        (lambda: Presence("p", token="Pool"), "unknown layer token"),
    ],
)
def test_validation_errors_are_clear_one_liners(make, fragment):
    with pytest.raises(SpaceError) as err:
        make()
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message


def test_space_from_dict_rejects_unknown_type_and_field():
    with pytest.raises(SpaceError, match="valid types"):
        Space.from_dict({"x": {"type": "categoric", "choices": [1]}})
    with pytest.raises(SpaceError, match="unknown field"):
        Space.from_dict({"x": {"type": "categorical", "choices": [1], "choises": [2]}})


def test_space_round_trips_through_plain_data():
    space = Space([
        Categorical("optimizer", choices=("sgd", "adam")),
        Float("momentum", low=0.5, high=0.99, when=When("optimizer", ("sgd",))),
        Ordering("order", tokens=("Conv", "BN"), suffix=("FCL",)),
        Variants("v", options={"a": {"epochs": 1}, "b": {"epochs": 2}}),
        Fixed("dataset", value="digits"),
        Presence("has_BN", token="BN"),
    ])
    again = Space.from_dict(space.to_dict())
    assert again == space and again.fingerprint() == space.fingerprint()


# -- sampling ----------------------------------------------------------------------------------


def _conditional_space() -> Space:
    return Space([
        Categorical("family", choices=("seq", "cifar_resnet")),
        Ordering("order", tokens=BASESEQ[:4], suffix=("FCL", "AL"), when=When("family", ("seq",))),
        Categorical("depth", choices=(20, 32, 44), when=When("family", ("cifar_resnet",))),
        Categorical("optimizer", choices=("sgd", "adam", "rmsprop")),
        Float("momentum", low=0.5, high=0.99, when=When("optimizer", ("sgd", "rmsprop"))),
        Float("lr", low=1e-4, high=1e-1, log=True),
        Int("batch_size", low=16, high=256, log=True),
        Fixed("dataset", value="digits"),
    ])


def _check_inside(space: Space, config: dict) -> None:
    assert config["family"] in ("seq", "cifar_resnet")
    assert ("layers" in config) == (config["family"] == "seq")
    assert ("depth" in config) == (config["family"] == "cifar_resnet")
    if "layers" in config:
        assert sorted(config["layers"][:4]) == sorted(BASESEQ[:4]) and config["layers"][4:] == ["FCL", "AL"]
    assert ("momentum" in config) == (config["optimizer"] in ("sgd", "rmsprop"))
    assert 1e-4 <= config["lr"] <= 1e-1 and 16 <= config["batch_size"] <= 256
    assert config["dataset"] == "digits"


@pytest.mark.parametrize("sampler", [optuna.samplers.RandomSampler(seed=0),
                                     optuna.samplers.TPESampler(seed=0, n_startup_trials=5, multivariate=True, group=True)])
def test_tpe_and_random_sampling_stays_inside_the_space(sampler):
    space = _conditional_space()
    study = optuna.create_study(sampler=sampler, direction="maximize")
    seen_orders = set()

    def objective(trial):
        config = sample(space, trial)
        _check_inside(space, config)
        assert params_to_config(space, trial.params) == config
        if "layers" in config:
            seen_orders.add(tuple(config["layers"]))
            return float(config["layers"].index("BN"))
        return 0.0

    study.optimize(objective, n_trials=30)
    assert len(seen_orders) > 1
    assert all(isinstance(t.params.get("order", ""), str) for t in study.trials)


def test_enqueued_grid_point_comes_back_through_sample():
    space = _conditional_space().replace("momentum", None).replace("lr", None).replace("batch_size", None)
    study = optuna.create_study()
    points = grid_points(space)
    for p in points[:5]:
        study.enqueue_trial(p.params)
    for p in points[:5]:
        trial = study.ask()
        assert sample(space, trial) == p.config
        study.tell(trial, 0.0)


def test_random_configs_are_seeded_configs_of_the_space():
    space = _conditional_space()
    configs = random_configs(space, 12, seed=3)
    assert len(configs) == 12 and configs == random_configs(space, 12, seed=3)
    assert configs != random_configs(space, 12, seed=4)
    for config in configs:
        _check_inside(space, config)


def test_config_id_is_stable_and_order_free():
    a = {"family": "seq", "lr": 0.001, "layers": ["Conv", "BN"]}
    b = {"layers": ["Conv", "BN"], "lr": 0.001, "family": "seq"}
    assert config_id(a) == config_id(b) and len(config_id(a)) == 12
    assert config_id(a) != config_id({**a, "lr": 0.01})
    assert not math.isnan(len(config_id(a)))


def test_random_configs_logs_nothing():
    """`space grid` and the checks of a sampled study draw configs in a throwaway study: Optuna's
    "A new study created in memory" INFO line must not reach the terminal."""
    import logging

    from searchspace._space import random_configs

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    optuna_logger.addHandler(handler)
    optuna_logger.setLevel(logging.INFO)
    try:
        configs = random_configs(Space([Categorical("a", choices=[1, 2])]), 3, seed=0)
    finally:
        optuna_logger.removeHandler(handler)
        optuna_logger.setLevel(level)
    assert len(configs) == 3 and not records, [r.getMessage() for r in records]
