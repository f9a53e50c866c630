"""Contract tests over every registered family, plus each family's own reference numbers."""

from __future__ import annotations

import itertools

import pytest
import timm
import torch
from torch import nn

from searchspace._errors import FamilyError
from searchspace._tokens import ACTIVATIONS
from searchspace.families import (
    INIT_SCHEMES,
    build_model,
    describe_model,
    family_params,
    list_families,
)
from searchspace.families._layers import ACT_LAYERS, get_act_layer
from searchspace.families._init import SCHEMES

# Config overrides for inputs smaller than 32x32, where a family's default cannot be built.
SMALL_INPUT = {"vgg": dict(depth=7)}

# Cheap but non-trivial configs, for tests that build a model per family many times over.
TINY: dict[str, dict] = {
    "seq": dict(channels=4, fc_units=8),
    "fcl": dict(plug="Conv-BN", channels=4),
    "resnet": dict(widths=(4, 4, 8, 8), stem="cifar", stem_width=4),
    "cifar_resnet": dict(depth=8, widths=(4, 8, 8)),
    "vgg": dict(depth=7, width_base=4, fc_width=16),
    "baseline_cnn": dict(base_width=4, bn="before"),
    "skip_cnn": dict(conv_layers=2, widths=(4, 6)),
}

# The public config keys: spaces and stored trials refer to them by name.
NORM = {"bn_momentum", "bn_eps"}  # every family that can build batch norm (applied by build_model)
PUBLIC_KEYS = {
    "seq": {
        "layers", "channels", "kernel_size", "pool", "activation", "dropout", "fc_units",
        "upsample_mode", "padding", *NORM,
    },
    "fcl": {"plug", "channels", "kernel_size", "pool", "activation", "dropout", "padding", *NORM},
    "resnet": {"depth", "widths", "stem", "stem_width", "se", "drop_rate", "zero_init_last", *NORM},
    "cifar_resnet": {"depth", "widths", "shortcut", *NORM},
    "vgg": {"depth", "width_base", "first_kernel", "bn", "fc_width", "dropout", "activation", *NORM},
    "baseline_cnn": {"variant", "base_width", "bn", "activation", "leaky_slope", "dropout", *NORM},
    "skip_cnn": {"conv_layers", "widths", "kernel_size", "activation", "exit_adapter", "head", "dropout"},
}

BASE_SEQ_TOKENS = ("Conv", "BN", "PL", "DropL", "FCL", "AL")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def run(model: nn.Module, in_channels: int, size: tuple[int, int], batch: int = 2) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(torch.randn(batch, in_channels, *size))


def assert_logits(out: torch.Tensor, batch: int, num_classes: int) -> None:
    assert out.shape == (batch, num_classes)
    assert torch.isfinite(out).all()


