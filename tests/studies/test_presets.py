"""Built-in presets: each loads, validates and has the grid its paper implies; overrides pin
and shrink grids; malformed preset files are rejected in one line naming the file and the key."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from objectives import RunConfig
from objectives._config import valid_keys
from searchspace import Categorical, Variants, build_model, grid_points
from searchspace._space import random_configs
from studies import Overrides, launch, list_presets, load_preset, read_preset
from tests.studies._util import assert_preset_refused

ROOT = Path(__file__).resolve().parents[2]
BASE_SEQ = ["Conv", "BN", "PL", "DropL", "FCL", "AL"]

# (configs, repeats) each grid preset must have, derived from its paper (see each preset's notes).
GRID_SIZES = {
    "demo": (7, 3),  # BaseSeq + 6 leave-one-out, on digits
    "liu-pap": (6, 3),  # Base0 + {none, BN, Conv, PL, DropL, AL}
    "liu-lolo": (1 + 6, 3),  # full BaseSeq + each of its 6 layers left out
    "liu-sare": (1 + 15, 3),  # original + C(6, 2) pairwise swaps
    "liu-bn-dropout": (5, 3),  # none, BN, DropL, BN-DropL, DropL-BN
    "liu-filters": (4, 3),  # Res64to512, Res512to64, Res64, Res512
    "liu-image-ops": (1 + 4 + 1 + 4, 3),  # reference, filter x order, upsample x2, (blocks)x3/x7 +-DropL
    "liu-subsets": (20 * 21, 3),  # 20 models x (3 bases x (2 pairs x 3 sizes + full))
    "liu-medmnist": (7 * 10, 3),  # Table 3: 7 models x 10 MedMNIST sets
    "resnet-depth": (3 * 3 * 2, 1),  # depth 20/32/44 x epochs 20/50/100 x CIFAR-10/FMNIST
    "cifar-walk": (6 + 5 + 3 + 3 * 2 + 30 + 11 + 8 + 12 + 4, 1),  # the walk's nine steps (dropout at 20 and 50 epochs)
    "resnet-vgg": (30 * 2, 1),  # 16 ResNet + 14 VGG cells (star + table rows) x CIFAR-10/MNIST
}
SAMPLED = {"explore": 50}  # tpe presets: n_trials
MINE = {*GRID_SIZES, *SAMPLED}

# Keys the presets use that the data and train branches add to the config (see notes/contract.md).
CONTRACT_KEYS = {
    "to_rgb", "pad_to", "medmnist_size", "filter", "filter_kernel", "filter_order", "upsample",
    "nesterov", "eps", "alpha", "rho", "l1", "l2", "schedule", "milestones", "gamma", "augment",
    "rotate_degrees", "shift_fraction", "zoom_fraction", "color_brightness", "sharpness_factor",
    "cutout_scale", "mixup_alpha",
}
MISSING = sorted(CONTRACT_KEYS - set(valid_keys()))


def _configs(spec) -> list[dict]:
    return [p.config for p in grid_points(spec.space)]


def _resolved(spec) -> list[dict]:
    return [RunConfig.from_flat(c).to_flat() for c in _configs(spec)]


# -- every preset ---------------------------------------------------------------------------------


def test_every_key_the_presets_use_is_a_config_key():
    assert MISSING == [], f"presets use keys the config does not know: {MISSING}"


def test_the_builtin_presets_are_all_there():
    assert MINE <= set(list_presets())


@pytest.mark.parametrize("name", list_presets())
def test_every_builtin_preset_loads_and_validates(name):
    spec = load_preset(name)
    spec.validate()  # grid: every config resolves and names a registered dataset; tpe: 16 samples
    raw = read_preset(name)
    assert raw["name"] == name == spec.name
    if name in MINE:
        for key in ("description", "paper", "notes"):
            assert raw.get(key), f"{name} lacks {key}"
        assert "seed" in raw["paper"]


@pytest.mark.parametrize("name", sorted(GRID_SIZES))
def test_grid_size_is_what_the_paper_implies(name):
    spec = load_preset(name)
    size, repeats = GRID_SIZES[name]
    assert spec.sampler == "grid"
    assert (spec.grid_size(), spec.repeats) == (size, repeats)
    assert len(spec.grid_cells()) == size * repeats


@pytest.mark.parametrize("name", sorted(GRID_SIZES))
def test_grid_configs_are_distinct_and_contain_the_baseline(name):
    spec = load_preset(name)
    ids = [RunConfig.from_flat(c).config_id for c in _configs(spec)]
    assert len(set(ids)) == len(ids), "two cells of the grid train the same config"
    baseline = dict(spec.baseline)
    assert baseline, f"{name} has no baseline"
    matches = [p for p in grid_points(spec.space) if baseline.items() <= p.params.items()]
    assert matches, f"baseline {baseline} is no cell of the {name} grid"


# Input (channels, side) of the datasets the presets name, for building every model they train.
_SHAPES = {"cifar10": (3, 32), "mnist": (1, 28), "fashion_mnist": (1, 28), "mnist5k": (1, 28), "digits": (1, 8)}
_RGB_MEDMNIST = {"pathmnist", "dermamnist", "bloodmnist", "retinamnist"}


def _input_shape(run: RunConfig) -> tuple[int, int]:
    base = run.data.dataset.split(":")[0]
    channels, side = _SHAPES.get(base) or (3 if base in _RGB_MEDMNIST else 1, run.data.medmnist_size)
    channels = 3 if run.data.to_rgb else channels
    side = max(side, run.data.pad_to) if run.data.pad_to else side
    return channels, side * run.data.upsample


@pytest.mark.parametrize("name", sorted(set(GRID_SIZES) - {"demo"}))
def test_every_model_of_a_preset_builds_at_its_input_size(name):
    seen = set()
    for config in _configs(load_preset(name)):
        run = RunConfig.from_flat(config)
        channels, side = _input_shape(run)
        key = json.dumps([run.family, run.init, run.model, channels, side], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        with torch.device("meta"):  # shapes only: no memory, no init cost
            model = build_model(run.family, in_channels=channels, num_classes=10, input_size=side, init=run.init, **run.model)
            assert model(torch.empty(2, channels, side, side)).shape == (2, 10)
    assert seen


# -- what each paper asks for ----------------------------------------------------------------------

LIU = sorted(n for n in MINE if n.startswith("liu-"))


@pytest.mark.parametrize("name", LIU)
def test_liu_presets_follow_the_section_4_4_protocol(name):
    spec = load_preset(name)
    assert spec.repeats == 3
    for c in _resolved(spec):
        assert (c["split"], c["test_size"], c["val_size"], c["split_seed"]) == ("paper", 0.25, 0.25, 42)
        assert (c["batch_size"], c["epochs"], c["patience"], c["early_stopping"]) == (16, 100, 10, True)
        assert (c["optimizer"], c["lr"], c["augment"]) == ("adam", 0.001, "none")
        if c["family"] in ("seq", "fcl"):
            assert c["dropout"] == 0.25
        if c["family"] == "resnet":
            assert c["to_rgb"] and c["depth"] == 18


def test_liu_layer_operations():
    pap = {tuple(c["plug"]) for c in _resolved(load_preset("liu-pap"))}
    assert pap == {(), ("BN",), ("Conv",), ("PL",), ("DropL",), ("AL",)}
    lolo = [c["layers"] for c in _resolved(load_preset("liu-lolo"))]
    assert BASE_SEQ in lolo and sorted(tuple(t for t in BASE_SEQ if t not in l) for l in lolo if l != BASE_SEQ) == sorted((t,) for t in BASE_SEQ)
    sare = [c["layers"] for c in _resolved(load_preset("liu-sare"))]
    assert all(sorted(l) == sorted(BASE_SEQ) for l in sare)
    assert sorted(sum(a != b for a, b in zip(l, BASE_SEQ)) for l in sare) == [0] + [2] * 15
    assert ["BN", "Conv", "PL", "DropL", "FCL", "AL"] in sare
    orders = {tuple(c["plug"]) for c in _resolved(load_preset("liu-bn-dropout"))}
    assert orders == {(), ("BN",), ("DropL",), ("BN", "DropL"), ("DropL", "BN")}
    widths = {tuple(c["widths"]) for c in _resolved(load_preset("liu-filters"))}
    assert widths == {(64, 128, 256, 512), (512, 256, 128, 64), (64,) * 4, (512,) * 4}


def test_liu_image_ops_keeps_each_table_2_comparison_on_its_data():
    points = grid_points(load_preset("liu-image-ops").space)
    by_experiment = Counter(p.params["experiment"] for p in points)
    assert by_experiment == {"reference": 1, "filter-order": 4, "upsampling": 1, "upsamp-blocks": 4}
    resolved = {p.params["experiment"]: [] for p in points}
    for p in points:
        resolved[p.params["experiment"]].append(RunConfig.from_flat(p.config).to_flat())
    for experiment, configs in resolved.items():
        for c in configs:
            assert c["normalize"] == "caffe"
            assert c["dataset"] == ("cifar10" if experiment == "upsamp-blocks" else "cifar10:hard2:all")
            assert c["upsample"] == (2 if experiment == "upsampling" else 1)
            assert (c["filter"] == "none") == (experiment != "filter-order")
    (reference,) = resolved["reference"]
    assert reference["layers"] == BASE_SEQ
    filtered = {(c["filter"], c["filter_order"]) for c in resolved["filter-order"]}
    assert filtered == {(f, o) for f in ("sharpen", "blur") for o in ("before", "after")}
    blocks = sorted("-".join(c["layers"]) for c in resolved["upsamp-blocks"])
    assert sorted(b.count("UpSamp") for b in blocks) == [3, 3, 7, 7]
    assert sorted(b.count("DropL") for b in blocks) == [0, 0, 3, 7]


def test_liu_subsets_and_medmnist_cross_models_with_datasets():
    spec = load_preset("liu-subsets")
    points = grid_points(spec.space)
    datasets = {p.params["dataset"] for p in points}
    assert {"cifar10", "fashion_mnist", "mnist", "cifar10:hard2:128", "mnist:easy2:all"} <= datasets and len(datasets) == 21
    assert Counter(Counter((p.params["model"], p.params["dataset"]) for p in points).values()) == {1: 420}
    assert all(p.config.get("to_rgb") == p.params["model"].startswith("Res") for p in points)
    med = load_preset("liu-medmnist")
    assert isinstance(med.space["dataset"], Categorical) and isinstance(med.space["model"], Variants)
    assert list(med.space["dataset"].param_values()) == [
        "pathmnist", "dermamnist", "octmnist", "pneumoniamnist", "breastmnist", "bloodmnist",
        "tissuemnist", "organamnist", "organcmnist", "organsmnist",
    ]
    options = med.space["model"].options
    assert list(options) == ["Conv2d+FCL", "BN+FCL", "BaseSeq", "BaseSeq(BN-Conv)", "Res64to512", "Res512", "Res512to64"]
    assert [o["family"] for o in options.values()] == ["fcl", "fcl", "seq", "seq", "resnet", "resnet", "resnet"]


def test_resnet_depth_follows_seed_001():
    configs = _resolved(load_preset("resnet-depth"))
    assert {(c["dataset"], c["depth"], c["epochs"]) for c in configs} == {
        (d, n, e) for d in ("cifar10", "fashion_mnist") for n in (20, 32, 44) for e in (20, 50, 100)
    }
    for c in configs:
        assert (c["family"], c["init"], c["optimizer"], c["lr"], c["momentum"]) == ("cifar_resnet", "kaiming_normal", "sgd", 0.1, 0.9)
        assert (c["schedule"], list(c["milestones"]), c["gamma"], c["batch_size"]) == ("multistep", [82], 0.1, 128)
        assert not c["early_stopping"] and c["pad_to"] == 32 and c["to_rgb"]
        assert set(c["augment"].split("+")) == {"rotate", "flip", "color", "sharpness"} and c["rotate_degrees"] == 40.0
        # brightness, contrast and saturation (section 3.1.1); test error per epoch (Figs 2-4)
        assert min(c["color_brightness"], c["color_contrast"], c["color_saturation"]) > 0 and c["eval_test_every_epoch"]


def test_cifar_walk_runs_each_step_from_what_the_paper_carried_forward():
    points = grid_points(load_preset("cifar-walk").space)
    steps = Counter(p.params["step"] for p in points)
    assert steps == {"bn-position": 6, "batch-size": 5, "init": 3, "dropout": 6, "weight-decay": 30,
                     "activation": 11, "optimizer": 8, "learning-rate": 12, "augmentation": 4}
    # seed 002 §3: fixed 0.2 and 0.5 at 20 epochs (79.26%, 75.54%), 0.5 and increasing at 50 (80.33%, 81.03%)
    dropout_cells = {(json.dumps(p.config["dropout"]), p.config["epochs"]) for p in points if p.params["step"] == "dropout"}
    assert dropout_cells == {(d, e) for d in ("0.2", "0.5", "[0.2, 0.5, 0.7]") for e in (20, 50)}
    assert {p.config["epochs"] for p in points if p.params["step"] != "dropout"} == {50}
    for p in points:
        c, step = RunConfig.from_flat(p.config).to_flat(), p.params["step"]
        assert (c["family"], c["val_size"], c["patience"], c["normalize"]) == ("baseline_cnn", 0.2, 3, "unit")
        if step == "bn-position":
            assert (c["batch_size"], c["init"]) == (32, "glorot_uniform")
        elif step == "batch-size":
            assert c["init"] == "glorot_uniform" and c["bn"] == "before" and c["variant"] == 2
        else:  # He init and batch 256 from the init step on
            assert c["batch_size"] == 256 and (c["init"] == "he_normal" or step == "init")
        # Keras defaults of a Keras paper (issue 13)
        assert (c["leaky_slope"], c["initial_accumulator"], c["alpha"], c["eps"]) == (0.3, 0.1, 0.9, 1e-7)
        assert (c["fill_mode"], c["zoom_mode"]) == ("nearest", "keras")
        if step == "augmentation":
            assert c["l2"] == 1e-4 and list(c["dropout"]) == [0.2, 0.5, 0.7] and c["augment"] != "none"
        elif step != "weight-decay":
            assert c["l1"] == c["l2"] == 0.0
    penalties = {(p.config["l1"], p.config["l2"]) for p in points if p.params["step"] == "weight-decay"}
    assert len(penalties) == 15 and (1e-4, 1e-4) in penalties and (0.0, 1e-1) in penalties


# resnet-vgg: the cell each cell is compared with (the preset's notes), when not its family's reference
RESNET_VGG_REFERENCES = {
    "ResNet34-e30": "ResNet34", "ResNet18-noaug-e30": "ResNet18-noaug", "ResNet18-noaug-e50": "ResNet18-noaug",
    "ResNet18-stem3x3-nopool": "ResNet18-stem3x3", "VGG11-aug": "VGG11", "VGG19-aug": "VGG19", "VGG9-aug": "VGG9",
    "VGG7-batch128": "VGG7", "VGG7-kernel5": "VGG7-batch128",
}


def test_resnet_vgg_changes_one_thing_per_cell():
    points = grid_points(load_preset("resnet-vgg").space)
    cifar = {p.params["model"]: RunConfig.from_flat(p.config).to_flat() for p in points if p.params["dataset"] == "cifar10"}
    assert len(cifar) == 30 and {c["depth"] for c in cifar.values() if c["family"] == "vgg"} == {7, 9, 11, 16, 19}
    for label, c in cifar.items():
        family_reference = "ResNet18" if label.startswith("ResNet") else "VGG16"
        reference = cifar[RESNET_VGG_REFERENCES.get(label, family_reference)]
        changed = {k for k in c if c[k] != reference[k]}
        assert len(changed) == (0 if label in ("ResNet18", "VGG16") else 2 if label == "ResNet18-SGD" else 1), (label, changed)


def test_resnet_vgg_has_the_papers_epoch_rows_stem_and_kernel_cells():
    points = grid_points(load_preset("resnet-vgg").space)
    cifar = {p.params["model"]: RunConfig.from_flat(p.config).to_flat() for p in points if p.params["dataset"] == "cifar10"}
    # Table 2 rows 4, 5, 7 and Table 3 rows 2, 3: epochs as cells, not a pin
    assert {(cifar[m]["depth"], cifar[m]["epochs"]) for m in ("ResNet18-e30", "ResNet18-e50", "ResNet34-e30")} == {
        (18, 30), (18, 50), (34, 30)}
    assert [cifar[m]["epochs"] for m in ("ResNet18-noaug-e30", "ResNet18-noaug-e50")] == [30, 50]
    # the kernel-5 cell is VGG-7 at batch 128, as in the MNIST table (99.52% -> 99.59%)
    k5 = cifar["VGG7-kernel5"]
    assert (k5["depth"], k5["first_kernel"], k5["batch_size"]) == (7, 5, 128)
    # section 4.3 item 6: 3x3 stride-1 conv1 with the max-pool kept; the no-pool stem is the extra
    assert cifar["ResNet18-stem3x3"]["stem"] == "conv3x3" and cifar["ResNet18-stem3x3-nopool"]["stem"] == "cifar"
    model = build_model("resnet", in_channels=3, num_classes=10, input_size=32,
                        **{k: cifar["ResNet18-stem3x3"][k] for k in ("depth", "stem", "se")})
    assert isinstance(model.maxpool, torch.nn.MaxPool2d)
    for c in cifar.values():  # seed 004's jitter is brightness and contrast; its tables report test per epoch
        assert c["color_saturation"] == 0.0 and c["color_brightness"] > 0 and c["eval_test_every_epoch"]
        assert c["init"] in ("kaiming_fan_out", "xavier_uniform", "default") and c.get("zero_init_last") in (None, False)


def test_explore_samples_each_family_with_its_own_keys():
    spec = load_preset("explore")
    assert (spec.sampler, spec.n_trials, spec.space["dataset"].value) == ("tpe", 50, "mnist5k")
    configs = random_configs(spec.space, 60, seed=0)
    assert {c["family"] for c in configs} == {"seq", "resnet", "cifar_resnet", "vgg", "baseline_cnn"}
    for c in configs:
        assert ("layers" in c) == (c["family"] == "seq") and ("widths" in c) == (c["family"] == "resnet")
        assert c["momentum"] == 0.0 or c["optimizer"] in ("sgd", "rmsprop")
        RunConfig.from_flat(c)


# -- overrides -------------------------------------------------------------------------------------

FIDELITY_SHRINKS = {"resnet-depth": 3, "liu-subsets": 20, "liu-medmnist": 7, "resnet-vgg": 25,
                    "cifar-walk": 82}  # --epochs merges epoch cells


@pytest.mark.parametrize("name", sorted(GRID_SIZES))
def test_dataset_epochs_and_repeats_override_every_cell(name):
    spec = Overrides(dataset="digits", epochs=1, repeats=1).apply(load_preset(name))
    assert spec.repeats == 1
    assert spec.grid_size() == FIDELITY_SHRINKS.get(name, GRID_SIZES[name][0])
    configs = _configs(spec)
    assert all(c["dataset"] == "digits" and c["epochs"] == 1 for c in configs)
    spec.validate()


def test_set_pins_searched_keys_everywhere_and_shrinks_the_grid():
    filters = Overrides(values={"widths": [512, 256, 128, 64]}).apply(load_preset("liu-filters"))
    assert filters.grid_size() == 1 and _configs(filters)[0]["widths"] == [512, 256, 128, 64]
    walk = Overrides(values={"batch_size": 64}).apply(load_preset("cifar-walk"))
    assert walk.grid_size() == GRID_SIZES["cifar-walk"][0] - 4  # the batch-size step collapses to one
    assert {c["batch_size"] for c in _configs(walk)} == {64}
    vgg = Overrides(values={"lr": 0.01}).apply(load_preset("resnet-vgg"))
    assert vgg.grid_size() == 28 * 2  # the lr0.01 cells merge into their references
    explore = Overrides(values={"family": "resnet", "optimizer": "adam"}).apply(load_preset("explore"))
    assert all(c["family"] == "resnet" and c["momentum"] == 0.0 and "layers" not in c for c in random_configs(explore.space, 10, seed=1))


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """cli.main in this process (tests/test_cli.py runs cli.py as a subprocess)."""
    sys.path.insert(0, str(ROOT))
    try:
        import cli
    finally:
        sys.path.remove(str(ROOT))
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_space_grid_through_the_cli_applies_overrides(capsys):
    code, out, err = _main(capsys, "space", "grid", "--preset", "resnet-depth", "--dataset", "digits", "--epochs", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["grid_size"] == 3 and {c["config"]["depth"] for c in data["configs"]} == {20, 32, 44}
    assert all(c["config"]["dataset"] == "digits" and c["config"]["epochs"] == 1 for c in data["configs"])
    code, out, err = _main(capsys, "space", "grid", "--preset", "liu-filters", "--set", "widths=512,512,512,512", "--json")
    assert code == 0 and json.loads(out)["grid_size"] == 1


def test_presets_list_and_show_through_the_cli(capsys):
    code, out, err = _main(capsys, "presets", "list")
    assert code == 0, err
    listed = dict(line.split(maxsplit=1) for line in out.splitlines() if line.strip())
    assert set(listed) == set(list_presets())
    assert listed["demo"] == read_preset("demo")["description"]
    code, out, err = _main(capsys, "presets", "show", "demo")
    assert code == 0 and "name: demo" in out
    assert "# grid: 7 configs x 3 repeats = 21 trials" in out


def test_a_paper_preset_runs_end_to_end_at_tiny_fidelity(tmp_path):
    spec = Overrides(dataset="digits", epochs=1, repeats=1, n_trials=2, values={"batch_size": 64}).apply(load_preset("liu-pap"))
    study = launch(spec, storage=f"sqlite:///{tmp_path / 's.db'}", study_name="pap", progress=False)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 2 and all(t.user_attrs["config"]["family"] == "fcl" for t in done)


# -- malformed preset files ---------------------------------------------------------------------------

GOOD = """\
name: mine
description: a preset
defaults: {family: seq, dataset: digits, epochs: 1}
space:
  layers: [Conv-FCL, BN-FCL]
