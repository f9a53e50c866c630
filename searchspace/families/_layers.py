"""Small pieces shared by the families: activation lookup, value checks and pool arithmetic.

Activations are chosen by name so that a search space stays plain strings (timm's ``act_layer``
habit), and timm's own ``timm.layers.get_act_layer`` resolves the name. layerlab admits only the
names in :data:`ACT_NAMES` (they match the ``AL:<name>`` token arguments in
:data:`searchspace._tokens.ACTIVATIONS`): timm's factory also takes ``swish``, ``mish``, ... and
folds case, and a registry here names what is valid on a miss. ``relu`` and ``leaky_relu`` resolve
to ``nn.ReLU`` / ``nn.LeakyReLU``; ``sigmoid``, ``tanh`` and ``gelu`` to timm's parameter-free
``Sigmoid`` / ``Tanh`` / ``GELU``, which compute exactly ``torch.sigmoid`` / ``torch.tanh`` /
``F.gelu`` (the same outputs as ``nn.Sigmoid`` / ``nn.Tanh`` / ``nn.GELU``; checked in
tests/searchspace/test_families.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from timm.layers import get_act_layer as timm_act_layer
from torch import nn

from searchspace._errors import FamilyError, valid_list

# The admitted activation names. leaky_relu has PyTorch's negative slope 0.01; families may
# take leaky_slope (see leaky_act_layer).
ACT_NAMES: tuple[str, ...] = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu")


def get_act_layer(name: str, *, family: str) -> type[nn.Module]:
    """The activation class called ``name``; an unknown name raises naming the valid ones."""
    if not isinstance(name, str) or name not in ACT_NAMES:
        raise FamilyError(
            f"{family} activation {name!r} is not supported; valid: {valid_list(ACT_NAMES)}"
        )
    return timm_act_layer(name)


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
