"""Dataset entropies with known values, and seed 000's best-model-per-dataset table."""

from __future__ import annotations

import math

import optuna
import pytest
import torch

from searchspace import Categorical, Space, Variants
from searchspace._dims import Fixed
from studies import StudySpec
from studies._presets import paper_report
from studies._presets import load_preset
from studies.analysis._datasets import dataset_statistics
from studies.analysis._datasets import best_per_dataset, describe_datasets
from studies.analysis._datasets import intensity_entropies, label_entropy
from tests.studies.analysis._synthetic import grid_study

MODELS = {
    "Conv2d+FCL": {"family": "fcl", "plug": "Conv"},
    "BN+FCL": {"family": "fcl", "plug": "BN"},
    "BaseSeq": {"family": "seq", "layers": "Conv-BN-PL-DropL-FCL-AL"},
    "BaseSeq(BN-Conv)": {"family": "seq", "layers": "BN-Conv-PL-DropL-FCL-AL"},
    "Res64to512": {"family": "resnet", "widths": [64, 128, 256, 512]},
    "Res512": {"family": "resnet", "widths": [512, 512, 512, 512]},
    "Res512to64": {"family": "resnet", "widths": [512, 256, 128, 64]},
}


def test_intensity_entropy_has_known_values():
    x = torch.zeros(3, 1, 16, 16, dtype=torch.uint8)
    x[1, :, :8] = 200  # half the pixels at one level, half at another: 1 bit
    x[2] = torch.arange(256, dtype=torch.uint8).view(1, 16, 16)  # every level once: 8 bits
    assert intensity_entropies(x) == pytest.approx([0.0, 1.0, 8.0])
    rgb = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    rgb[0, 0] = 255  # pure red -> grey round(0.2989 * 255) = 76 everywhere: 0 bits
    rgb[0, 1, :2] = 255  # top half also green -> grey round(0.886 * 255) = 226: 1 bit
    assert intensity_entropies(rgb) == pytest.approx([1.0])


def test_label_entropy_in_bits():
    assert label_entropy([5, 5]) == pytest.approx(1.0)
    assert label_entropy([7, 0]) == pytest.approx(0.0)
    assert label_entropy([1, 1, 2]) == pytest.approx(1.5)


def test_digits_characterisation():
    info = dataset_statistics("digits")
    assert (info["images"], info["channels"], info["height"], info["width"], info["num_classes"]) == (1797, 1, 8, 8, 10)
    assert sum(info["class_counts"].values()) == 1797 and info["imbalance_ratio"] == pytest.approx(183 / 174)
    assert math.log2(10) - 0.01 < info["label_entropy_bits"] <= math.log2(10)
    assert 0 < info["intensity_entropy_bits_mean"] < 8
    assert describe_datasets(["nope"])["nope"]["error"].startswith("unknown dataset 'nope'")


def _medmnist_study(with_config: bool) -> optuna.Study:
    """dataset x model; per dataset the winners are known."""
    scores = {
        "pathmnist": {"BaseSeq(BN-Conv)": 0.9, "Res512to64": 0.95},
        "bloodmnist": {"Conv2d+FCL": 0.9, "Res64to512": 0.8},
    }

    def extra(p, r):
        if not with_config:
            return {}
        return {"config": {"dataset": p["dataset"], **MODELS[p["model"]]}}

    return grid_study({"dataset": tuple(scores), "model": tuple(MODELS)},
                      lambda p: scores[p["dataset"]].get(p["model"], 0.5), noise=0.001, extra_attrs=extra)


def _with_medmnist_spec(study: optuna.Study) -> optuna.Study:
    """The liu-medmnist preset's spec (its report key holds the Table 3 layout), on the study's two datasets."""
    space = Space([Categorical("dataset", choices=("pathmnist", "bloodmnist")), Variants("model", options=MODELS)])
    spec = load_preset("liu-medmnist").replace(space=space)
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    return study


def test_best_model_per_dataset_from_stored_configs():
    table3 = paper_report(load_preset("liu-medmnist"))["best_per_dataset"]  # the groups come from the preset
    table = best_per_dataset(_medmnist_study(with_config=True), groups=table3.groups,
                             datasets={"pathmnist": {"label_entropy_bits": 3.0}})
    rows = table.set_index("dataset")
    assert rows.loc["pathmnist", "Base0/BaseSeq best"] == "BaseSeq(BN-Conv)"
    assert rows.loc["pathmnist", "BaseRes18 best"] == "Res512to64"
    assert rows.loc["bloodmnist", "Base0/BaseSeq best"] == "Conv2d+FCL"
    assert rows.loc["bloodmnist", "BaseRes18 best"] == "Res64to512"
    assert rows.loc["pathmnist", "BaseRes18 test"] == pytest.approx(0.93, abs=0.01)  # value - 0.02 test offset
    assert rows.loc["pathmnist", "label entropy (bits)"] == 3.0
    assert rows.loc["bloodmnist", "dataset note"] == "not characterised"


def test_best_model_per_dataset_from_the_study_spec_when_configs_are_absent():
    study = _medmnist_study(with_config=False)
    space = Space([
        Fixed("epochs", value=1),
        Categorical("dataset", choices=("pathmnist", "bloodmnist")),
        Variants("model", options=MODELS),
    ])
    spec = StudySpec(space=space, name="liu-medmnist")
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    rows = best_per_dataset(study).set_index("dataset")
    assert rows.loc["pathmnist", "BaseRes18 best"] == "Res512to64"
    assert rows.loc["bloodmnist", "Base0/BaseSeq best"] == "Conv2d+FCL"
    assert rows.loc["pathmnist", "BaseRes18 n"] == 3


def test_report_shows_the_table_and_loads_only_embedded_datasets_by_default():
    from studies.analysis._report import build_report
    from studies.analysis._text import format_summary

    report = build_report(_with_medmnist_spec(_medmnist_study(with_config=True)), n_bootstrap=0, evaluators=("ped_anova",))
    assert report.data["datasets"]["pathmnist"]["error"].startswith(("not loaded: not embedded", "unknown dataset"))
    rows = report.data["best_per_dataset"].set_index("dataset")
    assert rows.loc["bloodmnist", "BaseRes18 best"] == "Res64to512"
    text = format_summary(report)
    assert "  pathmnist: Base0/BaseSeq: BaseSeq(BN-Conv) (0.89" in text and "BaseRes18: Res512to64 (0.95" in text
    assert "Best model per dataset (seed 000, Table 3 layout)" in [s.title for s in report.sections]
    # validation selects; the test column (the paper's number) is beside it, labelled as such
    section = next(s for s in report.sections if s.title.startswith("Best model per dataset"))
    columns = list(section.tables[0].columns)
    assert "BaseRes18 val acc (selects)" in columns and "BaseRes18 test acc (reported, not used to select)" in columns
    assert columns.index("BaseRes18 test acc (reported, not used to select)") == columns.index("BaseRes18 val acc (selects)") + 1
    assert describe_datasets(["digits"], load="none") == {}
    # the table is the preset's: a study made by hand (no preset) has no paper table, and says nothing of seed 000
    bare = build_report(_medmnist_study(with_config=True), n_bootstrap=0, evaluators=("ped_anova",), datasets="none")
    assert "best_per_dataset" not in bare.data and "seed 000" not in bare.to_html(plotly="cdn")
