"""Seed-batched repeats: each seed trained in the fused batch equals that seed trained alone.

Tolerance (stated in objectives/train/_batched.py): fused kernels (grouped convolution, bmm) add
in another order than per-model kernels, so after 1-2 epochs per-epoch training losses agree to
1e-4 relative, validation losses to 1e-3 relative and accuracies to within 1% (3 of the 337
validation / 450 test digits).
"""

from __future__ import annotations

import math

import pytest
import torch

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.train._batched import batch_fallback_reason, choose_batched, fit_batched, fit_repeats
from objectives.train import _batched
from objectives.train._fuse import seed_view
from searchspace import ConfigError

FAST = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 8, "fc_units": 32}
LOSS_RTOL, VAL_LOSS_RTOL, ACC_ATOL = 1e-4, 1e-3, 0.01


def _run(**extra) -> RunConfig:
    return RunConfig.from_flat({**FAST, "early_stopping": False, **extra})


def _assert_same(alone, batched) -> None:
    assert batched.seed == alone.seed and len(batched.history) == len(alone.history)
    for a, b in zip(alone.history, batched.history):
        assert b.train_loss == pytest.approx(a.train_loss, rel=LOSS_RTOL)
        assert b.val_loss == pytest.approx(a.val_loss, rel=VAL_LOSS_RTOL)
        assert abs(b.train_accuracy - a.train_accuracy) <= ACC_ATOL
        assert abs(b.val_accuracy - a.val_accuracy) <= ACC_ATOL
    assert abs(batched.val_accuracy - alone.val_accuracy) <= ACC_ATOL
    assert abs(batched.test_accuracy - alone.test_accuracy) <= ACC_ATOL
    assert batched.val_loss == pytest.approx(alone.val_loss, rel=VAL_LOSS_RTOL)
    assert (batched.best_epoch, batched.stopped_early) == (alone.best_epoch, alone.stopped_early)
    assert batched.params == alone.params and batched.flops == alone.flops


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        {"epochs": 2},  # adam, batch norm (running statistics evaluated at the end)
        # per-seed augmentation and CutMix, per-seed gradient clipping, kernel L2, a per-step schedule
        {"epochs": 2, "augment": "flip+rotate+cutmix", "grad_clip": 0.5, "l2": 1e-3,
         "optimizer": "sgd", "momentum": 0.9, "lr": 0.05, "schedule": "onecycle"},
    ],
    ids=["adam-bn", "augment-clip-l2-onecycle"],
)
def test_each_batched_seed_equals_its_sequential_run(extra):
    run = _run(**extra)
    data = prepare_data(run.data)
    seeds = [0, 1, 2]
    alone = [fit(run, data, seed=seed) for seed in seeds]
    batched = fit_batched(run, data, seeds=seeds)
    for a, b in zip(alone, batched):
        _assert_same(a, b)
    losses = [b.history[0].train_loss for b in batched]
    assert len(set(losses)) == 3  # independent seeds: no two repeats trained alike


@pytest.mark.slow  # measured >= 8 s under load 8 on 2 cores
def test_a_batched_resnet_equals_its_sequential_run():
    run = RunConfig.from_flat({"family": "cifar_resnet", "depth": 8, "widths": "4-8-16", "dataset": "digits",
                               "epochs": 1, "early_stopping": False, "batch_size": 64})
    data = prepare_data(run.data)
    for a, b in zip([fit(run, data, seed=s) for s in (3, 4)], fit_batched(run, data, seeds=[3, 4])):
        _assert_same(a, b)


def test_a_seed_whose_callback_raises_stops_alone_and_the_others_are_unchanged():
    run = _run(epochs=2)
    data = prepare_data(run.data)
    seen = []

    class Pruned(Exception):
        pass

    def on_epoch(index, stats):
        seen.append((index, stats.epoch))
        if index == 1:
            raise Pruned(f"pruned at epoch {stats.epoch}")

    outcomes = fit_batched(run, data, seeds=[0, 1], on_epoch=on_epoch)
    assert isinstance(outcomes[1], Pruned) and str(outcomes[1]) == "pruned at epoch 1"
    assert seen == [(0, 1), (1, 1), (0, 2)]  # seed 1 reported once, then left the batch
    alone = fit(run, data, seed=0)
    _assert_same(alone, outcomes[0])


