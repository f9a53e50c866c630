"""Seed 003's pipeline (objectives.skip): labelling rule, routed training, end to end on digits."""

from __future__ import annotations

import math

import optuna
import pytest
import torch

from objectives import RunConfig, make_objective
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.skip._labels import (
    assign_labels,
    map_scores,
    oversample,
    score_thresholds,
    threshold_selection,
    top_selection,
)
from objectives.skip._routed import routed_forward
from objectives.skip._pipeline import run_pipeline
from objectives.skip import _pipeline
from objectives._per_image import unpack_correct
from objectives.skip._objective import REPORT_ATTRS
from searchspace._dims import Fixed
from searchspace import LayerlabError, Space, build_model

# Small and fast: 12 maps so that F = 10 fits, a one-conv router.
TINY = {
    "family": "skip_cnn", "dataset": "digits", "widths": [12, 12, 12], "batch_size": 64, "epochs": 2,
    "early_stopping": False, "router": {"family": "seq", "layers": "Conv:8-AL-PL-FCL:32-AL"},
}  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: two intra-op threads only fight over the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_run(**extra) -> RunConfig:
    return RunConfig.from_flat({**TINY, **extra}, parts=["skip"])


# --- the labelling rule on hand-made scores ---------------------------------------------------

# Three layers, two maps each, six images. T = 2.
SCORES = [
    torch.tensor([[5.0, 0.0], [4.0, 0.0], [1.0, 3.0], [0.0, 2.0], [0.0, 1.0], [0.0, 0.0]]),  # layer 0
    torch.tensor([[0.0, 2.0], [6.0, 2.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]),  # layer 1
    torch.tensor([[0.0, 0.0], [0.0, 0.0], [9.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),  # layer 2
]
# Layer 0: map 0 picks images 0, 1; map 1 picks 2, 3.
# Layer 1: map 0 picks 1, 5; map 1 has a three-way tie at 2.0 and picks the lowest indices, 0, 1.
# Layer 2: map 0 has one positive score (image 2); map 1 is dead (all zero) and picks nobody.
SELECTED = [
    [True, True, False],  # image 0: layers 0 and 1
    [True, True, False],  # image 1: layers 0 and 1
    [True, False, True],  # image 2: layers 0 and 2
    [True, False, False],  # image 3: layer 0
    [False, False, False],  # image 4: nowhere
    [False, True, False],  # image 5: layer 1
]


def test_top_selection_picks_the_strongest_images_of_every_map():
    assert top_selection(SCORES, 2).tolist() == SELECTED


@pytest.mark.parametrize(
    "tie, unselected, expected",
    [
        ("deeper", "deepest", [1, 1, 2, 0, 2, 1]),  # the paper's rule, and the default
        ("deeper", "drop", [1, 1, 2, 0, -1, 1]),
        ("shallower", "deepest", [0, 0, 0, 0, 2, 1]),
        ("shallower", "drop", [0, 0, 0, 0, -1, 1]),
    ],
)
def test_labels_follow_the_tie_rule_and_the_unselected_rule(tie, unselected, expected):
    labels = assign_labels(top_selection(SCORES, 2), tie=tie, unselected=unselected)
    assert labels.tolist() == expected


def test_a_larger_top_selects_more_images():
    labels = assign_labels(top_selection(SCORES, 3), unselected="drop")
    # map 0 of layer 0 now also picks image 2 (no change: it is in layer 2); map 1 picks image 4
    assert labels.tolist() == [1, 1, 2, 0, 0, 1]


def test_evaluation_images_are_labelled_against_the_training_thresholds():
    thresholds = score_thresholds(SCORES, 2)
    assert [t.tolist() for t in thresholds] == [[4.0, 2.0], [1.0, 2.0], [0.0, 0.0]]
    new = [
        torch.tensor([[4.0, 0.0], [3.9, 0.0], [0.0, 0.0], [0.0, 0.0]]),
        torch.tensor([[0.0, 0.0], [0.0, 2.5], [0.0, 0.0], [0.0, 0.0]]),
        torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.1], [0.0, 0.0]]),
    ]
    selected = threshold_selection(new, thresholds)
    assert selected.tolist() == [
        [True, False, False],  # reaches layer 0's map 0 threshold exactly
        [False, True, False],  # 3.9 misses it; 2.5 passes layer 1's map 1
        [False, False, True],  # any positive score beats layer 2's zero thresholds
        [False, False, False],  # zeros never select, even against a zero threshold
    ]
    assert assign_labels(selected).tolist() == [0, 1, 2, 2]
    assert assign_labels(selected, unselected="drop").tolist() == [0, 1, 2, -1]


