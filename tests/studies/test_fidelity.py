"""Issue 13: the presets follow their papers, and what a paper leaves open is written down."""

from __future__ import annotations

import pytest
import torch

from objectives import RunConfig
from searchspace import build_model, grid_points
from studies import load_preset

KERAS_PRESETS = ["liu-pap", "liu-lolo", "liu-sare", "liu-bn-dropout", "liu-filters", "liu-image-ops",
                 "liu-subsets", "liu-medmnist", "cifar-walk", "skip-layers"]


def _configs(name):
    return [RunConfig.from_flat(p.config, parts=("skip",) if name == "skip-layers" else ()).to_flat()
            for p in grid_points(load_preset(name).space)]


@pytest.mark.parametrize("name", KERAS_PRESETS)
def test_keras_papers_use_keras_initialisers_and_epsilon(name):
    for c in _configs(name):
        assert c["init"] in ("glorot_uniform", "he_normal", "zeros", "normal"), c["init"]
        assert c["eps"] == 1e-7
        assert c.get("zero_init_last") in (None, False)
    notes = load_preset(name).notes
    assert "Keras" in notes and ("BN momentum" in notes or "BatchNorm momentum" in notes or "sqrt(v + eps)" in notes)


def test_skip_layers_rmsprop_has_keras_rho_and_epsilon():
    for c in _configs("skip-layers"):
        assert (c["optimizer"], c["alpha"], c["eps"]) == ("rmsprop", 0.9, 1e-7)


def test_liu_subsets_draws_a_new_sample_per_repeat():
    spec = load_preset("liu-subsets")
    assert {c["subset_sampling"] for c in _configs("liu-subsets")} == {"per_repeat"}
    assert "sampleSize" in spec.notes and "outside the n" in spec.notes


def test_base0_plus_al_equals_base0_on_non_negative_pixels():
    # Why liu-pap's Base0+AL cell cannot differ from Base0: a ReLU before the flatten is the
    # identity on pixels >= 0, which is what the paper's (and layerlab's unit) inputs are.
    torch.manual_seed(0)
    base0 = build_model("fcl", in_channels=3, num_classes=10, input_size=32, init="glorot_uniform")
    torch.manual_seed(0)
    with_al = build_model("fcl", in_channels=3, num_classes=10, input_size=32, init="glorot_uniform", plug="AL")
    assert [p.shape for p in base0.parameters()] == [p.shape for p in with_al.parameters()]
    for a, b in zip(base0.parameters(), with_al.parameters()):
        assert torch.equal(a, b)  # same seed, same weights
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(base0(x), with_al(x))
    centred = x - 0.5
    assert not torch.equal(base0(centred), with_al(centred))  # standardised inputs would make AL act
    assert "cannot differ" in load_preset("liu-pap").notes


@pytest.mark.parametrize("name", ["resnet-vgg", "resnet-depth"])
def test_papers_that_report_test_per_epoch_record_it(name):
    assert all(c["eval_test_every_epoch"] for c in _configs(name))


def test_documented_widths():
    assert "fc_width" in load_preset("resnet-vgg").notes and "1024" in load_preset("resnet-vgg").notes
    from searchspace.families import _baseline_cnn

    assert "32 filters" in _baseline_cnn.__doc__ and "base_width" in _baseline_cnn.__doc__


SEED_000 = [p for p in KERAS_PRESETS if p.startswith("liu-")] + ["demo"]


@pytest.mark.parametrize("name", SEED_000)
def test_each_seed_000_preset_says_which_padding_it_uses_and_why(name):
    notes = load_preset(name).notes
    assert "padding: same" in notes or "padding: not a key" in notes
    assert "7,200" in notes or name == "liu-filters"  # Keras' valid default, stated with its consequence
    assert "bn_momentum=0.01" in notes and "bn_eps=0.001" in notes  # the Keras equivalents, in torch's convention
    seq = [c for c in _configs(name) if c["family"] in ("seq", "fcl")] if name != "demo" else \
        [RunConfig.from_flat(p.config).to_flat() for p in grid_points(load_preset(name).space)]
    assert all(c["padding"] == "same" for c in seq)


def test_sares_reorders_need_same_padding():
    from searchspace.errors import FamilyError
    from studies import Overrides

    with pytest.raises(FamilyError, match="Conv at position 4 of FCL-BN-PL-DropL-Conv-AL meets a 1x1 map"):
        Overrides(values={"padding": "valid"}).apply(load_preset("liu-sare")).validate(check_models=True)
