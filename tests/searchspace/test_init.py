"""Each init scheme draws weights with the std its formula (and its library) says."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from searchspace.families._init import INIT_SCHEMES
from searchspace import build_model
from searchspace.families._init import SCHEMES, TRUNCATED_STD, apply_init

# (layer, fan_in, fan_out): the final Dense of seed 002's Baseline-2 at 32x32 (2048 -> 10) and a
# 3x3 conv 64 -> 128.
LAYERS = {
    "dense": (lambda: nn.Linear(2048, 10), 2048, 10),
    "conv": (lambda: nn.Conv2d(64, 128, 3), 64 * 9, 128 * 9),
}
FORMULA = {
    "he_normal": lambda fi, fo: math.sqrt(2 / fi),
    "he_uniform": lambda fi, fo: math.sqrt(2 / fi),  # uniform +-sqrt(6/fi) has std sqrt(2/fi)
    "glorot_normal": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "glorot_uniform": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "xavier_normal": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "xavier_uniform": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "kaiming_normal": lambda fi, fo: math.sqrt(2 / fi),
    "kaiming_fan_out": lambda fi, fo: math.sqrt(2 / fo),
    "normal": lambda fi, fo: 0.05,
}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("scheme", list(FORMULA))
def test_scheme_std_matches_its_formula(scheme, layer):
    make, fan_in, fan_out = LAYERS[layer]
    torch.manual_seed(0)
    module = make()
    before = module.weight.detach().clone()
    apply_init(module, scheme)
    if scheme == "kaiming_fan_out" and layer == "dense":
        # torchvision's ResNet convention re-initialises convs only; fc keeps PyTorch's default
        assert torch.equal(module.weight, before)
        return
    expected = FORMULA[scheme](fan_in, fan_out)
    assert module.weight.std().item() == pytest.approx(expected, rel=0.04)
    assert SCHEMES[scheme].std(fan_in, fan_out) == pytest.approx(expected)
    assert torch.count_nonzero(module.bias) == 0


def test_keras_he_normal_on_the_final_dense_is_fan_in_and_truncated():
    # The audit's numbers: Keras gives the 2048 -> 10 Dense std 0.031; a fan_out He gives 0.45.
    torch.manual_seed(0)
    dense = apply_init(nn.Linear(2048, 10), "he_normal")
    assert dense.weight.std().item() == pytest.approx(0.03125, rel=0.04)
    limit = 2 * math.sqrt(2 / 2048) / TRUNCATED_STD
    assert dense.weight.abs().max().item() <= limit + 1e-7  # cut at 2 (raw) standard deviations


def test_keras_uniform_limits():
    torch.manual_seed(0)
    w = apply_init(nn.Linear(2048, 10), "he_uniform").weight
    assert w.abs().max().item() <= math.sqrt(6 / 2048) and w.abs().max().item() > 0.95 * math.sqrt(6 / 2048)
    w = apply_init(nn.Linear(2048, 10), "glorot_uniform").weight
    assert w.abs().max().item() <= math.sqrt(6 / 2058)


def test_kaiming_fan_out_keeps_the_resnet_classifier_default():
    torch.manual_seed(0)
    ref = build_model("resnet", in_channels=3, num_classes=10, input_size=32)
    torch.manual_seed(0)
    model = build_model("resnet", in_channels=3, num_classes=10, input_size=32, init="kaiming_fan_out")
    assert torch.equal(model.fc.weight, ref.fc.weight)
    conv = model.conv1.weight
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (64 * 49)), rel=0.05)


def test_every_scheme_is_documented_with_a_formula():
    assert set(INIT_SCHEMES) == set(FORMULA) | {"default", "zeros"}