def test_map_scores_are_mean_absolute_activations_of_the_first_maps():
    torch.manual_seed(0)
    model = build_model("skip_cnn", in_channels=1, num_classes=3, input_size=6, widths=[5, 4, 6])
    x = torch.randn(9, 1, 6, 6)
    scores = map_scores(model, x, 3)
    _, acts = model(x, return_activations=True)
    assert [tuple(s.shape) for s in scores] == [(9, 3)] * 3
    for s, a in zip(scores, acts):
        torch.testing.assert_close(s, a[:, :3].abs().mean(dim=(2, 3)))


def test_oversample_balances_the_labels_and_repeats_images_evenly():
    labels = torch.tensor([2, 2, 2, 2, 2, 2, 2, 0, 0, 0, -1, 2, 1, 1])  # 8 x layer 2, 3 x layer 0, 2 x layer 1
    chosen = oversample(labels, seed=4)
    assert torch.bincount(labels[chosen]).tolist() == [8, 8, 8]
    assert -1 not in labels[chosen].tolist()  # dropped images stay out
    repeats = torch.bincount(chosen, minlength=len(labels))
    assert [int(repeats[i]) for i in range(len(labels)) if labels[i] == 2] == [1] * 8  # the majority as it is
    for label in (0, 1):  # a minority: every image at least 8 // n times, at most once more
        counts = repeats[labels == label]
        n = len(counts)
        assert counts.min() == 8 // n and counts.max() <= 8 // n + 1
    assert torch.equal(oversample(labels, seed=4), chosen)  # seeded
    draws = {tuple(oversample(labels, seed=s).tolist()) for s in range(6)}
    assert len(draws) > 1  # the seed picks which minority images are repeated once more


def test_oversample_leaves_an_absent_layer_absent_and_handles_no_labels():
    labels = torch.tensor([0, 0, 0, 2, -1])
    assert torch.bincount(labels[oversample(labels, seed=0)], minlength=3).tolist() == [3, 0, 3]
    assert oversample(torch.tensor([-1, -1]), seed=0).tolist() == []


# --- routed training ---------------------------------------------------------------------------


def _routes(data, depth: int) -> dict[str, torch.Tensor]:
    return {split: torch.full((len(data.labels(split)),), depth) for split in ("train", "val", "test")}


def test_routed_training_with_every_image_at_the_deepest_layer_is_the_plain_trainer():
    run = tiny_run(epochs=3, early_stopping=True, patience=1, lr=0.01)
    data = prepare_data(run.data)
    plain = fit(run, data, seed=3)
    routed = fit(run, data, seed=3, forward=routed_forward(_routes(data, 2)))
    assert [h.val_loss for h in routed.history] == [h.val_loss for h in plain.history]
    assert (routed.val_accuracy, routed.test_accuracy, routed.best_epoch) == (
        plain.val_accuracy, plain.test_accuracy, plain.best_epoch)  # fmt: skip


def test_layers_after_the_route_are_never_updated():
    run = tiny_run(epochs=1)
    data = prepare_data(run.data)
    torch.manual_seed(5)
    initial = build_model("skip_cnn", in_channels=1, num_classes=10, input_size=8, **run.model)
    result = fit(run, data, seed=5, forward=routed_forward(_routes(data, 0)))
    trained = result.model
    assert not torch.equal(trained.convs[0].weight, initial.convs[0].weight)
    for layer in (1, 2):
        assert torch.equal(trained.convs[layer].weight, initial.convs[layer].weight)
        assert torch.equal(trained.convs[layer].bias, initial.convs[layer].bias)


