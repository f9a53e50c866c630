"""The dataset catalogue (objectives.catalog): one torch-free entry per dataset, read by the name
check, the shape check and the cost estimate; a new dataset is one file plus one registration."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from objectives.catalog import DatasetInfo, _registry, add_dataset, dataset_names, find_dataset
from searchspace.errors import ConfigError, RegistryError

ROOT = Path(__file__).resolve().parents[2]

# A whole dataset in one file: its entry and its loader (torch imported inside it, so the module
# stays torch-free like the built-in entries).
FAKE_MODULE = '''
from objectives.catalog import DatasetInfo


def load(name, request):
    import torch

    from objectives.data._raw import RawDataset

    return RawDataset(name=name, x=torch.zeros(6, 1, 12, 12, dtype=torch.uint8),
                      y=torch.tensor([0, 1, 2, 0, 1, 2]), classes=("a", "b", "c"))


ENTRY = DatasetInfo(name="fake12", loader="fake_catalog_dataset:load", description="three blank classes",
                    embedded=True, channels=1, image_size=12, num_classes=3, train_size=6)
'''


@pytest.fixture
def fake_dataset(tmp_path, monkeypatch):
    (tmp_path / "fake_catalog_dataset.py").write_text(textwrap.dedent(FAKE_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    dataset_names()  # the built-in entries first, then a registry the test may change
    monkeypatch.setattr(_registry, "_DATASETS", dict(_registry._DATASETS))
    module = importlib.import_module("fake_catalog_dataset")
    add_dataset(module.ENTRY)  # the one registration line
    yield module.ENTRY
    sys.modules.pop("fake_catalog_dataset", None)


def test_a_new_dataset_is_seen_by_the_name_check_the_shape_and_the_estimate(fake_dataset, tmp_path):
    from objectives._known import check_names
    from objectives.data._config import DataConfig
    from objectives.data import DataShape
    from objectives.data._registry import list_datasets, load_dataset
    from objectives.data._shapes import published_shape
    from studies._estimate import image_pixels, train_images

    check_names(dataset="fake12")
    with pytest.raises(ConfigError, match=r"unknown dataset 'fake13' \(did you mean 'fake12'"):
        check_names(dataset="fake13")
    assert "fake12" in list_datasets()
    assert published_shape(DataConfig(dataset="fake12", to_rgb=True, pad_to=16)) == DataShape(3, (16, 16), 3)
    assert train_images("fake12") == 6 and train_images("fake12:hard2:all") == 4 and image_pixels("fake12") == 144
    raw = load_dataset("fake12", tmp_path)  # the "module:function" loader, called with the name
    assert raw.name == "fake12" and tuple(raw.x.shape) == (6, 1, 12, 12)


def test_a_name_is_registered_once(fake_dataset):
    with pytest.raises(RegistryError, match="dataset 'fake12' is already registered"):
        add_dataset(fake_dataset)
    with pytest.raises(RegistryError, match="dataset 'digits' is already registered"):
        add_dataset(DatasetInfo("digits", lambda request: None, "again", True))


@pytest.mark.parametrize("name", dataset_names())
def test_every_builtin_entry_states_its_facts(name):
    info = find_dataset(name)
    assert info.name == name and info.description and "{" not in info.description
    assert info.channels in (1, 3) and info.image_size and info.num_classes >= 2 and info.train_size > 0
    assert info.embedded == (info.present is None)  # an on-disk dataset can say whether its files are here
    for function in (info.loader, info.present):  # a misspelt "module:function" fails here, not on a first load
        if function is not None:
            module, _, name = function.reference.partition(":")
            assert callable(getattr(importlib.import_module(module), name)), function.reference


def test_the_catalogue_and_the_estimate_import_no_torch():
    code = ("import json, sys\n"
            "from objectives.catalog import dataset_names\n"
            "from objectives._known import check_names\n"
            "from studies._estimate import train_images\n"
            "check_names(dataset='mnist:hard2:128')\n"
            "print(json.dumps([len(dataset_names()), train_images('cifar10'), 'torch' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    count, cifar10, torch_imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert (count, cifar10, torch_imported) == (18, 50_000, False), done.stderr