"""

MALFORMED = [
    ("bad-yaml", "name: mine\ndefaults: {family: seq\nspace: {}\n", ["not valid YAML", "line"]),
    ("unknown-key", GOOD + "sampel: grid\n", ["unknown key(s) sampel", "valid keys:", "sampler"]),
    ("wrong-type", GOOD + "repeats: three\n", ["'repeats' must be int", "three"]),
    ("missing-space", "name: mine\ndefaults: {family: seq}\n", ["missing required key 'space'"]),
    ("unknown-dim-field", GOOD.replace("[Conv-FCL, BN-FCL]", "{type: categorical, choices: [Conv], chioces: 1}"),
     ["'layers'", "unknown field(s) chioces", "valid:", "choices"]),
    ("unknown-dim-type", GOOD.replace("[Conv-FCL, BN-FCL]", "{type: categorial, choices: [Conv]}"),
     ["'layers'", "'categorial'", "valid types:", "categorical"]),
    ("unknown-default-key", GOOD.replace("epochs: 1", "lrr: 0.1"), ["unknown config key 'lrr' in defaults", "valid keys:", "batch_size"]),
    ("unknown-dim-key", GOOD + "  lrr: [0.1, 0.2]\n", ["'lrr' sets unknown config key 'lrr'", "valid keys:"]),
    ("baseline-not-a-dim", GOOD + "baseline: {lr: 0.1}\n", ["baseline names 'lr'", "valid: layers"]),
    ("baseline-not-a-value", GOOD + "baseline: {layers: Conv-BN}\n", ["baseline layers='Conv-BN'", "'Conv-FCL'"]),
]


@pytest.mark.parametrize("label,text,fragments", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_preset_is_rejected_naming_the_file_and_key(tmp_path, label, text, fragments):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert_preset_refused(path, fragments)


def test_a_good_preset_file_loads(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    assert load_preset(str(path)).grid_size() == 2


def test_a_malformed_preset_is_one_line_and_exit_2_through_the_cli(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.replace("epochs: 1", "lrr: 0.1"))
    code, out, err = _main(capsys, "presets", "show", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: unknown config key 'lrr'") and err.count("\n") == 1
