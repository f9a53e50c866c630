"""Seeds per source of randomness: plain repeats as before, variance designs, the trainer's streams."""

from __future__ import annotations

import pytest
import torch

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives._seeding import CellSeeds, RunSeeds, SeedDesign, parse_vary
from searchspace import ConfigError

TINY = {"family": "seq", "dataset": "digits", "layers": "Conv-PL-DropL-FCL-AL", "channels": 4, "fc_units": 8,
        "epochs": 1, "early_stopping": False, "augment": "flip"}


def test_plain_repeats_seed_every_source_from_base_plus_repeat():
    design = SeedDesign()
    assert design.cell_seeds(10, 3) == CellSeeds(RunSeeds(13, 13, 13, None), split_offset=0, data_repeat=3, source=None)


def test_a_design_varies_one_source_per_block_and_holds_the_others_at_the_reference():
    design = SeedDesign(vary=("split", "init"), per_source=2)
    assert design.vary == ("init", "split") and design.repeats == 4
    cells = [design.cell_seeds(100, r) for r in range(4)]
    assert [c.source for c in cells] == ["init", "init", "split", "split"]
    assert [c.train for c in cells[:2]] == [RunSeeds(101, 100, 100, 100), RunSeeds(102, 100, 100, 100)]
    assert all(c.train == RunSeeds(100, 100, 100, 100) for c in cells[2:])
    assert [(c.split_offset, c.data_repeat) for c in cells] == [(0, 0), (0, 0), (1, 1), (2, 2)]
    joint = SeedDesign(vary="joint", per_source=2).cell_seeds(0, 1)
    assert joint.train == RunSeeds(2, 2, 2, 2) and joint.split_offset == 2


def test_vary_names_are_canonical_and_checked():
    assert parse_vary("order, init") == ("init", "order")
    assert parse_vary("all") == ("init", "order", "augment", "dropout", "split")
    assert parse_vary(["all", "joint"])[-1] == "joint" and parse_vary("none") == ()
    with pytest.raises(ConfigError, match="unknown source of variance 'seed' in vary; valid: init, order"):
        parse_vary("init,seed")
    with pytest.raises(ConfigError, match=r"needs at least 2 repeats per source .* got 1"):
        SeedDesign(vary="init", per_source=1)


def _initial_and_final(run, data, seeds):
    initial = {}

    def build(run_, data_):  # the default model, with a copy of its initial weights kept
        from objectives.train._build import build_for_data

        model = build_for_data(run_, data_)
        initial.update({k: v.clone() for k, v in model.state_dict().items()})
        return model

    result = fit(run, data, seed=seeds, build=build)
    return initial, [h.train_loss for h in result.history] + [result.val_loss, result.test_loss]


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_an_int_seed_is_its_run_seeds_and_each_source_moves_only_its_own_stream():
    run = RunConfig.from_flat(TINY)
    data = prepare_data(run.data)
    base_init, base = _initial_and_final(run, data, RunSeeds.from_seed(0))
    assert _initial_and_final(run, data, 0)[1] == base  # an int seed is bit for bit its RunSeeds
    reference = RunSeeds(0, 0, 0, 0)
    ref_init, ref = _initial_and_final(run, data, reference)
    assert _same(ref_init, base_init) and ref != base  # dropout re-seeded: same weights, other masks
    for source in ("init", "order", "augment", "dropout"):
        init, outcome = _initial_and_final(run, data, RunSeeds(**{**reference.to_dict(), source: 1}))
        assert outcome != ref, source
        assert _same(init, ref_init) == (source != "init"), source


def test_the_dropout_seed_changes_nothing_without_dropout():
    run = RunConfig.from_flat({**TINY, "layers": "Conv-PL-FCL-AL"})
    data = prepare_data(run.data)
    assert _initial_and_final(run, data, RunSeeds(0, 0, 0, 0))[1] == _initial_and_final(run, data, RunSeeds(0, 0, 0, 5))[1]


def test_repeats_that_train_on_other_images_are_not_batched_together():
    from objectives._objective import ClassifyObjective
    from objectives._repeats import supports_batch
    from searchspace import build_space

    space = build_space({**TINY}, {})
    assert supports_batch(ClassifyObjective(space, seeding=SeedDesign(vary="init,order", per_source=2)))
    assert not supports_batch(ClassifyObjective(space, seeding=SeedDesign(vary="init,split", per_source=2)))


def test_batched_repeats_take_each_runs_seeds_as_a_sequential_run_does():
    from objectives.train._batched import fit_batched

    run = RunConfig.from_flat({**TINY, "layers": "Conv-PL-FCL-AL"})  # no dropout: batched runs are exact
    data = prepare_data(run.data)
    seeds = [RunSeeds(0, 1, 0, 0), RunSeeds(1, 0, 0, 0)]
    batched = fit_batched(run, data, seeds=seeds)
    for seed, outcome in zip(seeds, batched):
        alone = fit(run, data, seed=seed)
        assert outcome.seed == alone.seed == seed.init
        assert outcome.history[0].train_loss == pytest.approx(alone.history[0].train_loss, rel=1e-4)
    assert batched[0].history[0].train_loss != batched[1].history[0].train_loss