def test_a_diverging_seed_is_reported_alone():
    run = _run(epochs=2)
    data = prepare_data(run.data)
    # sabotage one seed's weights: a NaN in seed 1's first kernel makes only its loss non-finite
    real = _batched.FusedModels.__init__

    def init(self, models, **kwargs):
        real(self, models, **kwargs)
        name, weight = next((n, p) for n, p in self.module.named_parameters() if n.endswith("weight"))
        with torch.no_grad():
            seed_view(weight, self.shapes[name], self.k)[1].fill_(math.nan)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_batched.FusedModels, "__init__", init)
        outcomes = fit_batched(run, data, seeds=[0, 1])
    assert type(outcomes[1]).__name__ == "Diverged" and "epoch 1" in str(outcomes[1])
    assert math.isfinite(outcomes[0].history[-1].train_loss) and len(outcomes[0].history) == 2


@pytest.mark.slow  # measured >= 8 s under load 8 on 2 cores
def test_early_stopping_and_restore_best_act_per_seed():
    run = _run(epochs=8, early_stopping=True, patience=1, monitor="val_accuracy", lr=0.01)
    data = prepare_data(run.data)
    for result in fit_batched(run, data, seeds=[0, 1, 2]):
        best = max(range(len(result.history)), key=lambda i: result.history[i].val_accuracy)
        assert result.best_epoch == best + 1
        if result.stopped_early:
            assert len(result.history) == best + 1 + 1  # one patience epoch after the best
        assert result.val_accuracy == pytest.approx(result.history[best].val_accuracy)


def test_dropout_and_routes_fall_back_to_sequential_with_a_reason():
    run = _run(layers="Conv-BN-PL-DropL-FCL-AL", epochs=1)
    data = prepare_data(run.data)
    reason = batch_fallback_reason(run, data)
    assert reason is not None and "dropout" in reason
    assert choose_batched(run, data, 3, "on") == (False, reason)
    with pytest.raises(ConfigError, match="cannot batch .* dropout"):
        fit_batched(run, data, seeds=[0, 1])
    outcomes, why = fit_repeats(run, data, seeds=[0, 1], mode="on")
    assert why == reason and [o.seed for o in outcomes] == [0, 1]
    assert batch_fallback_reason(_run(), data, forward=lambda model, x, split, index: model(x)) is not None


def test_modes_off_single_seed_and_unknown(monkeypatch):
    run = _run(epochs=1)
    data = prepare_data(run.data)
    assert choose_batched(run, data, 3, "off")[0] is False
    assert choose_batched(run, data, 1, "on")[0] is False
    with pytest.raises(ConfigError, match="unknown --batch-repeats 'fast'; valid: auto, off, on|auto, on, off"):
        choose_batched(run, data, 3, "fast")
    assert choose_batched(run, data, 3, "on") == (True, "batch-repeats is on")
    monkeypatch.setattr(_batched, "probe_speedup", lambda *a, **k: 0.8)
    batched, why = choose_batched(run, data, 3, "auto")
    assert not batched and "0.80x" in why  # auto never picks the slower way
    monkeypatch.setattr(_batched, "probe_speedup", lambda *a, **k: 2.0)
    assert choose_batched(run, data, 3, "auto")[0] is True


def test_the_probe_measures_a_ratio_and_leaves_the_global_generator_alone():
    run = _run(epochs=1, batch_size=16)
    data = prepare_data(run.data)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    _batched._PROBES.clear()
    speedup = _batched.probe_speedup(run, data, 2, steps=1)
    assert math.isfinite(speedup) and speedup > 0
    assert torch.equal(torch.get_rng_state(), before)
    assert _batched.probe_speedup(run, data, 2, steps=1) == speedup  # cached per architecture


def test_batched_seeds_copy_best_weights_only_when_they_will_be_restored(monkeypatch):
    states = []
    state_of = _batched.FusedModels.state_of
    monkeypatch.setattr(_batched.FusedModels, "state_of", lambda self, i: states.append(i) or state_of(self, i))
    run = _run(epochs=2)  # restore_best is on by default, but without early stopping nothing is restored
    outcomes = fit_batched(run, prepare_data(run.data), seeds=[0, 1])
    assert all(o.best_epoch == 2 for o in outcomes)
    assert sorted(states) == [0, 1]  # each seed's final weights, and no copy at its improving epochs


def test_batched_repeats_use_a_custom_model_builder():
    run = _run(epochs=1)
    built = []

    def linear(run_, data_):
        built.append(run_)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(data_.in_channels * 8 * 8, data_.num_classes))

    outcomes, why = fit_repeats(run, prepare_data(run.data), seeds=[0, 1], mode="on", build=linear)
    assert why == "batch-repeats is on" and [o.params for o in outcomes] == [650, 650]
    assert len(built) >= 3  # the fallback check builds one, then one per seed
