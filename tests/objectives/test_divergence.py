"""The optional divergence threshold on finite losses (config key ``diverge_loss``)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from objectives import RunConfig
from studies import StorageOptions, launch
from searchspace._pin import build_space
from studies._spec import StudySpec
from searchspace import Categorical, Space

BASE = {"family": "seq", "dataset": "digits", "layers": "Conv-PL-FCL-AL", "channels": 4, "fc_units": 16,
        "epochs": 2, "early_stopping": False, "optimizer": "adam", "lr": 1e6}


def test_an_unset_threshold_leaves_the_config_and_its_id_unchanged():
    plain = RunConfig.from_flat({k: v for k, v in BASE.items()})
    assert "diverge_loss" not in plain.to_flat()
    assert RunConfig.from_flat({**BASE, "diverge_loss": 1e3}).config_id != plain.config_id


def test_a_huge_finite_loss_fails_the_trial_only_with_a_threshold(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    space = build_space(BASE, Space([Categorical("diverge_loss", choices=[0.0, 1000.0])]))
    study = launch(StudySpec(space=space, name="div"), storage=f"sqlite:///{tmp_path / 'd.db'}", progress=False,
                   device="cpu", options=StorageOptions(heartbeat_interval=1, grace_period=4))
    by_limit = {t.params["diverge_loss"]: t for t in study.trials}
    off, on = by_limit[0.0], by_limit[1000.0]
    losses = [h["train_loss"] for h in off.user_attrs["history"]]
    assert off.state == TrialState.COMPLETE and max(losses) > 1000.0  # finite, huge, and COMPLETE without it
    assert on.state == TrialState.FAIL
    assert "above the divergence threshold diverge_loss=1000" in on.user_attrs["fail_reason"]


def test_a_negative_threshold_is_refused():
    from searchspace import ConfigError

    with pytest.raises(ConfigError, match="diverge_loss must be a finite number >= 0"):
        RunConfig.from_flat({**BASE, "diverge_loss": -1})
