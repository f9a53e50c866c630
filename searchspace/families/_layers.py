"""Small pieces shared by the families: activation lookup, value checks and pool arithmetic.

Activations are chosen by name so that a search space stays plain strings (timm's ``act_layer``
habit). :data:`ACT_LAYERS` is the one name -> class table; its keys match the ``AL:<name>`` token
arguments in :data:`searchspace._tokens.ACTIVATIONS`.

Why not ``timm.layers.get_act_layer``: importing ``timm`` imports ``torch._dynamo`` (about 4 s of
CPU on a loaded 2-core machine), and every worker builds a model, while only the ``resnet`` family
needs timm (it imports it lazily); tests/objectives/test_flops.py keeps model building free of
dynamo. timm's factory also accepts more names and folds case, where a registry here must name
what is valid on a miss. tests/searchspace/test_families.py checks that each name here gives the
same outputs as timm's ``get_act_layer(name)`` (relu and leaky_relu are the same classes; timm's
sigmoid, tanh and gelu are its own parameter-free modules computing the same function).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from torch import nn

from searchspace._errors import FamilyError, valid_list

ACT_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,  # negative slope 0.01 (PyTorch's); families may take leaky_slope
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def get_act_layer(name: str, *, family: str) -> type[nn.Module]:
    """The activation class called ``name``; an unknown name raises naming the valid ones."""
    try:
        return ACT_LAYERS[name]
    except (KeyError, TypeError):
        raise FamilyError(
            f"{family} activation {name!r} is not supported; valid: {valid_list(ACT_LAYERS)}"
        ) from None


def leaky_act_layer(
    name: str, *, family: str, leaky_slope: float
) -> type[nn.Module] | Callable[[], nn.Module]:
    """``get_act_layer``, with ``leaky_relu``'s negative slope set to ``leaky_slope``
    (PyTorch's default is 0.01, Keras' ``LeakyReLU`` 0.3); other activations ignore the slope."""
    act = get_act_layer(name, family=family)
    if isinstance(leaky_slope, bool) or not isinstance(leaky_slope, (int, float)) or leaky_slope < 0:
        raise FamilyError(f"{family} leaky_slope must be a number >= 0, got {leaky_slope!r}")
    if act is nn.LeakyReLU:
        return functools.partial(nn.LeakyReLU, negative_slope=float(leaky_slope))
    return act


def check_choice(family: str, key: str, value: object, valid: Sequence[object]) -> None:
    if value not in valid or isinstance(value, bool) != any(isinstance(v, bool) for v in valid):
        raise FamilyError(f"{family} {key} {value!r} is not supported; valid: {valid_list(valid)}")


def check_int(family: str, key: str, value: object, *, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise FamilyError(f"{family} {key} must be an int >= {low}, got {value!r}")
    return value


def check_rate(family: str, key: str, value: object) -> float:
    """A drop probability: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise FamilyError(f"{family} {key} must be a probability in [0, 1), got {value!r}")
    return float(value)


def pooled_sizes(size: tuple[int, int], pools: int) -> list[tuple[int, int]]:
    """``size`` followed by the spatial size after each of ``pools`` 2x2 stride-2 floor poolings."""
    sizes = [size]
    for _ in range(pools):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


def first_empty_pool(size: tuple[int, int], pools: int) -> int | None:
    """The 1-based index of the first pool whose output has a zero side, or None if all fit."""
    for i, (h, w) in enumerate(pooled_sizes(size, pools)[1:], start=1):
        if h == 0 or w == 0:
            return i
    return None