def weighted(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_test_tables_cover_every_family():
    assert set(TINY) == set(list_families()) == set(PUBLIC_KEYS)


@pytest.mark.parametrize("family", list_families())
def test_public_config_keys(family):
    assert set(family_params(family)) == PUBLIC_KEYS[family]


# --- every family builds and runs -----------------------------------------------------------


@pytest.mark.parametrize("size", [8, 28, 32])
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("family", list_families())
def test_family_builds_and_runs(family, in_channels, size):
    kwargs = SMALL_INPUT.get(family, {}) if size < 32 else {}
    model = build_model(family, in_channels=in_channels, num_classes=7, input_size=size, **kwargs)
    assert_logits(run(model, in_channels, (size, size)), 2, 7)


@pytest.mark.parametrize("family", list_families())
def test_family_runs_at_224_with_defaults(family):
    model = build_model(family, in_channels=3, num_classes=5, input_size=224)
    assert_logits(run(model, 3, (224, 224), batch=1), 1, 5)


@pytest.mark.parametrize("family", list_families())
def test_family_runs_on_non_square_input(family):
    model = build_model(family, in_channels=1, num_classes=3, input_size=(24, 40), **TINY[family])
    assert_logits(run(model, 1, (24, 40)), 2, 3)


@pytest.mark.parametrize("family", list_families())
def test_family_trains_one_step(family):
    model = build_model(family, in_channels=3, num_classes=4, input_size=16, **TINY[family])
    model.train()
    model(torch.randn(4, 3, 16, 16)).logsumexp(dim=1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("family", list_families())
def test_same_seed_same_model(family):
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(family, in_channels=3, num_classes=4, input_size=16, **TINY[family])
        models.append(model)
    first, second = (m.state_dict() for m in models)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


# --- init schemes ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(INIT_SCHEMES))
@pytest.mark.parametrize("family", list_families())
def test_init_scheme_applies(family, scheme):
    torch.manual_seed(0)
    reference = build_model(family, in_channels=3, num_classes=4, input_size=16, **TINY[family])
    torch.manual_seed(0)
    model = build_model(
        family, in_channels=3, num_classes=4, input_size=16, init=scheme, **TINY[family]
    )
    layers, ref_layers = weighted(model), weighted(reference)
    if scheme in SCHEMES and scheme != "default":
        # kaiming_fan_out (torchvision's ResNet convention) re-initialises convs only
        touched = [i for i, m in enumerate(layers) if isinstance(m, SCHEMES[scheme].layers)]
        layers, ref_layers = [layers[i] for i in touched], [ref_layers[i] for i in touched]
    assert layers
    biases = [m.bias for m in layers if m.bias is not None]
    if scheme == "default":
        assert all(torch.equal(a.weight, b.weight) for a, b in zip(layers, ref_layers))
        assert any(b.abs().sum() > 0 for b in biases)  # PyTorch's default biases are not zero
    else:
        pairs = [(a.weight, b.weight) for a, b in zip(layers, ref_layers)]
        assert all(not torch.equal(a, b) for a, b in pairs if a.numel() > 1)
        assert all(torch.count_nonzero(b) == 0 for b in biases)
    if scheme == "zeros":
        assert all(torch.count_nonzero(m.weight) == 0 for m in layers)
    if scheme == "normal":
        weights = torch.cat([m.weight.flatten() for m in layers])
        assert weights.std().item() == pytest.approx(0.05, rel=0.15)
    assert_logits(run(model, 3, (16, 16)), 2, 4)


# --- describe_model -------------------------------------------------------------------------


@pytest.mark.parametrize("family", list_families())
def test_describe_model_is_consistent(family):
    model = build_model(family, in_channels=3, num_classes=6, input_size=20, **TINY[family])
    model.train()
    info = describe_model(model, in_channels=3, input_size=20)
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["output_shape"] == [1, 6]
    assert info["layers"][-1]["output_shape"] == [1, 6]
    # Every parameter lives in a leaf module that runs exactly once.
    assert sum(layer["params"] for layer in info["layers"]) == info["params"]
    assert all(layer["type"] and layer["name"] for layer in info["layers"])
    assert model.training  # mode restored
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed


def test_describe_seq_lists_layers_in_token_order():
    model = build_model("seq", in_channels=1, num_classes=10, input_size=28)
    info = describe_model(model, in_channels=1, input_size=28)
    assert [layer["name"] for layer in info["layers"]] == [
        "0_Conv", "1_BN", "2_PL", "3_DropL", "4_Flatten", "4_FCL", "5_AL", "head",
    ]  # fmt: skip
    shapes = {layer["name"]: layer["output_shape"] for layer in info["layers"]}
    assert shapes["2_PL"] == [1, 32, 14, 14]
    assert shapes["4_FCL"] == [1, 128]  # already flat, so the head needs no Flatten


def test_describe_resnet_stems_show_the_resolution():
    def layer1_shape(stem: str, size: int) -> list[int]:
        model = build_model("resnet", in_channels=3, num_classes=10, input_size=size, stem=stem)
        layers = describe_model(model, in_channels=3, input_size=size)["layers"]
        return [la for la in layers if la["name"].startswith("layer1.")][-1]["output_shape"]

    assert layer1_shape("imagenet", 64) == [1, 64, 16, 16]  # /2 conv, /2 max-pool
    assert layer1_shape("cifar", 32) == [1, 64, 32, 32]  # full resolution


# --- seq and fcl ----------------------------------------------------------------------------


@pytest.mark.slow  # 73 s under load 8 on 2 cores
def test_every_base_seq_ordering_builds_and_runs():
    orderings = list(itertools.permutations(BASE_SEQ_TOKENS))
    assert len(orderings) == 720
    x = torch.randn(2, 1, 28, 28)
    for order in orderings:
        # Narrow layers keep 720 builds fast; whether an ordering builds does not depend on width.
        model = build_model(
            "seq", in_channels=1, num_classes=10, input_size=28, layers=list(order), **TINY["seq"]
        )
        names = [n.split("_", 1)[1] for n in model._modules if n[0].isdigit()]
        assert [n for n in names if n not in ("Flatten", "Unflatten")] == list(order)
        model.eval()
        with torch.no_grad():
            out = model(x)
        assert out.shape == (2, 10), order
        assert torch.isfinite(out).all(), order


def test_base_seq_param_count():
    # Conv 1->32 (320) + BN (64) + FCL 32*14*14->128 (802,944) + head 128->10 (1,290).
    model = build_model("seq", in_channels=1, num_classes=10, input_size=28)
    assert n_params(model) == 804_618


@pytest.mark.parametrize("repeats", [3, 7])
def test_upsampling_groups_build(repeats):
    layers = f"(Conv-PL-UpSamp)x{repeats}-FCL-AL"
    model = build_model("seq", in_channels=3, num_classes=10, input_size=32, layers=layers)
    ups = [m for m in model.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == repeats
    fc = model.get_submodule(f"{3 * repeats}_FCL")
    assert fc.in_features == 32 * 32 * 32  # each pool is undone by the upsampling after it
    assert_logits(run(model, 3, (32, 32)), 2, 10)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
def test_seq_upsample_modes_after_fcl(mode):
    model = build_model(
        "seq", in_channels=3, num_classes=4, input_size=8, layers="FCL:4-UpSamp-Conv-UpSamp:3-PL",
        upsample_mode=mode,
    )  # fmt: skip
    assert model.get_submodule("1_UpSamp").mode == mode
    assert model.get_submodule("head").in_features == 32 * 3 * 3  # 1 -> 2 -> 6 -> pooled to 3
    assert_logits(run(model, 3, (8, 8)), 2, 4)


def test_seq_token_arguments_override_defaults():
    model = build_model(
        "seq",
        in_channels=3,
        num_classes=10,
        input_size=16,
        layers="Conv:8-PL:avg-DropL:0.5-FCL:16-AL:tanh-UpSamp:3",
        pool="max",
        activation="relu",
    )
    assert model.get_submodule("0_Conv").out_channels == 8
    assert isinstance(model.get_submodule("1_PL"), nn.AvgPool2d)
    assert model.get_submodule("2_DropL").p == 0.5
    assert model.get_submodule("3_FCL").in_features == 8 * 8 * 8
    assert model.get_submodule("3_FCL").out_features == 16
    assert isinstance(model.get_submodule("4_AL"), nn.Tanh)
    assert model.get_submodule("5_UpSamp").scale_factor == 3
    assert model.get_submodule("head").in_features == 16 * 3 * 3
    assert_logits(run(model, 3, (16, 16)), 2, 10)


def test_seq_shape_rules():
    # BN first normalises the input channels; BN after FCL is 1-d; Conv after FCL unflattens.
    model = build_model(
        "seq", in_channels=3, num_classes=4, input_size=8, layers="BN-FCL-BN-Conv-PL-PL-PL-PL-PL"
    )
    assert isinstance(model.get_submodule("0_BN"), nn.BatchNorm2d)
    assert model.get_submodule("0_BN").num_features == 3
    assert isinstance(model.get_submodule("2_BN"), nn.BatchNorm1d)
    assert isinstance(model.get_submodule("3_Unflatten"), nn.Unflatten)
    # The map after FCL-...-Conv is the 1x1 unflattened vector, so there is nothing to pool.
    assert all(isinstance(model.get_submodule(f"{i}_PL"), nn.Identity) for i in range(4, 9))
    pools = build_model("seq", in_channels=1, num_classes=4, input_size=8, layers="PL-PL-PL")
    kinds = [type(pools.get_submodule(f"{i}_PL")) for i in range(3)]
    assert kinds == [nn.MaxPool2d] * 3  # 8 -> 4 -> 2 -> 1
    # a fourth pooling of the image's own 1x1 map is too many for 8x8: a clear error, as for vgg
    with pytest.raises(FamilyError, match="PL at position 3 of PL-PL-PL-PL meets a 1x1 map: too many poolings for a 8x8"):
        build_model("seq", in_channels=1, num_classes=4, input_size=8, layers="PL-PL-PL-PL")
    assert_logits(run(model, 3, (8, 8)), 2, 4)
    assert_logits(run(pools, 1, (8, 8)), 2, 4)


def test_seq_without_tokens_is_just_the_head():
    model = build_model("seq", in_channels=1, num_classes=10, input_size=28, layers="none")
    assert [type(m) for m in model] == [nn.Flatten, nn.Linear]


@pytest.mark.parametrize(
    ("plug", "types"),
    [
        ("none", [nn.Flatten, nn.Linear]),
        ("BN", [nn.BatchNorm2d, nn.Flatten, nn.Linear]),
        ("Conv", [nn.Conv2d, nn.Flatten, nn.Linear]),
        ("PL", [nn.MaxPool2d, nn.Flatten, nn.Linear]),
        ("DropL", [nn.Dropout, nn.Flatten, nn.Linear]),
        ("AL", [nn.ReLU, nn.Flatten, nn.Linear]),
        ("DropL-BN", [nn.Dropout, nn.BatchNorm2d, nn.Flatten, nn.Linear]),
    ],
)
def test_fcl_plug(plug, types):
    model = build_model("fcl", in_channels=1, num_classes=10, input_size=28, plug=plug)
    assert [type(m) for m in model] == types
    assert_logits(run(model, 1, (28, 28)), 2, 10)


def test_fcl_base0_param_count():
    model = build_model("fcl", in_channels=1, num_classes=10, input_size=28)
    assert n_params(model) == 28 * 28 * 10 + 10


# --- resnet ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "expected"), [(18, 11_689_512), (34, 21_797_672)])
def test_resnet_imagenet_param_counts(depth, expected):
    # torchvision's resnet18 / resnet34 counts; timm's BasicBlock ResNet matches them.
    model = build_model("resnet", in_channels=3, num_classes=1000, input_size=224, depth=depth)
    assert isinstance(model, timm.models.resnet.ResNet)
    assert n_params(model) == expected


@pytest.mark.parametrize("widths", ["512-256-128-64", "512,256,128,64", [512, 256, 128, 64]])
def test_resnet_widths_spellings(widths):
    model = build_model("resnet", in_channels=3, num_classes=10, input_size=32, widths=widths)
    stage_widths = [getattr(model, f"layer{i}")[-1].bn2.num_features for i in range(1, 5)]
    assert stage_widths == [512, 256, 128, 64]


def test_resnet_cifar_stem():
    model = build_model("resnet", in_channels=1, num_classes=10, input_size=28, stem="cifar")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.padding == (1, 1) and model.conv1.bias is None
    assert isinstance(model.maxpool, nn.Identity)
    # Only the stem conv changes: 3x3x1x64 instead of 7x7x1x64 weights.
    imagenet = build_model("resnet", in_channels=1, num_classes=10, input_size=28)
    assert n_params(imagenet) - n_params(model) == (49 - 9) * 64


def test_resnet_conv3x3_stem_keeps_the_max_pool():
    # Seed 004 section 4.3 item 6 changes conv1 to 3x3 stride 1 and leaves the max-pool alone.
    model = build_model("resnet", in_channels=3, num_classes=10, input_size=32, stem="conv3x3")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.padding == (1, 1)
    assert isinstance(model.maxpool, nn.MaxPool2d)
    layers = describe_model(model, in_channels=3, input_size=32)["layers"]
    assert [la for la in layers if la["name"].startswith("layer1.")][-1]["output_shape"] == [1, 64, 16, 16]


@pytest.mark.parametrize("zero_init_last", [False, True])
@pytest.mark.parametrize("stem", ["imagenet", "conv3x3"])
def test_resnet_zero_init_last_is_a_config_value(zero_init_last, stem):
    model = build_model("resnet", in_channels=3, num_classes=10, input_size=32, stem=stem,
                        zero_init_last=zero_init_last)
    gammas = [block.bn2.weight for layer in (model.layer1, model.layer4) for block in layer]
    assert all(bool((g == 0).all()) == zero_init_last for g in gammas)
    assert bool((model.bn1.weight == 1).all())  # the stem BN is never zeroed


@pytest.mark.parametrize("stem", ["imagenet", "conv3x3", "cifar"])
def test_resnet_stem_width(stem):
    model = build_model(
        "resnet", in_channels=3, num_classes=10, input_size=32, stem=stem, stem_width=32
    )
    assert model.conv1.out_channels == model.bn1.num_features == 32
    assert model.layer1[0].conv1.in_channels == 32
    assert model.layer1[0].downsample is not None  # 32 -> 64 needs a projection
    assert_logits(run(model, 3, (32, 32)), 2, 10)


def test_resnet_se_and_drop_rate():
    plain = build_model("resnet", in_channels=3, num_classes=10, input_size=32)
    se = build_model("resnet", in_channels=3, num_classes=10, input_size=32, se=True, drop_rate=0.3)
    se_modules = [m for m in se.modules() if type(m).__name__ == "SEModule"]
    assert len(se_modules) == 8  # one per BasicBlock of ResNet-18
    assert not [m for m in plain.modules() if type(m).__name__ == "SEModule"]
    assert n_params(se) > n_params(plain)
    assert se.drop_rate == 0.3
    assert_logits(run(se, 3, (32, 32)), 2, 10)


# --- cifar_resnet ---------------------------------------------------------------------------

# He et al. (2016) Table 6: ResNet-20/32/44/56/110 have 0.27M/0.46M/0.66M/0.85M/1.7M parameters.
HE_TABLE_6 = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}
# Our exact counts with 10 classes. Option A's shortcuts have no parameters; option B adds a 1x1
# conv + BN at the two stage transitions: 16*32 + 2*32 + 32*64 + 2*64 = 2,752 parameters.
CIFAR_RESNET_PARAMS = {
    "A": {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962},
    "B": {20: 272_474, 32: 466_906, 44: 661_338, 56: 855_770, 110: 1_730_714},
}


@pytest.mark.parametrize("shortcut", ["A", "B"])
@pytest.mark.parametrize("depth", sorted(HE_TABLE_6))
def test_cifar_resnet_param_counts(depth, shortcut):
    model = build_model(
        "cifar_resnet", in_channels=3, num_classes=10, input_size=32, depth=depth, shortcut=shortcut
    )
    count = n_params(model)
    assert count == CIFAR_RESNET_PARAMS[shortcut][depth]
    assert count == pytest.approx(HE_TABLE_6[depth], rel=0.02)


def test_cifar_resnet_structure():
    model = build_model("cifar_resnet", in_channels=3, num_classes=10, input_size=32, depth=32)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 32  # 6n+2 weighted layers: convs + the linear layer
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [5, 5, 5]
    info = describe_model(model, in_channels=3, input_size=32)
    shapes = {la["name"]: la["output_shape"] for la in info["layers"]}
    assert shapes["layer3.4.act2"] == [1, 64, 8, 8]


# --- vgg ------------------------------------------------------------------------------------


def test_vgg16_param_count():
    # torchvision's vgg16 has 138,357,544 parameters, of which 102,764,544 are its first linear
    # layer 25088 -> 4096 (after a 7x7 adaptive pool). Ours global-average-pools to 512 first, so
    # that layer is 512 -> 4096 = 2,101,248: 14,714,688 conv + 2,101,248 + 16,781,312 (4096 ->
    # 4096) + 4,097,000 (4096 -> 1000) = 37,694,248.
    model = build_model("vgg", in_channels=3, num_classes=1000, input_size=224)
    assert n_params(model) == 138_357_544 - 102_764_544 + 2_101_248 == 37_694_248


@pytest.mark.parametrize(("depth", "pools"), [(7, 3), (9, 4), (11, 5), (16, 5), (19, 5)])
def test_vgg_depth_counts_weight_layers(depth, pools):
    model = build_model(
        "vgg", in_channels=1, num_classes=10, input_size=32, depth=depth, width_base=4
    )
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == depth
    assert len(linears) == 3
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == pools
    assert linears[0].out_features == 8 * convs[-1].out_channels  # fc_width None


def test_vgg_options():
    model = build_model(
        "vgg", in_channels=1, num_classes=10, input_size=28, depth=9, width_base=16,
        first_kernel=5, bn=True, fc_width=64, activation="gelu",
    )  # fmt: skip
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 64, 128, 128]
    assert convs[0].kernel_size == (5, 5) and convs[0].padding == (2, 2)
    assert convs[1].kernel_size == (3, 3)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == len(convs)
    assert sum(isinstance(m, nn.GELU) for m in model.modules()) == len(convs) + 2
    assert model.classifier[0].out_features == 64
    assert_logits(run(model, 1, (28, 28)), 2, 10)


def test_vgg_small_inputs():
    model = build_model("vgg", in_channels=1, num_classes=10, input_size=8, depth=7)
    assert_logits(run(model, 1, (8, 8)), 2, 10)
    with pytest.raises(FamilyError, match="vgg depth 16 has 5 max-pools"):
        build_model("vgg", in_channels=1, num_classes=10, input_size=8, depth=16)


# --- baseline_cnn ---------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "expected"), [(1, 92_074), (2, 307_498)])
def test_baseline_cnn_param_counts(variant, expected):
    # Variant 1: convs 3->32 (896) + 32->32 (9,248), Linear 32*16*16 -> 10 (81,930).
    # Variant 2: convs 896 + 9,248 + 18,496 + 36,928 + 73,856 + 147,584 = 287,008, Linear
    # 128*4*4 -> 10 (20,490).
    model = build_model(
        "baseline_cnn", in_channels=3, num_classes=10, input_size=32, variant=variant
    )
    assert n_params(model) == expected


@pytest.mark.parametrize(
    ("bn", "expected"),
    [
        ("none", [nn.Conv2d, nn.ReLU]),
        ("before", [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]),
        ("after", [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]),
    ],
)
def test_baseline_cnn_bn_placement(bn, expected):
    model = build_model("baseline_cnn", in_channels=3, num_classes=10, input_size=32, bn=bn)
    assert [type(m) for m in model.features[: len(expected)]] == expected


@pytest.mark.parametrize(
    ("dropout", "rates"),
    [
        (0.0, []),
        (0.2, [0.2, 0.2, 0.2]),
        ([0.2, 0.5, 0.7], [0.2, 0.5, 0.7]),
        ("0.2,0.5,0.7", [0.2, 0.5, 0.7]),
        ([0.3], [0.3, 0.3, 0.3]),
    ],
)
def test_baseline_cnn_dropout(dropout, rates):
    model = build_model(
        "baseline_cnn", in_channels=3, num_classes=10, input_size=32, dropout=dropout
    )
    drops = [m for m in model.features if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == rates
    for d in drops:  # each right after a pool
        assert isinstance(model.features[list(model.features).index(d) - 1], nn.MaxPool2d)


# --- errors ---------------------------------------------------------------------------------


def test_unknown_family_lists_valid_names():
    with pytest.raises(FamilyError) as err:
        build_model("alexnet", in_channels=3, num_classes=10, input_size=32)
    assert "alexnet" in str(err.value)
    assert all(name in str(err.value) for name in list_families())


def test_unknown_key_lists_valid_keys():
    with pytest.raises(FamilyError) as err:
        build_model("vgg", in_channels=3, num_classes=10, input_size=32, dept=16)
    message = str(err.value)
    assert "dept" in message
    assert all(key in message for key in [*PUBLIC_KEYS["vgg"], "init"])


def test_vgg_too_small_message():
    with pytest.raises(FamilyError) as err:
        build_model("vgg", in_channels=1, num_classes=10, input_size=28, depth=16)
    assert str(err.value) == (
        "vgg depth 16 has 5 max-pools; a 28x28 input shrinks to 0x0 at pool 5; "
        "use inputs of at least 32x32 or depth 7/9"
    )


ALL_ACTIVATIONS = "relu, leaky_relu, sigmoid, tanh, gelu"


@pytest.mark.parametrize(
    ("family", "kwargs", "size", "expected"),
    [
        ("resnet", dict(depth=19), 32, ["resnet depth 19", "valid: 18, 34"]),
        ("resnet", dict(stem="tiny"), 32, ["'tiny'", "imagenet, conv3x3, cifar"]),
        ("resnet", dict(widths="64-128-256"), 32, ["'64-128-256'", "4 positive ints"]),
        ("resnet", dict(widths=(64, 0, 64, 64)), 32, ["4 positive ints"]),
        ("resnet", dict(se="yes"), 32, ["'yes'", "False, True"]),
        ("cifar_resnet", dict(depth=21), 32, ["depth 21", "6n+2"]),
        ("cifar_resnet", dict(depth=2), 32, ["depth 2", "6n+2"]),
        ("cifar_resnet", dict(shortcut="C"), 32, ["shortcut 'C'", "A, B"]),
        ("cifar_resnet", dict(widths=(64, 32, 16)), 32, ["64-32-16", "shortcut 'B'"]),
        ("vgg", dict(depth=16), 28, ["depth 16", "28x28", "32x32"]),
        ("vgg", dict(depth=9), 8, ["4 max-pools", "8x8", "16x16", "depth 7"]),
        ("vgg", dict(depth=13), 32, ["depth 13", "7, 9, 11, 16, 19"]),
        ("vgg", dict(first_kernel=7), 32, ["first_kernel 7", "3, 5"]),
        ("vgg", dict(activation="swish"), 32, ["'swish'", ALL_ACTIVATIONS]),
        ("seq", dict(activation="swish"), 32, ["'swish'", ALL_ACTIVATIONS]),
        ("seq", dict(kernel_size=4), 32, ["kernel_size 4", "odd"]),
        ("seq", dict(pool="min"), 32, ["'min'", "max, avg"]),
        ("seq", dict(dropout=1.0), 32, ["dropout", "[0, 1)"]),
        ("seq", dict(layers="Conv-Foo"), 32, ["'Foo'", "Conv"]),
        ("seq", dict(upsample_mode="cubic"), 32, ["'cubic'", "bilinear"]),
        ("fcl", dict(plug="BN-Pool"), 32, ["'Pool'", "PL"]),
        ("baseline_cnn", dict(activation="swish"), 32, ["'swish'", ALL_ACTIVATIONS]),
        ("baseline_cnn", dict(variant=3), 32, ["variant 3", "1, 2"]),
        ("baseline_cnn", dict(bn="middle"), 32, ["'middle'", "none, before, after"]),
        ("baseline_cnn", dict(dropout=[0.2, 0.5]), 32, ["2 rates", "3 block"]),
        ("baseline_cnn", dict(dropout="0.2,x"), 32, ["'0.2,x'"]),
        ("baseline_cnn", dict(dropout=[0.2, 1.5, 0.1]), 32, ["1.5", "[0, 1)"]),
        ("baseline_cnn", dict(variant=2), 4, ["4x4", "8x8"]),
    ],
)
def test_bad_values_raise_one_line(family, kwargs, size, expected):
    with pytest.raises(FamilyError) as err:
        build_model(family, in_channels=3, num_classes=10, input_size=size, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_activation_table_matches_layer_tokens():
    assert tuple(ACT_LAYERS) == ACTIVATIONS


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_names_mean_what_timms_factory_means(name):
    # layerlab keeps its own table (importing timm costs every worker torch._dynamo; see
    # _layers.py); each name must compute exactly what timm.layers.get_act_layer(name) computes.
    act = get_act_layer(name, family="test")
    ours, timms = act(), timm.layers.get_act_layer(name)()
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 4
    assert torch.equal(ours(x), timms(x))
    assert not list(ours.parameters()) and not list(timms.parameters())


@pytest.mark.parametrize("name", ["ReLU", "swish", None, 3])
def test_activation_names_stay_stricter_than_timm(name):
    with pytest.raises(FamilyError, match=r"test activation .* is not supported; valid: "):
        get_act_layer(name, family="test")


@pytest.mark.parametrize("slope", [0.01, 0.3])
def test_baseline_cnn_leaky_slope(slope):
    # Keras' LeakyReLU has slope 0.3, PyTorch's 0.01: a config value so both can be ablated.
    model = build_model("baseline_cnn", in_channels=3, num_classes=10, input_size=32,
                        activation="leaky_relu", leaky_slope=slope)
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {slope}
    with pytest.raises(FamilyError, match="leaky_slope must be a number >= 0, got -1"):
        build_model("baseline_cnn", in_channels=3, num_classes=10, input_size=32, leaky_slope=-1)


# --- padding (seed 000, Keras' Conv2D default 'valid') and batch-norm keys ------------------------------------


def test_valid_padding_gives_basesequences_dense_layer_the_inputs_of_the_papers_keras_code():
    same = build_model("seq", in_channels=3, num_classes=10, input_size=32)
    valid = build_model("seq", in_channels=3, num_classes=10, input_size=32, padding="valid")
    fcl = [m for m in valid.modules() if isinstance(m, nn.Linear)][0]
    assert [m for m in same.modules() if isinstance(m, nn.Linear)][0].in_features == 16 * 16 * 32 == 8192
    assert fcl.in_features == 15 * 15 * 32 == 7200  # 32 - 2 = 30 after the 3x3 conv, 15 after the pool
    assert_logits(run(valid, 3, (32, 32)), 2, 10)
    plugged = build_model("fcl", in_channels=1, num_classes=10, input_size=8, plug="Conv", padding="valid")
    assert [m for m in plugged.modules() if isinstance(m, nn.Linear)][0].in_features == 6 * 6 * 32
    with pytest.raises(FamilyError, match="Conv at position 1 of FCL-Conv-AL meets a 1x1 map, smaller than its 3x3"):
        build_model("seq", in_channels=1, num_classes=10, input_size=8, layers="FCL-Conv-AL", padding="valid")
    with pytest.raises(FamilyError, match="padding 'full' is not supported; valid: same, valid"):
        build_model("seq", in_channels=1, num_classes=10, input_size=8, padding="full")


@pytest.mark.parametrize("family", [f for f in list_families() if "bn_momentum" in family_params(f)])
def test_bn_keys_reach_every_batch_norm_in_torchs_convention(family):
    keras = build_model(family, in_channels=3, num_classes=10, input_size=32, bn_momentum=0.01, bn_eps=1e-3,
                        **{**TINY[family], **({"bn": "before"} if family == "baseline_cnn" else {}),
                           **({"bn": True} if family == "vgg" else {}),
                           **({"plug": "Conv-BN"} if family == "fcl" else {})})
    norms = [m for m in keras.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all((m.momentum, m.eps) == (0.01, 1e-3) for m in norms)
    default = build_model(family, in_channels=3, num_classes=10, input_size=32, **TINY[family])
    assert all((m.momentum, m.eps) == (0.1, 1e-5) for m in default.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm))
    with pytest.raises(FamilyError, match="bn_momentum must be a number in \\[0, 1\\] .*Keras' 0.99 is 0.01"):
        build_model(family, in_channels=3, num_classes=10, input_size=32, bn_momentum=0.99 + 1, **TINY[family])
