"""The trainer: learning, reproducibility, early stopping, checkpoints, divergence."""

from __future__ import annotations

import pytest
import torch

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.train import Diverged
from objectives.train._metrics import count_flops
from objectives.train._checkpoint import load_checkpoint
from searchspace import ConfigError

FAST = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 8, "fc_units": 32}


def _run(**extra) -> RunConfig:
    return RunConfig.from_flat({**FAST, **extra})


def test_training_learns_digits_and_reports_test_beside_validation():
    run = _run(epochs=4, early_stopping=False)
    result = fit(run, prepare_data(run.data), seed=0)
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
    a, b = fit(run, data, seed=5), fit(run, data, seed=5)
    assert len(a.history) == 2 and [h.val_loss for h in a.history] == [h.val_loss for h in b.history]
    assert a.val_accuracy == b.val_accuracy and a.test_accuracy == b.test_accuracy and a.seed == 5
    c = fit(run, data, seed=6)
    assert [h.train_loss for h in c.history] != [h.train_loss for h in a.history]


def test_a_custom_model_builder_is_used():
    run = _run(epochs=1, early_stopping=False)
    data = prepare_data(run.data)
    built = []

    def linear(run_, data_):  # airbench's make_net idea: swap the network, keep the loop
        built.append((run_, data_))
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(data_.in_channels * 8 * 8, data_.num_classes))

    result = fit(run, data, seed=0, build=linear)
    assert built == [(run, data)]
    assert isinstance(result.model, torch.nn.Sequential) and result.params == 64 * 10 + 10
    assert result.params != fit(run, data, seed=0).params  # the default builder makes the config's seq net


@pytest.mark.parametrize("extra, copies", [
    ({}, "each improvement"),  # early stopping with restore_best: the best weights are kept
    ({"restore_best": False}, 0),
    ({"early_stopping": False}, 0),  # restore_best alone never restores, so nothing to keep
])  # fmt: skip
def test_best_weights_are_copied_only_when_they_will_be_restored(monkeypatch, extra, copies):
    from objectives.train import _trainer

    taken = []
    snapshot = _trainer._snapshot
    monkeypatch.setattr(_trainer, "_snapshot", lambda model: taken.append(1) or snapshot(model))
    run = _run(epochs=3, patience=3, **extra)
    result = fit(run, prepare_data(run.data), seed=0)
    values = [h.val_loss for h in result.history]
    improvements = sum(v < min(values[:i], default=float("inf")) for i, v in enumerate(values))
    assert improvements >= 2, values
    assert len(taken) == (improvements if copies == "each improvement" else copies)


def test_early_stopping_stops_after_patience_and_restores_best():
    # lr so high the validation loss stops improving at once
    run = _run(epochs=30, patience=2, lr=0.5, optimizer="sgd", momentum=0.0, monitor="val_accuracy")
    result = fit(run, prepare_data(run.data), seed=0)
    best = max(range(len(result.history)), key=lambda i: result.history[i].val_accuracy)
    assert result.stopped_early, [h.val_accuracy for h in result.history]
    assert len(result.history) == best + 1 + 2  # patience epochs after the best one
    assert result.best_epoch == best + 1
    assert result.val_accuracy == pytest.approx(result.history[best].val_accuracy)


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    full = _run(epochs=3, early_stopping=False)
    data = prepare_data(full.data)
    reference = fit(full, data, seed=1)
    ckpt = tmp_path / "cell.pt"
    # "crash" after 2 epochs: train only 2 of them with checkpoints on
    # (interval 0: a checkpoint after every epoch; the default takes one every 30 s)
    partial = fit(_run(epochs=2, early_stopping=False), data, seed=1, checkpoint=ckpt, checkpoint_interval=0)
    state = load_checkpoint(ckpt)
    assert len(state["history"]) == 2 and not list(tmp_path.glob("*.tmp"))
    seen = []
    resumed = fit(full, data, seed=1, checkpoint=ckpt, on_epoch=lambda s: seen.append(s.epoch))
    assert seen == [1, 2, 3]  # the inherited epochs are re-reported, then epoch 3 runs
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in reference.history]
    assert resumed.val_accuracy == reference.val_accuracy