def test_routed_training_takes_every_trainer_option():
    # one training loop: augmentation, schedules and kernel penalties work with routes too
    run = tiny_run(epochs=2, augment="flip+shift", schedule="cosine", l2=1e-4)
    data = prepare_data(run.data)
    routed = fit(run, data, seed=1, forward=routed_forward(_routes(data, 1)))
    assert len(routed.history) == 2 and routed.history[1].lr < routed.history[0].lr


# --- the pipeline end to end ---------------------------------------------------------------


def test_pipeline_runs_on_digits_and_reports_every_stage():
    run = tiny_run()
    data = prepare_data(run.data)
    seen = []
    result = run_pipeline(run, data, seed=0, on_epoch=lambda stage, stats: seen.append((stage, stats.epoch)))
    m = result.metrics
    assert seen == [(s, e) for s in ("cnn1", "router", "cnn3") for e in (1, 2)]
    assert result.cnn1.val_accuracy == m["cnn1_val_accuracy"] and m["cnn3_val_accuracy"] == result.cnn3.val_accuracy
    assert m["cnn1_test_accuracy"] > 0.5 and m["cnn3_test_accuracy"] > 0.5  # both learn digits
    # under 'deepest' the policy sends every test image to CNN-3: selected = overall
    assert m["selected_test_images"] == len(data.y_test)
    assert m["cnn3_selected_test_accuracy"] == pytest.approx(m["cnn3_test_accuracy"], abs=1e-12)
    assert m["cnn1_selected_test_accuracy"] == pytest.approx(m["cnn1_test_accuracy"], abs=1e-12)
    # labels: recomputed from CNN-1's activations with the documented rule
    labels = assign_labels(top_selection(map_scores(result.cnn1.model, data.inputs("train"), 10), 10))
    assert m["label_counts"] == torch.bincount(labels, minlength=3).tolist()
    assert sum(m["label_counts"]) == len(data.y_train) == m["cnn3_train_images"] and m["labels_dropped"] == 0
    assert m["label_counts"][0] > 0 and m["label_counts"][0] <= 10 * 10  # at most F x T per layer
    # skip fraction from the routes the test set took
    counts = m["route_counts"]
    assert sum(counts) == len(data.y_test)
    assert m["skip_fraction"] == pytest.approx((2 * counts[0] + counts[1]) / (3 * sum(counts)))
    assert 0.0 <= m["router_test_accuracy"] <= 1.0 and 0.0 <= m["router_test_balanced_accuracy"] <= 1.0
    for key in ("cnn1_ms_per_image", "cnn3_ms_per_image", "router_ms_per_image"):
        assert m[key] > 0
    # the router trained on equally many images per layer (skip_router_balance='oversample'), so
    # it does not send every image to the dominant deepest layer; deterministic for seed 0 on CPU
    assert m["router_train_images"] == 3 * max(m["label_counts"])
    assert counts[2] < sum(counts) and m["skip_fraction"] > 0
    assert m["router_test_balanced_accuracy"] > 0.4  # better than a constant router (1/3)


def test_without_balancing_the_router_trains_on_the_labels_as_they_are():
    run = tiny_run(skip_router_balance="none", epochs=1)
    data = prepare_data(run.data)
    m = run_pipeline(run, data, seed=0).metrics
    assert m["router_train_images"] == sum(m["label_counts"]) == len(data.y_train)


@pytest.mark.parametrize("init, offset", [("shared", 0), ("fresh", _pipeline.FRESH_INIT_SEED_OFFSET)])
def test_cnn3_starts_from_cnn1_initial_weights_or_a_fresh_seed(monkeypatch, init, offset):
    used = []

    def recording_fit(run, data, *, seed, **kwargs):
        used.append(seed)
        return fit(run, data, seed=seed, **kwargs)

    monkeypatch.setattr(_pipeline, "fit", recording_fit)
    run = tiny_run(skip_cnn3_init=init, epochs=1)
    run_pipeline(run, prepare_data(run.data), seed=7)
    assert used == [7, 7, 7 + offset]  # CNN-1, the router, CNN-3; fit seeds the initialisation


