"""The trainer: learning, reproducibility, early stopping, checkpoints, divergence."""

from __future__ import annotations

import pytest
import torch

from objectives import RunConfig, fit, prepare_data
from objectives.train import Diverged, load_checkpoint

FAST = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 8, "fc_units": 32}


def _run(**extra) -> RunConfig:
    return RunConfig.from_flat({**FAST, **extra})


def test_training_learns_digits_and_reports_test_beside_validation():
    run = _run(epochs=4, early_stopping=False)
    (result,) = fit(run, prepare_data(run.data), seeds=[0])
    assert result.val_accuracy > 0.8 and result.test_accuracy > 0.8
    assert len(result.history) == 4 and result.best_epoch == 4
    confusion = torch.tensor(result.confusion)
    assert confusion.shape == (10, 10) and int(confusion.sum()) == len(prepare_data(run.data).y_test)
    assert abs(confusion.trace().item() / confusion.sum().item() - result.test_accuracy) < 1e-9
    metrics = result.metrics()
    assert metrics["test_error"] == pytest.approx(100 * (1 - result.test_accuracy))
    assert metrics["params"] == result.params > 0


def test_same_config_and_seed_give_identical_metrics():
    run = _run(epochs=2, early_stopping=False)
    data = prepare_data(run.data)
    a, b = fit(run, data, seeds=[5]), fit(run, data, seeds=[5])
    assert a[0].history == [] or [h.val_loss for h in a[0].history] == [h.val_loss for h in b[0].history]
    assert a[0].val_accuracy == b[0].val_accuracy and a[0].test_accuracy == b[0].test_accuracy
    c = fit(run, data, seeds=[6])
    assert [h.train_loss for h in c[0].history] != [h.train_loss for h in a[0].history]


def test_fit_takes_several_seeds_in_one_call():
    run = _run(epochs=1, early_stopping=False)
    results = fit(run, prepare_data(run.data), seeds=[0, 1, 2])
    assert [r.seed for r in results] == [0, 1, 2]


def test_early_stopping_stops_after_patience_and_restores_best():
    # lr so high the validation loss stops improving at once
    run = _run(epochs=30, patience=2, lr=0.5, optimizer="sgd", momentum=0.0, monitor="val_accuracy")
    (result,) = fit(run, prepare_data(run.data), seeds=[0])
    best = max(range(len(result.history)), key=lambda i: result.history[i].val_accuracy)
    if result.stopped_early:
        assert len(result.history) == best + 1 + 2  # patience epochs after the best one
    assert result.best_epoch == best + 1
    assert result.val_accuracy == pytest.approx(result.history[best].val_accuracy)


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    full = _run(epochs=3, early_stopping=False)
    data = prepare_data(full.data)
    (reference,) = fit(full, data, seeds=[1])
    ckpt = tmp_path / "cell.pt"
    # "crash" after 2 epochs: train only 2 of them with checkpoints on
    (partial,) = fit(_run(epochs=2, early_stopping=False), data, seeds=[1], checkpoints=[ckpt])
    state = load_checkpoint(ckpt)
    assert len(state["history"]) == 2 and not list(tmp_path.glob("*.tmp"))
    seen = []
    (resumed,) = fit(full, data, seeds=[1], checkpoints=[ckpt], on_epoch=lambda i, s: seen.append(s.epoch))
    assert seen == [1, 2, 3]  # the inherited epochs are re-reported, then epoch 3 runs
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in reference.history]
    assert resumed.val_accuracy == reference.val_accuracy


def test_non_finite_loss_raises_diverged():
    run = _run(epochs=3, lr=1e6, optimizer="sgd", early_stopping=False, layers="FCL")
    with pytest.raises(Diverged, match="non-finite training loss"):
        fit(run, prepare_data(run.data), seeds=[0])