def test_non_finite_loss_raises_diverged():
    run = _run(epochs=3, lr=1e6, optimizer="sgd", early_stopping=False, layers="FCL")
    with pytest.raises(Diverged, match="non-finite training loss"):
        fit(run, prepare_data(run.data), seed=0)


def test_same_config_and_seed_are_identical_with_augmentation_and_a_schedule():
    run = _run(epochs=2, early_stopping=False, augment="flip+rotate+shift+zoom+color+sharpness+cutout+mixup",
               schedule="onecycle", lr=0.01, l2=1e-4)
    data = prepare_data(run.data)
    a, b = fit(run, data, seed=3), fit(run, data, seed=3)
    keep = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
    assert [[getattr(h, k) for k in keep] for h in a.history] == [[getattr(h, k) for k in keep] for h in b.history]
    assert (a.val_accuracy, a.test_accuracy, a.confusion) == (b.val_accuracy, b.test_accuracy, b.confusion)
    plain = fit(_run(epochs=2, early_stopping=False, schedule="onecycle", lr=0.01, l2=1e-4), data, seed=3)
    assert [h.train_loss for h in plain.history] != [h.train_loss for h in a.history]


@pytest.mark.parametrize("augment", ["mixup", "cutmix", "flip+rotate+color"])
def test_training_with_augmentation_still_learns(augment):
    run = _run(epochs=3, early_stopping=False, augment=augment, rotate_degrees=10.0, lr=3e-3)
    result = fit(run, prepare_data(run.data), seed=0)
    assert result.val_accuracy > 0.5  # 10 classes: chance is 0.1
    assert all(0.0 <= h.train_accuracy <= 1.0 for h in result.history)


def test_onecycle_steps_every_batch_through_the_exact_run_length():
    # batches of n - 1 images leave a last batch of 1, which is dropped: an off-by-one step count
    # would make OneCycleLR raise ("tried to step ... times") in the last epoch
    n = len(prepare_data(_run().data).y_train)
    run = _run(epochs=10, early_stopping=False, schedule="onecycle", batch_size=n - 1, lr=0.05)
    result = fit(run, prepare_data(run.data), seed=0)
    lrs = [h.lr for h in result.history]  # recorded at the start of each epoch (= each step here)
    assert [h.images for h in result.history] == [n - 1] * 10
    assert lrs[0] == pytest.approx(0.05 / 25) and max(lrs) == pytest.approx(0.05, rel=0.02)
    assert lrs.index(max(lrs)) == 2 and lrs[-1] < lrs[0]  # warm-up over 30%, then annealing


def test_multistep_lr_drops_at_the_milestone_in_the_history():
    run = _run(epochs=3, early_stopping=False, optimizer="sgd", lr=0.1, momentum=0.9,
               schedule="multistep", milestones=[2], gamma=0.1)
    result = fit(run, prepare_data(run.data), seed=0)
    assert [h.lr for h in result.history] == pytest.approx([0.1, 0.1, 0.01])


def test_kernel_penalty_changes_training():
    base = dict(epochs=1, early_stopping=False)
    data = prepare_data(_run().data)
    plain = fit(_run(**base), data, seed=0)
    l1 = fit(_run(**base, l1=1e-2), data, seed=0)
    assert plain.history[0].train_loss != l1.history[0].train_loss


class _Interrupt(Exception):
    pass


def test_resume_with_augmentation_and_schedule_matches_an_uninterrupted_run(tmp_path):
    run = _run(epochs=3, early_stopping=False, augment="flip+rotate+cutmix", schedule="cosine",
               optimizer="sgd", lr=0.05, momentum=0.9)
    data = prepare_data(run.data)
    reference = fit(run, data, seed=2)
    ckpt = tmp_path / "cell.pt"

    def crash_after_two(stats):
        if stats.epoch == 2:
            raise _Interrupt  # the checkpoint of epoch 2 is already on disk

    with pytest.raises(_Interrupt):
        fit(run, data, seed=2, checkpoint=ckpt, on_epoch=crash_after_two, checkpoint_interval=0)
    state = load_checkpoint(ckpt)
    assert len(state["history"]) == 2 and "augment" in state and "schedule" in state
    resumed = fit(run, data, seed=2, checkpoint=ckpt)
    keep = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
    assert [[getattr(h, k) for k in keep] for h in resumed.history] == [
        [getattr(h, k) for k in keep] for h in reference.history
    ]
    assert resumed.test_accuracy == reference.test_accuracy and resumed.confusion == reference.confusion


