"""Names checked before torch is imported (objectives._known): the built-in lists match the
registries, and a typo is refused with the likeliest intended name first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from objectives._known import check_names, unknown_key_message
from objectives._known import known_datasets
from objectives._names import BUILTIN_CONFIG_KEYS, BUILTIN_FAMILIES, KEY_ALIASES
from searchspace.errors import ConfigError, FamilyError, did_you_mean, valid_list

ROOT = Path(__file__).resolve().parents[2]


def test_the_builtin_names_are_the_registries():
    from objectives.data._registry import list_datasets
    from objectives.interface import valid_keys
    from searchspace.families import list_families

    # A name missing here is refused as a typo before torch is imported: list it in objectives/_names.py.
    for listed, live in ((BUILTIN_FAMILIES, list_families()), (BUILTIN_CONFIG_KEYS, valid_keys())):
        assert list(listed) == live, f"objectives/_names.py: add {sorted(set(live) - set(listed))}, " \
                                     f"remove {sorted(set(listed) - set(live))} (sorted)"
    assert set(KEY_ALIASES.values()) <= set(BUILTIN_CONFIG_KEYS)  # every alias points at a real key
    assert known_datasets() == list_datasets()  # one registry: the torch-free catalogue


@pytest.mark.parametrize(("name", "meant"), [
    ("learning_rate", "lr"), ("lerning_rate", "lr"), ("Learning-Rate", "lr"), ("dropuot", "dropout"),
    ("batchsize", "batch_size"), ("wd", "weight_decay"), ("n_epochs", "epochs"), ("optim", "optimizer"),
])
def test_a_misspelt_key_points_to_the_key_first(name, meant):
    keys = list(BUILTIN_CONFIG_KEYS)
    assert did_you_mean(name, keys, KEY_ALIASES).startswith(f" (did you mean {meant!r}")
    # ordered by relevance, so a list cut for length never hides the match
    assert valid_list(sorted(keys), 5, near=name, aliases=KEY_ALIASES).startswith(meant + ", ")


def test_nothing_is_suggested_for_a_name_close_to_nothing():
    assert did_you_mean("zzzz", BUILTIN_CONFIG_KEYS, KEY_ALIASES) == ""


def test_check_names_refuses_unknown_keys_datasets_and_families_in_one_line():
    with pytest.raises(ConfigError, match=r"--set: unknown config key 'learning_rate' \(did you mean 'lr'\?\); "
                                          r"valid keys: lr, "):
        check_names({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match=r"'seed' is not a config key: it is a study setting, given as --seed"):
        check_names({"seed": 1})
    with pytest.raises(ConfigError, match=r"unknown dataset 'digitz' \(did you mean 'digits'\?\); valid: digits, "):
        check_names(dataset="digitz")
    with pytest.raises(ConfigError, match=r"unknown dataset 'mnsit:hard2:128' \(did you mean 'mnist'"):
        check_names({"dataset": "mnsit:hard2:128"})  # a subset: its base name is checked here
    with pytest.raises(FamilyError, match=r"unknown family 'resnt' \(did you mean 'resnet'"):
        check_names({"family": "resnt"})
    with pytest.raises(ConfigError, match=r"--set family=\['seq', 'vgg'\]: family takes one name, not list"):
        check_names({"family": ["seq", "vgg"]})  # was a TypeError traceback from the registry
    check_names({"lr": 0.1, "dataset": "mnist:hard2:128", "family": "vgg"}, dataset="digits")  # all known
    assert "\n" not in unknown_key_message("learning_rate", list(BUILTIN_CONFIG_KEYS))


def test_a_typo_on_the_command_line_is_refused_before_torch_is_imported(tmp_path):
    """The first error comes in about a second: the name checks import neither torch nor the
    registries (benchmarks/bench_engine.py --parts first_error times it)."""
    code = (
        "import json, sys, cli\n"
        "codes = [cli.main(a) for a in (['study', 'launch', '--preset', 'explor'],\n"
        "    ['study', 'launch', '--set', 'learning_rate=0.1'], ['space', 'grid', '--dataset', 'digitz'],\n"
        "    ['model', 'describe', 'sq'], ['data', 'describe', 'cifar11'])]\n"
        "print(json.dumps([codes, 'torch' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    codes, torch_imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [2, 2, 2, 2, 2] and not torch_imported, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("error: ") for line in lines)
    assert "unknown preset 'explor' (did you mean 'explore'?); valid: explore, " in lines[0]
    assert "did you mean 'lr'?" in lines[1] and "did you mean 'digits'?" in lines[2]
    assert "did you mean 'seq'?" in lines[3] and "did you mean 'cifar10' or 'cifar100'?" in lines[4]
    assert not list(tmp_path.iterdir())  # nothing written (the default storage is runs/ under the cwd)
