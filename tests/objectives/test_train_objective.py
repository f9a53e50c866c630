"""The objective stores the trainer's metrics and turns a diverged run into a failed trial."""

from __future__ import annotations

import optuna
import pytest

from objectives._objective import ClassifyObjective
from searchspace import Categorical, Space
from searchspace._dims import Fixed

BASE = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 4, "fc_units": 16,
        "epochs": 1, "early_stopping": False, "optimizer": "sgd"}


def _space(lrs: tuple[float, ...]) -> Space:
    return Space([*(Fixed(k, value=v) for k, v in BASE.items()), Categorical("lr", choices=lrs)])


def test_trial_stores_flops_and_metrics_and_a_diverged_trial_fails_with_its_reason():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.GridSampler({"lr": [1e6, 0.05]}))
    objective = ClassifyObjective(_space((1e6, 0.05)), device="cpu")
    study.optimize(objective, n_trials=2)
    by_lr = {t.params["lr"]: t for t in study.trials}
    failed, done = by_lr[1e6], by_lr[0.05]
    assert failed.state == optuna.trial.TrialState.FAIL
    assert "non-finite training loss" in failed.user_attrs["fail_reason"]
    assert done.state == optuna.trial.TrialState.COMPLETE  # the study went on
    attrs = done.user_attrs
    for key in ("flops", "params", "test_error", "confusion", "history", "train_seconds", "images_per_second"):
        assert key in attrs
    assert attrs["flops"] > 0 and attrs["test_error"] == pytest.approx(100 * (1 - attrs["test_accuracy"]))
    assert done.intermediate_values == {1: attrs["history"][0]["val_accuracy"]}


def test_each_repeat_trains_on_its_own_subset_sample_under_per_repeat(monkeypatch):
    # Seed 000's Fig 2: the runs of a 128-image subset draw different images. The objective hands
    # the trial's repeat to prepare_data, which resamples under subset_sampling: per_repeat.
    import objectives._objective as objective_module

    seen = []
    real = objective_module.prepare_data
    monkeypatch.setattr(objective_module, "prepare_data", lambda cfg, **kw: seen.append(kw["repeat"]) or real(cfg, **kw))
    flat = {**BASE, "dataset": "mnist5k:hard2:16", "subset_sampling": "per_repeat", "lr": 0.05}
    space = Space([Fixed(k, value=v) for k, v in flat.items()])
    study = optuna.create_study(direction="maximize")
    for repeat in (0, 1):
        study.enqueue_trial({}, user_attrs={"repeat": repeat})
    study.optimize(ClassifyObjective(space, device="cpu"), n_trials=2)
    assert seen == [0, 1]
    a, b = study.trials
    assert a.user_attrs["config_id"] == b.user_attrs["config_id"]  # still repeats of one config
    assert a.user_attrs["config"]["dataset"] == "mnist5k:hard2:16"