def test_flops_match_a_hand_count():
    linear = torch.nn.Linear(64, 10)
    assert count_flops(linear, (64,)) == 2 * 64 * 10  # bias adds are not counted
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(conv, (3, 16, 16)) == 2 * 8 * 3 * 3 * 3 * 16 * 16
    # Base0 on 8x8 digits: flatten + Linear(64 -> 10)
    run = RunConfig.from_flat({"family": "fcl", "dataset": "digits", "epochs": 1})
    result = fit(run, prepare_data(run.data), seed=0)
    assert result.flops == 2 * 64 * 10 and result.metrics()["flops"] == 1280


def test_metrics_hold_what_a_trial_stores():
    run = _run(epochs=2, early_stopping=False)
    result = fit(run, prepare_data(run.data), seed=0)
    metrics = result.metrics()
    for key in ("test_error", "confusion", "history", "params", "flops", "train_seconds", "images_per_second",
                "val_accuracy", "test_accuracy", "best_epoch", "epochs_run", "stopped_early"):
        assert key in metrics
    epoch = metrics["history"][0]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(epoch)
    assert metrics["images_per_second"] > 0 and metrics["flops"] > 0
    assert metrics["train_seconds"] >= sum(h["train_pass_seconds"] for h in metrics["history"])


def test_cpu_training_uses_layerlab_threads_and_restores_torchs_setting(monkeypatch):
    from objectives.train._device import cpu_threads

    run = _run(epochs=1, early_stopping=False)
    data = prepare_data(run.data)
    seen = []
    before = torch.get_num_threads()
    fit(run, data, seed=0, on_epoch=lambda s: seen.append(torch.get_num_threads()))
    assert seen == [1] and torch.get_num_threads() == before
    monkeypatch.setenv("LAYERLAB_THREADS", "2")
    assert cpu_threads() == 2
    monkeypatch.setenv("LAYERLAB_THREADS", "many")
    with pytest.raises(ConfigError, match="LAYERLAB_THREADS must be a positive integer, got 'many'"):
        fit(run, data, seed=0)


def test_label_smoothing_and_grad_clip_take_effect():
    data = prepare_data(_run().data)
    base = dict(epochs=1, early_stopping=False, optimizer="sgd", lr=0.1, momentum=0.9)
    plain = fit(_run(**base), data, seed=0)
    smooth = fit(_run(**base, label_smoothing=0.2), data, seed=0)
    clipped = fit(_run(**base, grad_clip=1e-6), data, seed=0)
    assert smooth.history[0].train_loss != plain.history[0].train_loss
    # steps of norm <= 1e-6 x lr barely move the weights: the model stays near chance
    assert clipped.history[0].train_loss > plain.history[0].train_loss
    assert clipped.val_accuracy < plain.val_accuracy


def test_per_epoch_test_evaluation_is_recorded_and_changes_nothing_else():
    data = prepare_data(_run().data)
    plain = fit(_run(epochs=3, early_stopping=False), data, seed=4)
    traced = fit(_run(epochs=3, early_stopping=False, eval_test_every_epoch=True), data, seed=4)
    assert all(h.test_accuracy is None and h.test_loss is None for h in plain.history)
    assert all(0.0 <= h.test_accuracy <= 1.0 and h.test_loss > 0 for h in traced.history)
    # reporting only: the training, the selection and the final metrics are the same
    assert [h.val_loss for h in traced.history] == [h.val_loss for h in plain.history]
    assert traced.val_accuracy == plain.val_accuracy and traced.test_accuracy == plain.test_accuracy
    assert traced.history[-1].test_accuracy == pytest.approx(traced.test_accuracy)  # last epoch = final model
    assert "test_accuracy" in traced.metrics()["history"][0]
