"""skip_cnn (seed 003): routed forward, gradients of skipped layers, widths, exits and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from searchspace._errors import FamilyError
from searchspace import build_model, describe_model
from searchspace.families._skip import SkipCNN


def make(**kwargs) -> SkipCNN:
    torch.manual_seed(0)
    kwargs = {"conv_layers": 3, "widths": (4, 6, 6), **kwargs}
    return build_model("skip_cnn", in_channels=1, num_classes=5, input_size=8, **kwargs)


def conv_grads(model: SkipCNN, x: torch.Tensor, y: torch.Tensor, route: torch.Tensor | None) -> list[torch.Tensor]:
    """The gradient of the summed loss w.r.t. each conv layer's weight (zeros when None)."""
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x, route=route), y, reduction="sum").backward()
    return [c.weight.grad.clone() if c.weight.grad is not None else torch.zeros_like(c.weight) for c in model.convs]


def test_default_architecture_is_three_same_size_layers_and_one_dense_layer():
    model = build_model("skip_cnn", in_channels=1, num_classes=10, input_size=28)
    assert model.widths == (32, 64, 64) and model.num_exits == 3
    info = describe_model(model, in_channels=1, input_size=28)
    convs = [la for la in info["layers"] if la["type"] == "Conv2d"]
    assert [la["output_shape"] for la in convs] == [[1, 32, 28, 28], [1, 64, 28, 28], [1, 64, 28, 28]]
    assert [la["type"] for la in info["layers"]].count("Linear") == 1
    assert not any("Pool" in la["type"] for la in info["layers"])


@pytest.mark.parametrize("exit_adapter", ["pad", "project"])
@pytest.mark.parametrize("head", ["flatten", "avgpool"])
def test_routing_everything_to_the_deepest_layer_is_the_plain_forward(exit_adapter, head):
    model = make(exit_adapter=exit_adapter, head=head)
    x = torch.randn(7, 1, 8, 8)
    plain = model(x)
    routed = model(x, route=torch.full((7,), 2))
    torch.testing.assert_close(routed, plain, rtol=1e-5, atol=1e-6)


def test_each_route_equals_a_forward_that_stops_at_its_layer():
    model = make()
    x = torch.randn(6, 1, 8, 8)
    route = torch.tensor([0, 2, 1, 0, 2, 1])
    out = model(x, route=route)
    for i, depth in enumerate(route.tolist()):
        h = x[i : i + 1]
        for conv, act in list(zip(model.convs, model.acts))[: depth + 1]:
            h = act(conv(h))
        h = F.pad(h, (0, 0, 0, 0, 0, 6 - h.shape[1]))  # 'pad' adapter: zeros up to the head width
        torch.testing.assert_close(out[i : i + 1], model.head(h), rtol=1e-5, atol=1e-6)
    # and a route changes the result: a skipped layer is really skipped
    assert not torch.allclose(out, model(x))


def test_layers_after_the_exit_get_no_gradient():
    model = make()
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 5, (5,))
    shallow = conv_grads(model, x, y, torch.zeros(5, dtype=torch.long))
    assert shallow[0].abs().sum() > 0
    assert shallow[1].abs().sum() == 0 and shallow[2].abs().sum() == 0
    middle = conv_grads(model, x, y, torch.ones(5, dtype=torch.long))
    assert middle[1].abs().sum() > 0 and middle[2].abs().sum() == 0
    deepest = conv_grads(model, x, y, torch.full((5,), 2))
    assert all(g.abs().sum() > 0 for g in deepest)


def test_mixed_batch_gradient_is_the_gradient_of_the_images_that_used_each_layer():
    model = make()
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 5, (8,))
    route = torch.tensor([0, 2, 1, 2, 0, 1, 2, 0])
    mixed = conv_grads(model, x, y, route)
    # Each image's gradient on its own, summed: the batch's gradient must be that sum.
    alone = [conv_grads(model, x[i : i + 1], y[i : i + 1], route[i : i + 1]) for i in range(8)]
    for layer in range(3):
        torch.testing.assert_close(mixed[layer], sum(a[layer] for a in alone), rtol=1e-4, atol=1e-6)
    # Layer 2 only sees the images routed to it: the gradient of that subset alone.
    deep = route == 2
    subset = conv_grads(model, x[deep], y[deep], route[deep])
    torch.testing.assert_close(mixed[2], subset[2], rtol=1e-4, atol=1e-6)
    # Layer 1 sees routes 1 and 2; the images routed to 0 add nothing to it.
    used = route >= 1
    subset = conv_grads(model, x[used], y[used], route[used])
    torch.testing.assert_close(mixed[1], subset[1], rtol=1e-4, atol=1e-6)


def test_project_adapter_trains_only_from_images_routed_to_its_exit():
    model = make(exit_adapter="project")
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 5, (4,))
    proj = model.adapters[0]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x, route=torch.full((4,), 2)), y).backward()
    assert proj.weight.grad is None  # nobody left at layer 0
    F.cross_entropy(model(x, route=torch.tensor([0, 2, 2, 1])), y).backward()
    assert proj.weight.grad.abs().sum() > 0


def test_return_activations_gives_each_layers_maps():
    model = make()
    x = torch.randn(3, 1, 8, 8)
    logits, acts = model(x, return_activations=True)
    torch.testing.assert_close(logits, model(x))
    assert [tuple(a.shape) for a in acts] == [(3, 4, 8, 8), (3, 6, 8, 8), (3, 6, 8, 8)]
    assert all((a >= 0).all() for a in acts)  # post-ReLU
    with pytest.raises(ValueError, match="route=None"):
        model(x, route=torch.zeros(3, dtype=torch.long), return_activations=True)


@pytest.mark.parametrize(
    "route, fragment",
    [
        (torch.tensor([0, 1, 3]), "exit indices 0..2"),
        (torch.tensor([0, 1]), "shape (3,)"),
        (torch.tensor([0.0, 1.0, 2.0]), "integer tensor"),
    ],
)
def test_bad_routes_are_rejected(route, fragment):
    with pytest.raises(ValueError) as err:
        make()(torch.randn(3, 1, 8, 8), route=route)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(conv_layers=0), "conv_layers must be an int >= 1"),
        (dict(conv_layers=3, widths=(8, 8)), "one int or a list of 3 ints"),
        (dict(widths=0), "widths must be an int >= 1"),
        (dict(kernel_size=4), "kernel_size 4 is even"),
        (dict(exit_adapter="crop"), "exit_adapter 'crop' is not supported; valid: pad, project"),
        (dict(head="gap"), "head 'gap' is not supported; valid: flatten, avgpool"),
    ],
)
def test_bad_config_is_a_one_line_family_error(kwargs, fragment):
    with pytest.raises(FamilyError) as err:
        build_model("skip_cnn", in_channels=1, num_classes=3, input_size=8, **{"widths": None, **kwargs})
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_widths_default_follows_the_layer_count_and_an_int_sets_every_layer():
    assert build_model("skip_cnn", in_channels=1, num_classes=3, input_size=8, conv_layers=4).widths == (32, 64, 64, 64)
    assert build_model("skip_cnn", in_channels=1, num_classes=3, input_size=8, widths=16).widths == (16, 16, 16)