def test_drop_trains_cnn3_on_the_selected_images_and_oracle_routing_skips_layers():
    run = tiny_run(skip_unselected="drop", skip_routing="oracle", epochs=1)
    data = prepare_data(run.data)
    result = run_pipeline(run, data, seed=0)
    m = result.metrics
    assert m["labels_dropped"] > 0
    assert m["cnn3_train_images"] == sum(m["label_counts"]) == len(data.y_train) - m["labels_dropped"]
    assert m["cnn3_train_images"] <= 3 * 10 * 10
    # seed 003's CNN-3 figure: accuracy on the test images the policy sends to it (those with a label)
    scores = {s: map_scores(result.cnn1.model, data.inputs(s), 10) for s in ("train", "test")}
    selected = threshold_selection(scores["test"], score_thresholds(scores["train"], 10)).any(1)
    assert 0 < m["selected_test_images"] == int(selected.sum()) < len(data.y_test)
    correct = {name: unpack_correct(getattr(result, name).extra["test_correct"])[0] for name in ("cnn1", "cnn3")}
    for name in ("cnn1", "cnn3"):
        assert m[f"{name}_selected_test_accuracy"] == pytest.approx(correct[name][selected.numpy()].mean())
    # the oracle routes some test images out early on digits (a deterministic property of seed 0)
    assert m["route_counts"][0] + m["route_counts"][1] > 0 and m["skip_fraction"] > 0


def test_objective_records_the_pipeline_on_the_trial():
    space = Space([Fixed(k, value=v) for k, v in {**TINY, "epochs": 1}.items()])
    objective = make_objective("skip_layers", space, device="cpu")
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    attrs = trial.user_attrs
    assert trial.state.name == "COMPLETE" and trial.value == attrs["val_accuracy"] == attrs["cnn3_val_accuracy"]
    assert {"config", "config_id", "seed", "repeat", "history", "confusion", *REPORT_ATTRS} <= set(attrs)
    assert attrs["config"]["skip_maps"] == 10 and attrs["config"]["skip_routing"] == "router"  # defaults stored
    assert attrs["train_seconds"] == pytest.approx(
        attrs["cnn1_train_seconds"] + attrs["router_train_seconds"] + attrs["cnn3_train_seconds"])
    assert trial.intermediate_values == {1: attrs["history"][0]["val_accuracy"]}  # CNN-3's epochs only
    assert not math.isnan(attrs["cnn1_test_accuracy"])


# --- config errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ({"skip_maps": 0}, "skip_maps must be an integer >= 1, got 0"),
        ({"skip_top": 0}, "skip_top must be an integer >= 1, got 0"),
        ({"skip_top": 2.5}, "skip_top must be an integer >= 1, got 2.5"),
        ({"skip_routing": "psychic"}, "unknown skip_routing 'psychic'; valid: router, oracle"),
        ({"skip_unselected": "keep"}, "unknown skip_unselected 'keep'; valid: deepest, drop"),
        ({"skip_train_on": "some"}, "unknown skip_train_on 'some'; valid: labelled, all"),
        ({"skip_tie": "random"}, "unknown skip_tie 'random'; valid: deeper, shallower"),
        ({"skip_router_balance": "smote"}, "unknown skip_router_balance 'smote'; valid: oversample, none"),
        ({"skip_cnn3_init": "copy"}, "unknown skip_cnn3_init 'copy'; valid: shared, fresh"),
        ({"skip_maps": 13}, "skip_maps 13 exceeds the narrowest conv layer (12 maps"),
        ({"family": "seq"}, "need family 'skip_cnn'"),
        ({"router": "nope"}, "unknown family 'nope'"),
        ({"router": {"layers": "Conv"}}, "router must be a family name or a mapping with a 'family' key"),
        ({"router": {"family": "seq", "depth": 3}}, "router family 'seq' has no key(s) depth"),
        ({"router": {"family": "seq", "init": "magic"}}, "router init 'magic' is unknown"),
        ({"skip_mapz": 3}, "unknown config key 'skip_mapz'"),
    ],
)
def test_bad_skip_config_is_a_one_line_error(extra, fragment):
    with pytest.raises(LayerlabError) as err:
        tiny_run(**extra)
    assert fragment in str(err.value) and "\n" not in str(err.value)
