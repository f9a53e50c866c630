"""Seed 003's pipeline: CNN-1 -> layer labels -> router CNN-2 -> routed CNN-3.

1. **CNN-1**: the ``skip_cnn`` model of the run config, trained by ``objectives.train.fit``
   like any classifier (select on validation, report test).
2. **Labels** (:mod:`objectives.skip._labels`): CNN-1's feature maps label every training image
   with a layer (``skip_maps``, ``skip_top``, ``skip_tie``, ``skip_unselected``); validation and
   test images are labelled by the same rule against the training scores (the *oracle* labels).
3. **CNN-2, the router**: the ``router`` family, trained by ``fit`` to predict the label from the
   image, on the labelled training images; it selects its epoch on the labelled validation images
   and its reported accuracy is on the labelled test images (held out from everything it saw).
   It trains with the run's training settings (optimizer, epochs, ...). The paper gives CNN-2 no
   architecture and reports a 62% test accuracy.

   **Class balance** (``skip_router_balance``). At most ``F x T`` images per layer are selected
   (100 in the paper), so with ``skip_unselected='deepest'`` nearly every training image carries
   the deepest label, and a router trained by plain cross-entropy learns to predict it for every
   image: nothing is skipped and CNN-3's timing says nothing. The paper's router trained on about
   ``F x T`` images per layer, i.e. on balanced classes (what ``'drop'`` gives). ``'oversample'``
   (default) restores that balance for the router: in its *training* split each layer's images
   are repeated until every layer has as many as the largest (:func:`~objectives.skip._labels.oversample`,
   seeded from the trial seed). Validation and test images are left as labelled, so the router's
   reported accuracies are on the true label frequencies (``router_test_balanced_accuracy`` is
   the mean recall over layers). ``'none'`` trains on the labels as they are.
4. **CNN-3**: the same architecture as CNN-1, trained with each image routed to its label's
   layer, so conv layers after it are skipped and get no gradient from that image.
   ``skip_train_on='labelled'`` (the paper: "the above-mentioned images and their corresponding
   labels") trains on the labelled training images; ``'all'`` also trains on the images
   ``skip_unselected='drop'`` left out, routed by the router. At evaluation every image is
   routed by the router (``skip_routing='router'``, the paper) or by its oracle label
   (``'oracle'``); an unselected image is routed to the deepest layer then, since every
   evaluation image must be classified.

   **Initialisation** (``skip_cnn3_init``). The paper only says "weights were initialized" for
   CNN-3 (not copied from the trained CNN-1). ``'shared'`` (default) trains CNN-3 with the trial
   seed, like CNN-1, so it starts from exactly CNN-1's initial weights (and batch order): a paired
   design in which the CNN-1 vs CNN-3 difference comes from routing, not from a different draw of
   initial weights. ``'fresh'`` uses the trial seed plus a fixed offset, an independent
   initialisation.

The objective value is CNN-3's validation accuracy; test metrics are recorded beside it, on every
test image and on the images the policy sends to CNN-3 (``cnn3_selected_test_accuracy``, with
CNN-1's on the same images: the paper's own CNN-3 figure, see :func:`_selected_accuracy`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from objectives._config import RunConfig
from objectives.data import PreparedData
from objectives.skip._config import router_run
from objectives.skip._labels import (
    assign_labels,
    map_scores,
    oversample,
    score_thresholds,
    threshold_selection,
    top_selection,
)
from objectives.skip._routed import TIMING_IMAGES, predict, routed_forward, seconds_per_image
from objectives.train import EpochStats, FitResult, autocast_for, fit, remove_checkpoint

STAGES = ("cnn1", "router", "cnn3")
StageCallback = Callable[[str, EpochStats], None]  # (stage, stats)
# Offsets from the trial seed, so each random choice below has its own stream and stays fixed
# for a given trial seed (the values are arbitrary).
BALANCE_SEED_OFFSET = 3001  # which minority images the router's oversampling repeats once more
FRESH_INIT_SEED_OFFSET = 3003  # CNN-3's seed under skip_cnn3_init='fresh'


@dataclass
class SkipResult:
    """The three trained stages and the pipeline's own metrics."""

    cnn1: FitResult
    router: FitResult
    cnn3: FitResult
    metrics: dict[str, Any] = field(default_factory=dict)


