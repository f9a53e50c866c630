"""One-file extensions: a new objective, family, optimizer or augmentation is one definition plus
its registration, and then runs through the real path with no edit anywhere else.

Each test registers its new entry in process, runs it (a trial, a build and a training step, an
augmentation call, a report's metrics) and restores the registry afterwards, so other tests see
the registries as shipped."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from torch import nn

import objectives._objective as objective_registry
import objectives.train._augment as augment_registry
import objectives.train._optim as optim_registry
import searchspace.families._registry as family_registry
from objectives._objective import ClassifyObjective, list_objectives
from objectives import RunConfig, register_objective
from objectives.train._augment import build_augment, list_augmentations, register_augmentation
from objectives.train._optim import list_optimizers, register_optimizer
from searchspace._dims import Fixed
from searchspace import Space, build_model, register_family
from searchspace.families._registry import family_params, list_families

BASE = {"dataset": "digits", "epochs": 1, "early_stopping": False, "batch_size": 64}


@pytest.fixture
def restore_registries():
    """Snapshot every registry a test may extend; put it back after the test."""
    registries = [objective_registry._OBJECTIVES, family_registry._FAMILIES, optim_registry._OPTIMIZERS,
                  augment_registry._AUGMENTATIONS]
    saved = [dict(r) for r in registries]
    yield
    for registry, snapshot in zip(registries, saved):
        registry.clear()
        registry.update(snapshot)


def _trial(flat: dict, objective: type = ClassifyObjective) -> optuna.trial.FrozenTrial:
    """One real trial: sample the space, build, train one epoch on digits, record the metrics."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.optimize(objective(Space([Fixed(k, value=v) for k, v in flat.items()]), device="cpu"), n_trials=1)
    return study.trials[0]


def test_a_new_family_is_a_builder_and_a_registration(restore_registries):
    @register_family("test_mlp", description="flatten, one hidden layer")
    def test_mlp(*, in_channels: int, num_classes: int, input_size: tuple[int, int], hidden: int = 8) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size[0] * input_size[1], hidden), nn.ReLU(),
                             nn.Linear(hidden, num_classes))

    assert "test_mlp" in list_families() and family_params("test_mlp") == {"hidden": 8}
    model = build_model("test_mlp", in_channels=1, num_classes=10, input_size=8, hidden=5)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    run = RunConfig.from_flat({**BASE, "family": "test_mlp", "hidden": 5})  # its key is a config key now
    assert run.model["hidden"] == 5
    trial = _trial({**BASE, "family": "test_mlp", "hidden": 5, "optimizer": "sgd", "lr": 0.05})
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    assert trial.user_attrs["config"]["family"] == "test_mlp" and trial.user_attrs["params"] == 64 * 5 + 5 + 5 * 10 + 10


def test_a_new_optimizer_is_a_builder_and_a_registration(restore_registries):
    calls = []

    @register_optimizer("test_sgd")
    def test_sgd(params, cfg):
        calls.append(cfg.lr)
        return torch.optim.SGD(params, lr=cfg.lr)

    assert "test_sgd" in list_optimizers()
    trial = _trial({**BASE, "family": "seq", "layers": "Conv-PL-FCL-AL", "channels": 4, "fc_units": 8,
                    "optimizer": "test_sgd", "lr": 0.05})
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    assert calls == [0.05] and trial.user_attrs["config"]["optimizer"] == "test_sgd"


def test_a_new_augmentation_is_an_op_and_a_registration(restore_registries):
    @register_augmentation("test_invert")
    def test_invert(cfg, num_classes):
        return lambda x, y, generator: (1.0 - x, y)

    assert list_augmentations()[-1] == "test_invert"
    run = RunConfig.from_flat({**BASE, "family": "seq", "layers": "Conv-PL-FCL-AL", "augment": "test_invert+flip"})
    augment = build_augment(run.train, num_classes=10, seed=0)
    assert augment.names == ("flip", "test_invert")  # registration order, whatever the string's order
    x = torch.rand(4, 1, 8, 8)
    out, y = augment(x, torch.arange(4))
    restored = 1.0 - out  # each image inverted after it was flipped or not
    assert all(torch.allclose(r, i) or torch.allclose(r, i.flip(-1)) for r, i in zip(restored, x))
    assert y.tolist() == [0, 1, 2, 3]
    trial = _trial({**BASE, "family": "seq", "layers": "Conv-PL-FCL-AL", "channels": 4, "fc_units": 8,
                    "optimizer": "sgd", "lr": 0.05, "augment": "test_invert"})
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    assert trial.user_attrs["config"]["augment"] == "test_invert"


def test_a_new_objective_declares_its_report_metrics_and_pairs(restore_registries):
    from studies import StudySpec
    from studies.analysis._report import build_report
    from studies.analysis._metrics import objective_metrics

    @register_objective("test_twin")
    class TwinObjective(ClassifyObjective):
        """Trains as classify does and records a second, worse 'twin' accuracy beside it."""

        report_attrs = ("twin_accuracy", "main_accuracy")
        report_pairs = (("main_accuracy", "twin_accuracy"),)
        report_description = "twin = a made-up second model, 0.1 worse."

        def __call__(self, trial):
            value = super().__call__(trial)
            trial.set_user_attr("main_accuracy", value)
            trial.set_user_attr("twin_accuracy", value - 0.1)
            return value

    assert "test_twin" in list_objectives()
    flat = {**BASE, "family": "seq", "layers": "Conv-PL-FCL-AL", "channels": 4, "fc_units": 8, "optimizer": "sgd", "lr": 0.05}
    space = Space([Fixed(k, value=v) for k, v in flat.items()])
    spec = StudySpec(space=space, name="twin", objective="test_twin", repeats=2)
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    objective = TwinObjective(space, device="cpu")
    for repeat in (0, 1):
        study.enqueue_trial({}, user_attrs={"repeat": repeat})
    study.optimize(objective, n_trials=2)
    metrics = objective_metrics(study)
    assert metrics["objective"] == "test_twin" and metrics["attrs"] == ["twin_accuracy", "main_accuracy"]
    assert metrics["description"] == "twin = a made-up second model, 0.1 worse."
    (row,) = metrics["pairs"].to_dict("records")
    assert (row["metric"], row["versus"], row["n_pairs"]) == ("main_accuracy", "twin_accuracy", 2)
    assert math.isclose(row["delta"], 0.1, abs_tol=1e-9)
    report = build_report(study, n_bootstrap=0, evaluators=("anova",), datasets="none")
    assert "Objective metrics (test_twin)" in [s.title for s in report.sections]
