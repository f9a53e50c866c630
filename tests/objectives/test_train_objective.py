"""The objective stores the trainer's metrics and turns a diverged run into a failed trial."""

from __future__ import annotations

import optuna
import pytest

from objectives import ClassifyObjective
from searchspace import Categorical, Fixed, Space

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
