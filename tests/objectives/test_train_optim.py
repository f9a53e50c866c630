"""Optimizer and schedule registries; Keras-style kernel penalties."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from objectives.train._config import TrainConfig
from objectives.train._optim import (
    build_optimizer,
    build_schedule,
    list_optimizers,
    list_schedules,
    register_optimizer,
    register_schedule,
    schedule_interval,
)
from objectives.train._loss import classification_loss, kernel_penalty, kernel_weights
from searchspace import ConfigError
from searchspace._errors import RegistryError

ALL_OPTIMIZERS = ("adadelta", "adagrad", "adam", "adamax", "adamw", "nadam", "rmsprop", "sgd")


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def _step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    x, y = torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 2, 0])
    opt.zero_grad()
    classification_loss(model(x), y).backward()
    opt.step()


def test_every_contract_optimizer_is_registered():
    assert sorted(list_optimizers()) == sorted(ALL_OPTIMIZERS)
    assert sorted(list_schedules()) == ["constant", "cosine", "multistep", "onecycle"]


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_each_optimizer_builds_and_updates_weights(name):
    model = _tiny()
    cfg = TrainConfig(optimizer=name, lr=0.05, momentum=0.9 if name in ("sgd", "rmsprop") else 0.0)
    opt = build_optimizer(model.parameters(), cfg)
    before = [p.detach().clone() for p in model.parameters()]
    _step(model, opt)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert opt.param_groups[0]["lr"] == 0.05


def test_optimizer_knobs_reach_torch():
    params = list(_tiny().parameters())
    sgd = build_optimizer(params, TrainConfig(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 1e-4
    adam = build_optimizer(params, TrainConfig(optimizer="adam", beta1=0.8, beta2=0.99, eps=1e-6))
    assert adam.defaults["betas"] == (0.8, 0.99) and adam.defaults["eps"] == 1e-6
    rms = build_optimizer(params, TrainConfig(optimizer="rmsprop", alpha=0.9, momentum=0.5))
    assert isinstance(rms, torch.optim.RMSprop) and rms.defaults["alpha"] == 0.9 and rms.defaults["momentum"] == 0.5
    ada = build_optimizer(params, TrainConfig(optimizer="adadelta", rho=0.95, lr=1.0))
    assert isinstance(ada, torch.optim.Adadelta) and ada.defaults["rho"] == 0.95
    adamw = build_optimizer(params, TrainConfig(optimizer="adamw", weight_decay=0.01))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["weight_decay"] == 0.01


def test_registries_refuse_duplicates():
    with pytest.raises(RegistryError, match="already registered"):
        register_optimizer("adam")(lambda params, cfg: None)
    with pytest.raises(RegistryError, match="already registered"):
        register_schedule("cosine")(lambda opt, cfg, steps: None)


def _lrs(schedule: str, epochs: int, steps: int, **kw) -> list[float]:
    """lr used by each optimizer step of a run with ``steps`` batches per epoch."""
    cfg = TrainConfig(optimizer="sgd", lr=0.1, schedule=schedule, epochs=epochs, **kw)
    model = _tiny()
    opt = build_optimizer(model.parameters(), cfg)
    sched = build_schedule(opt, cfg, steps)
    per_step = schedule_interval(schedule) == "step"
    seen = []
    for _ in range(epochs):
        for _ in range(steps):
            seen.append(opt.param_groups[0]["lr"])
            _step(model, opt)
            if per_step:
                sched.step()
        if not per_step:
            sched.step()
    return seen


@pytest.mark.parametrize("name", ["constant", "multistep", "cosine", "onecycle"])
def test_each_schedule_builds_and_steps_for_a_whole_run(name):
    lrs = _lrs(name, epochs=3, steps=4, milestones=(2,))
    assert len(lrs) == 12 and all(lr >= 0 for lr in lrs)
    if name == "constant":
        assert set(lrs) == {0.1}
    else:
        assert len(set(lrs)) > 1


def test_multistep_divides_lr_by_ten_after_the_milestone():
    # seed 001: lr 0.1, x0.1 once 82 epochs are done; here the milestone is epoch 2
    lrs = _lrs("multistep", epochs=4, steps=3, milestones=(2,), gamma=0.1)
    per_epoch = [lrs[i * 3] for i in range(4)]
    assert per_epoch == pytest.approx([0.1, 0.1, 0.01, 0.01])
    assert all(lr == lrs[i - i % 3] for i, lr in enumerate(lrs))  # constant within an epoch


def test_cosine_steps_per_epoch_and_onecycle_per_batch():
    assert schedule_interval("cosine") == "epoch" and schedule_interval("onecycle") == "step"
    cosine = _lrs("cosine", epochs=4, steps=3)
    assert all(cosine[i] == cosine[i - i % 3] for i in range(len(cosine)))
    assert cosine[0] == pytest.approx(0.1) and cosine[-1] < cosine[0]
    onecycle = _lrs("onecycle", epochs=3, steps=5)
    assert len(set(onecycle[:5])) == 5  # changes within the first epoch
    peak = max(onecycle)
    assert peak == pytest.approx(0.1, rel=0.05) and onecycle[0] == pytest.approx(0.1 / 25)
    assert onecycle.index(peak) not in (0, len(onecycle) - 1)


def test_unknown_schedule_lists_valid_names():
    opt = build_optimizer(_tiny().parameters(), TrainConfig())
    with pytest.raises(ConfigError, match="unknown schedule 'linear'; valid: constant, cosine"):
        build_schedule(opt, TrainConfig(schedule="linear"), 3)


def test_kernel_weights_are_conv_and_linear_weights_only():
    model = _tiny()
    kernels = kernel_weights(model)
    assert [k.shape for k in kernels] == [model[0].weight.shape, model[3].weight.shape]
    ids = {id(k) for k in kernels}
    assert id(model[0].bias) not in ids and id(model[1].weight) not in ids and id(model[3].bias) not in ids


@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.001), (0.003, 0.02), (10.0, 10.0)])
def test_penalties_match_keras_kernel_regularizers(l1, l2):
    model = _tiny()
    with torch.no_grad():  # make biases and BN big, so including them would show
        model[0].bias.fill_(5.0)
        model[1].weight.fill_(7.0)
        model[3].bias.fill_(-3.0)
    w1, w2 = model[0].weight, model[3].weight
    expected = l1 * (w1.abs().sum() + w2.abs().sum()) + l2 * (w1.pow(2).sum() + w2.pow(2).sum())
    penalty = kernel_penalty(kernel_weights(model), l1, l2)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    # and it reaches the gradient: d/dw of l2 * sum(w^2) is 2 * l2 * w, of l1 * sum|w| is l1 * sign(w)
    penalty.backward()
    assert torch.allclose(w1.grad, l1 * w1.sign() + 2 * l2 * w1, atol=1e-6)
    assert model[0].bias.grad is None and model[1].weight.grad is None


def test_no_penalty_when_both_are_zero():
    assert kernel_penalty(kernel_weights(_tiny()), 0.0, 0.0) is None


def test_soft_targets_give_the_cross_entropy_of_their_mixture():
    logits = torch.randn(5, 4)
    hard_a, hard_b = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 1, 3, 0, 2])
    lam = 0.7
    soft = lam * nn.functional.one_hot(hard_a, 4).float() + (1 - lam) * nn.functional.one_hot(hard_b, 4).float()
    expected = lam * classification_loss(logits, hard_a) + (1 - lam) * classification_loss(logits, hard_b)
    assert classification_loss(logits, soft).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("start", [0.0, 0.1])
def test_adagrad_initial_accumulator_is_a_config_value(start):
    # Keras' Adagrad starts at 0.1, torch's at 0: the first step differs by the accumulator.
    w = nn.Parameter(torch.ones(3))
    opt = build_optimizer([w], TrainConfig(optimizer="adagrad", lr=0.1, initial_accumulator=start, eps=1e-10))
    assert float(opt.state[w]["sum"].max()) == pytest.approx(start)
    w.grad = torch.full((3,), 0.5)
    opt.step()
    expected = 1 - 0.1 * 0.5 / (0.25 + start) ** 0.5
    assert torch.allclose(w.detach(), torch.full((3,), expected), atol=1e-6)
