"""Space -> Space edits (searchspace._pin): how a preset's defaults and a command line's pins meet
conditional dimensions and variants."""

from __future__ import annotations

import pytest

from searchspace import Categorical, Space, Variants, apply_overrides, build_space
from searchspace._dims import When
from searchspace._space import grid
from searchspace.errors import ConfigError


def _walk() -> Space:
    return Space([
        Variants("step", options={"a": {"batch_size": 8}, "b": {}, "c": {}}),
        Categorical("batch_size", choices=(16, 32), when=When("step", ("b",))),
        Categorical("lr", choices=(0.1, 0.01), when=When("step", ("c",))),
    ])


def test_defaults_fill_every_branch_no_dimension_sets():
    space = build_space({"family": "seq", "batch_size": 256, "lr": 1e-3}, _walk())
    configs = grid(space)
    assert [(c["batch_size"], c["lr"]) for c in configs] == [(8, 1e-3), (16, 1e-3), (32, 1e-3), (256, 0.1), (256, 0.01)]
    assert all(c["family"] == "seq" for c in configs)


def test_a_default_its_branches_cannot_express_is_refused():
    nested = Space([
        Variants("step", options={"a": {}, "b": {}}),
        Variants("inner", options={"x": {"lr": 0.1}, "y": {}}, when=When("step", ("a",))),
    ])
    with pytest.raises(ConfigError, match="default 'lr' cannot fill options y of conditional variants 'inner'"):
        build_space({"lr": 1e-3}, nested)
    grandchild = Space([
        Variants("step", options={"a": {}, "b": {}}),
        Categorical("optimizer", choices=("sgd", "adam"), when=When("step", ("a",))),
        Categorical("lr", choices=(0.1, 0.01), when=When("optimizer", ("sgd",))),
    ])
    with pytest.raises(ConfigError, match="default 'lr' cannot fill .* parent 'optimizer' is conditional"):
        build_space({"lr": 1e-3}, grandchild)


def test_pinning_a_condition_parent_keeps_only_what_it_activates():
    space = build_space({"momentum": 0.0}, Space([
        Categorical("optimizer", choices=("sgd", "adam")),
        Categorical("momentum", choices=(0.5, 0.9), when=When("optimizer", ("sgd",))),
    ]))
    adam = apply_overrides(space, {"optimizer": "adam"})
    assert grid(adam) == [{"optimizer": "adam", "momentum": 0.0}]
    sgd = apply_overrides(space, {"optimizer": "sgd"})
    assert [c["momentum"] for c in grid(sgd)] == [0.5, 0.9]
    pinned = apply_overrides(space, {"momentum": 0.7})
    assert [c["momentum"] for c in grid(pinned)] == [0.7, 0.7]


def test_pinning_a_key_of_variants_options_merges_the_options_it_makes_equal():
    space = Space([Variants("model", options={
        "a": {"family": "seq", "lr": 0.1}, "b": {"family": "seq", "lr": 0.01}, "c": {"family": "fcl"},
    })])
    pinned = apply_overrides(space, {"lr": 0.5})
    assert grid(pinned) == [{"family": "seq", "lr": 0.5}, {"family": "fcl", "lr": 0.5}]


def test_a_pin_relabels_the_options_it_changes_and_a_label_pins_its_option():
    space = Space([
        Variants("arch", options={"Res512": {"family": "resnet", "widths": [512] * 4},
                                  "Res64": {"family": "resnet", "widths": [64] * 4}, "Seq": {"family": "seq"}}),
        Categorical("layers", choices={"full": "Conv-BN-FCL", "short": "Conv-FCL"}),
    ])
    pinned = apply_overrides(space, {"widths": [64] * 4})
    # Res512 is no longer what its label says, and Res64 became the same config: one option, renamed
    assert list(pinned["arch"].options) == ["Res512 (widths=64-64-64-64)", "Seq"]
    assert len(grid(pinned)) == 4
    by_label = apply_overrides(space, {"arch": "Res64", "layers": "full"})
    assert grid(by_label) == [{"widths": [64] * 4, "family": "resnet", "layers": "Conv-BN-FCL"}]