def run_pipeline(
    run: RunConfig,
    data: PreparedData,
    *,
    seed: int,
    on_epoch: StageCallback | None = None,
    checkpoint_prefix: Path | None = None,
) -> SkipResult:
    """Run the four steps for ``run`` (which must carry the ``skip`` part) on ``data``."""
    skip = run.part("skip")
    layers = run.model["conv_layers"]
    deepest = layers - 1

    def stage_callback(stage: str):
        return None if on_epoch is None else (lambda stats: on_epoch(stage, stats))

    def checkpoint(stage: str) -> Path | None:
        return None if checkpoint_prefix is None else Path(f"{checkpoint_prefix}-{stage}.pt")

    # 1. CNN-1
    cnn1 = fit(run, data, seed=seed, on_epoch=stage_callback("cnn1"), checkpoint=checkpoint("cnn1"))

    # 2. labels: training images by rank, evaluation images against the training thresholds
    scores = {split: map_scores(cnn1.model, data.inputs(split), skip.skip_maps) for split in ("train", "val", "test")}
    rule = dict(tie=skip.skip_tie, unselected=skip.skip_unselected)
    thresholds = score_thresholds(scores["train"], skip.skip_top)
    labels = {"train": assign_labels(top_selection(scores["train"], skip.skip_top), **rule)}
    for split in ("val", "test"):
        labels[split] = assign_labels(threshold_selection(scores[split], thresholds), **rule)

    # 3. the router, CNN-2
    balance_seed = seed + BALANCE_SEED_OFFSET if skip.skip_router_balance == "oversample" else None
    router_data, held_out = _label_data(data, labels, layers, balance_seed=balance_seed)
    router = fit(router_run(run, skip.router), router_data, seed=seed,
                 on_epoch=stage_callback("router"), checkpoint=checkpoint("router"))
    predicted = {split: predict(router.model, data.inputs(split)) for split in ("val", "test")}

    # 4. CNN-3: the trainer, with each image's route passed to the model (routed_forward)
    routes = {
        split: (
            predicted[split] if skip.skip_routing == "router"
            else torch.where(labels[split] >= 0, labels[split], deepest)
        )
        for split in ("val", "test")
    }
    cnn3_data, train_route = data, labels["train"]
    if skip.skip_train_on == "labelled":
        keep = train_route >= 0
        cnn3_data = _with_splits(data, train=(data.x_train[keep], data.y_train[keep]))
        train_route = train_route[keep]
    elif (train_route < 0).any():
        train_route = torch.where(train_route >= 0, train_route, predict(router.model, data.inputs("train")))
    cnn3_seed = seed if skip.skip_cnn3_init == "shared" else seed + FRESH_INIT_SEED_OFFSET
    cnn3 = fit(run, cnn3_data, seed=cnn3_seed, on_epoch=stage_callback("cnn3"), checkpoint=checkpoint("cnn3"),
               forward=routed_forward({"train": train_route, **routes}))

    metrics = {
        "cnn1_val_accuracy": cnn1.val_accuracy,
        "cnn1_test_accuracy": cnn1.test_accuracy,
        "cnn3_val_accuracy": cnn3.val_accuracy,
        "cnn3_test_accuracy": cnn3.test_accuracy,
        **_selected_accuracy(cnn1, cnn3, labels["test"]),
        **_router_metrics(router, labels, predicted, held_out),
        "skip_fraction": _skip_fraction(routes["test"], layers),
        "val_skip_fraction": _skip_fraction(routes["val"], layers),
        "label_counts": _counts(labels["train"], layers),
        "labels_dropped": int((labels["train"] < 0).sum()),
        "router_train_images": len(router_data.y_train),
        "cnn3_train_images": len(train_route),
        "route_counts": _counts(routes["test"], layers),
        **_timings(cnn1.model, router.model, cnn3.model, data.inputs("test"), routes["test"]),
        "cnn1_train_seconds": cnn1.train_seconds,
        "router_train_seconds": router.train_seconds,
        "cnn3_train_seconds": cnn3.train_seconds,
    }
    if checkpoint_prefix is not None:  # the stages are done; their resume points are no longer needed
        for stage in STAGES:
            remove_checkpoint(checkpoint(stage))
    return SkipResult(cnn1=cnn1, router=router, cnn3=cnn3, metrics=metrics)


def _label_data(
    data: PreparedData, labels: dict[str, torch.Tensor], layers: int, *, balance_seed: int | None
) -> tuple[PreparedData, dict[str, bool]]:
    """The router's data: the labelled images of each split, with their layer as the class; with
    a ``balance_seed``, the training split is oversampled to equal label counts (only it).

    A held-out split with no labelled image (possible with ``skip_unselected='drop'`` on tiny
    data) is replaced by the labelled training images so training can proceed; ``held_out``
    says which splits are genuine, and the router's accuracy on a replaced split is not reported.
    """
    held_out, parts = {}, {}
    train_keep = labels["train"] >= 0
    for split in ("train", "val", "test"):
        keep = labels[split] >= 0
        source = split
        if split != "train" and not keep.any():
            keep, source = train_keep, "train"
        held_out[split] = source == split
        parts[split] = (getattr(data, f"x_{source}")[keep], labels[source][keep])
    if balance_seed is not None:
        chosen = oversample(labels["train"], seed=balance_seed)
        parts["train"] = (data.x_train[chosen], labels["train"][chosen])
    sub = _with_splits(data, **parts)
    sub.classes = tuple(f"layer{j}" for j in range(layers))
    return sub, held_out


