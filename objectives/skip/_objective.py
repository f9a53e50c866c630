"""The ``skip_layers`` objective: seed 003's pipeline as one Optuna trial.

A trial trains CNN-1, labels images, trains the router CNN-2 and the routed CNN-3 (see
:mod:`objectives.skip._pipeline`). Its value is **CNN-3's validation accuracy**; the standard
metric attributes (``val_accuracy``, ``test_accuracy``, ``history``, ``confusion``, ...) describe
CNN-3, except ``train_seconds``, which sums the three stages. The pipeline's own metrics (CNN-1
and router accuracies, the skip fraction, per-image timings, label counts) are user attributes
beside them. Pruning reports CNN-3's validation accuracy per epoch; CNN-1 and the router only
drive the progress display.
"""

from __future__ import annotations

import math

import optuna

from objectives._objective import TRIAL_METRICS, ClassifyObjective, _reporter, register_objective
from objectives.data import prepare_data
from objectives.skip._pipeline import run_pipeline
from objectives.train import Diverged, EpochStats

# Trial user attributes of the pipeline (scalars; reports show them as columns).
REPORT_ATTRS = (
    "cnn1_val_accuracy", "cnn1_test_accuracy", "cnn3_val_accuracy", "cnn3_test_accuracy",
    "cnn3_selected_test_accuracy", "cnn1_selected_test_accuracy", "selected_test_images",
    "router_val_accuracy", "router_test_accuracy", "router_test_balanced_accuracy",
    "skip_fraction", "val_skip_fraction", "labels_dropped", "router_train_images", "cnn3_train_images",
    "cnn1_ms_per_image", "cnn3_ms_per_image", "router_ms_per_image",
    "cnn1_train_seconds", "router_train_seconds", "cnn3_train_seconds",
)  # fmt: skip
# What a reader compares first: CNN-3 against CNN-1, within each trial (same seed and split).
REPORT_PAIRS = (
    ("cnn3_test_accuracy", "cnn1_test_accuracy"),
    ("cnn3_selected_test_accuracy", "cnn1_selected_test_accuracy"),
    ("cnn3_val_accuracy", "cnn1_val_accuracy"),
    ("cnn3_ms_per_image", "cnn1_ms_per_image"),
)
REPORT_DESCRIPTION = (
    "Seed 003's pipeline: cnn1 = the plain CNN (CNN-1), cnn3 = the same architecture trained and evaluated with "
    "per-image layer skipping (CNN-3), routed by the router (CNN-2) or the oracle label as the config says. "
    "selected = the test images the skip policy sends to CNN-3 (those with a layer label: some map selected them; "
    "under skip_unselected=deepest every image), on which the paper reports CNN-3 (close to 100% on MNIST, against "
    "CNN-1's 98% on all images); "
    "skip_fraction = share of conv-layer evaluations skipped on the test images; ms_per_image = eval-mode "
    "inference time per test image (CNN-3 batched by route, router timed separately: CNN-3 end to end costs "
    "cnn3 + router ms); timings depend on the machine and its load."
)
# CNN-3's metrics under the standard names; FLOPs and training time are the pipeline's (below).
STANDARD_ATTRS = tuple(k for k in TRIAL_METRICS if k not in ("flops", "train_seconds"))


@register_objective("skip_layers")
class SkipObjective(ClassifyObjective):
    """Seed 003's CNN-1 -> labels -> router -> routed CNN-3 for the config sampled from ``space``
    (same arguments as :class:`ClassifyObjective`). The config's family must be ``skip_cnn``."""

    config_parts = ("skip",)
    report_attrs = REPORT_ATTRS
    report_pairs = REPORT_PAIRS
    report_description = REPORT_DESCRIPTION

    def __call__(self, trial: optuna.trial.Trial) -> float:
        run, repeat, seed = self.resolve(trial)
        data = prepare_data(run.data, device=self.device, data_dir=self.data_dir, repeat=repeat)
        self.record_cell(trial, run, repeat, seed, data)
        prefix = self.checkpoint_dir / f"{run.config_id}-r{repeat}" if self.checkpoint_dir else None
        report = _reporter(trial, self.on_epoch)

        def on_epoch(stage: str, stats: EpochStats) -> None:
            if stage == "cnn3":
                report(stats)  # the one place a trial reports (and may be pruned)
            elif self.on_epoch is not None:
                self.on_epoch(stats)

        try:
            result = run_pipeline(run, data, seed=seed, on_epoch=on_epoch, checkpoint_prefix=prefix)
        except Diverged as exc:
            trial.set_user_attr("fail_reason", str(exc))
            return math.nan  # a FAIL; the study goes on
        metrics = result.cnn3.metrics()
        for key in STANDARD_ATTRS:
            trial.set_user_attr(key, metrics[key])
        trial.set_user_attr(
            "train_seconds", result.cnn1.train_seconds + result.router.train_seconds + result.cnn3.train_seconds
        )
        for key, value in result.metrics.items():
            trial.set_user_attr(key, value)
        return result.cnn3.val_accuracy
