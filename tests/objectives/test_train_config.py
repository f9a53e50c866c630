"""TrainConfig: contract keys, canonical spellings, and one-line errors before training."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.train._config import TrainConfig
from objectives.train._augment import list_augmentations
from searchspace import ConfigError

CONTRACT_KEYS = {
    "optimizer", "lr", "momentum", "nesterov", "beta1", "beta2", "eps", "alpha", "rho",
    "weight_decay", "l1", "l2", "schedule", "milestones", "gamma", "batch_size", "epochs",
    "early_stopping", "monitor", "patience", "restore_best", "label_smoothing", "grad_clip",
    "augment", "rotate_degrees", "shift_fraction", "zoom_fraction", "zoom_mode", "fill_mode",
    "color_brightness", "color_contrast", "color_saturation", "initial_accumulator",
    "eval_test_every_epoch", "sharpness_factor", "cutout_scale", "mixup_alpha", "cutmix_alpha", "precision",
}


def test_fields_are_the_contract_keys_with_their_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert set(fields) == CONTRACT_KEYS
    assert fields["momentum"] == 0.0 and fields["nesterov"] is False and fields["schedule"] == "constant"
    assert fields["augment"] == "none" and fields["rotate_degrees"] == 40.0 and fields["gamma"] == 0.1
    assert list_augmentations() == [
        "flip", "rotate", "shift", "zoom", "color", "sharpness", "cutout", "mixup", "cutmix"
    ]


def test_spellings_of_one_config_share_a_config_id():
    base = {"family": "seq", "schedule": "multistep"}
    a = RunConfig.from_flat({**base, "augment": "rotate+flip", "milestones": 82})
    b = RunConfig.from_flat({**base, "augment": "flip+rotate", "milestones": [82]})
    assert a.train.augment == "flip+rotate" and a.train.milestones == (82,)
    assert a.config_id == b.config_id
    assert a.to_flat()["milestones"] == [82]
    assert RunConfig.from_flat(a.to_flat()) == a


# config_ids computed by the code before TrainConfig became plain data (registry ordering moved to
# RunConfig.from_flat): existing studies group their repeats by these, so they must never change.
PINNED_IDS = [
    ({}, "990cad5c6d86"),
    ({"augment": " None "}, "990cad5c6d86"),
    ({"augment": "cutout+rotate+flip+mixup", "schedule": "multistep", "milestones": 82, "optimizer": "sgd",
      "momentum": 0.9, "lr": 0.01}, "d9f8926a3720"),
    ({"augment": "flip+rotate+cutout+mixup", "schedule": "multistep", "milestones": [82], "optimizer": "sgd",
      "momentum": 0.9, "lr": 0.01}, "d9f8926a3720"),
    ({"layers": "Conv-BN-PL-FCL-AL", "channels": 8, "fc_units": 32, "epochs": 2, "early_stopping": False},
     "fed0fd53c014"),
]  # fmt: skip


@pytest.mark.parametrize("values, expected", PINNED_IDS)
def test_config_ids_of_existing_studies_do_not_change(values, expected):
    assert RunConfig.from_flat({"family": "seq", "dataset": "digits", **values}).config_id == expected


def test_train_config_is_plain_data_that_imports_no_registry():
    # the registries import TrainConfig for their builders; importing them back was a cycle
    source = Path(__file__).parents[2] / "objectives" / "train" / "_config.py"
    imported = [node.module for node in ast.walk(ast.parse(source.read_text())) if isinstance(node, ast.ImportFrom)]
    assert imported and not [m for m in imported if m.startswith("objectives.train")], imported


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"lr": -0.1}, "lr must be a positive number, got -0.1"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"patience": -1}, "patience must be an integer >= 0, got -1"),
        ({"optimizer": "adamm"}, "unknown optimizer 'adamm'; valid: adadelta, adagrad, adam, adamax, adamw, nadam, rmsprop, sgd"),
        ({"schedule": "step"}, "unknown schedule 'step'; valid: constant, cosine, multistep, onecycle"),
        ({"augment": "flip+spin"}, "unknown augmentation 'spin' in augment='flip+spin'; valid: none or '+'-joined names from flip, rotate"),
        ({"augment": "flip+flip"}, "names an augmentation twice"),
        ({"schedule": "multistep"}, "schedule 'multistep' needs milestones"),
        ({"milestones": [60, 30]}, "milestones must be increasing positive epoch numbers"),
        ({"momentum": 1.5}, "momentum must be a number in [0, 1), got 1.5"),
        ({"optimizer": "sgd", "nesterov": True}, "nesterov=true needs momentum > 0"),
        ({"l2": -1e-4}, "l2 must be a number >= 0, got -0.0001"),
        ({"weight_decay": -1.0}, "weight_decay must be a number >= 0, got -1.0"),
        ({"grad_clip": -1.0}, "grad_clip must be a number >= 0"),
        ({"beta2": 1.0}, "beta2 must be a number in [0, 1)"),
        ({"eps": 0.0}, "eps must be a positive number"),
        ({"cutout_scale": 0.0}, "cutout_scale must be a number in (0, 1)"),
        ({"rotate_degrees": 400.0}, "rotate_degrees must be a number in [0, 180]"),
        ({"mixup_alpha": 0.0}, "mixup_alpha must be a positive number"),
        ({"monitor": "loss"}, "unknown monitor 'loss'; valid: val_loss, val_accuracy"),
    ],
)
def test_bad_values_are_one_line_config_errors(values, fragment):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_flat({"family": "seq", **values})
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_fit_refuses_a_bad_hand_built_config_before_training():
    good = RunConfig.from_flat({"family": "seq", "dataset": "digits", "epochs": 1})
    bad = dataclasses.replace(good, train=TrainConfig(augment="flip+warp", epochs=1))
    seen = []
    with pytest.raises(ConfigError, match="unknown augmentation 'warp'"):
        fit(bad, prepare_data(good.data), seed=0, on_epoch=lambda s: seen.append(s))
    assert seen == []