def _with_splits(data: PreparedData, **splits: tuple[torch.Tensor, torch.Tensor]) -> PreparedData:
    """A copy of ``data`` with some splits' (pixels, labels) replaced; it shares the normalisation
    settings and starts with an empty cache of finished inputs."""
    sub = copy.copy(data)
    sub._finished = {}
    for split, (x, y) in splits.items():
        setattr(sub, f"x_{split}", x)
        setattr(sub, f"y_{split}", y)
    return sub


def _router_metrics(
    router: FitResult, labels: dict[str, torch.Tensor], predicted: dict[str, torch.Tensor], held_out: dict[str, bool]
) -> dict[str, Any]:
    if not held_out["test"]:
        return {"router_val_accuracy": router.val_accuracy if held_out["val"] else None,
                "router_test_accuracy": None, "router_test_balanced_accuracy": None, "router_confusion": None}
    # Balanced accuracy (mean recall over the layers present): with the deepest label for every
    # unselected image one class dominates, and plain accuracy rewards always predicting it.
    from sklearn.metrics import balanced_accuracy_score  # lazy: scikit-learn takes ~1.5 s to import

    keep = labels["test"] >= 0
    with warnings.catch_warnings():  # sklearn warns when the test images hold a single layer
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(labels["test"][keep].cpu().numpy(), predicted["test"][keep].cpu().numpy())
    return {
        "router_val_accuracy": router.val_accuracy if held_out["val"] else None,
        "router_test_accuracy": router.test_accuracy,
        "router_test_balanced_accuracy": float(balanced),
        "router_confusion": router.confusion,
    }


def _selected_accuracy(cnn1: FitResult, cnn3: FitResult, test_labels: torch.Tensor) -> dict[str, Any]:
    """CNN-3's and CNN-1's test accuracy on the images the skip policy sends to CNN-3: those with a
    layer label (some map selected them; under ``skip_unselected='deepest'`` every image). The
    paper trains, validates and tests CNN-3 on these images only ("close to 100 percent") and
    compares it with CNN-1 on all of MNIST (98%); the overall accuracies stay beside these."""
    from objectives._per_image import unpack_correct

    selected = (test_labels >= 0).cpu().numpy()
    out: dict[str, Any] = {"selected_test_images": int(selected.sum())}
    for name, result in (("cnn1", cnn1), ("cnn3", cnn3)):
        correct = unpack_correct(result.extra.get("test_correct"))
        ok = correct is not None and len(correct[0]) == len(selected) and selected.any()
        out[f"{name}_selected_test_accuracy"] = float(correct[0][selected].mean()) if ok else None
    return out


def _skip_fraction(route: torch.Tensor, layers: int) -> float:
    """Share of conv layer evaluations skipped: an image routed to layer k skips L-1-k of L."""
    if len(route) == 0:
        return 0.0
    return float((layers - 1 - route).sum()) / (len(route) * layers)


def _counts(values: torch.Tensor, layers: int) -> list[int]:
    return torch.bincount(values[values >= 0], minlength=layers).tolist()


def _timings(cnn1, router, cnn3, x_test: torch.Tensor, route_test: torch.Tensor) -> dict[str, float]:
    """Milliseconds per test image in eval mode (informational: the machine may be shared).
    CNN-3 is timed with its routes given, batched by route; the router is timed separately,
    so CNN-3 end to end costs ``cnn3_ms_per_image + router_ms_per_image``."""
    n = min(TIMING_IMAGES, len(x_test))
    x, route = x_test[:n], route_test[:n]
    for model in (cnn1, router, cnn3):
        model.eval()
    with autocast_for(x.device):  # as in evaluation
        return {
            "cnn1_ms_per_image": 1000 * seconds_per_image(lambda a, b: cnn1(x[a:b]), n),
            "cnn3_ms_per_image": 1000 * seconds_per_image(lambda a, b: cnn3(x[a:b], route=route[a:b]), n),
            "router_ms_per_image": 1000 * seconds_per_image(lambda a, b: router(x[a:b]), n),
        }
