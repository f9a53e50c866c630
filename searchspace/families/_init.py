"""Weight initialisation schemes, applied by name to any family.

Each name says exactly which library's formula it is, because the seed papers were written in
different libraries and their "He" or "Xavier" mean different things:

==================  ===========================================================================
default             the family's own initialisation (PyTorch's layer defaults; timm's for resnet)
he_normal           Keras ``he_normal``: truncated normal (cut at 2 std), std sqrt(2 / fan_in)
he_uniform          Keras ``he_uniform``: uniform in +-sqrt(6 / fan_in)
glorot_normal       Keras ``glorot_normal``: truncated normal, std sqrt(2 / (fan_in + fan_out))
glorot_uniform      Keras ``glorot_uniform`` (Keras' default): uniform in +-sqrt(6 / (fan_in + fan_out))
normal              Keras ``RandomNormal()``: normal with std 0.05 (seed 002's "normal")
zeros               every weight 0 (seed 002's sanity check; it does not train)
kaiming_normal      PyTorch ``kaiming_normal_()`` with its defaults: untruncated normal, std
                    sqrt(2 / fan_in), on convs and linear layers (seed 001's CIFAR ResNet)
kaiming_fan_out     torchvision's ResNet convention: ``kaiming_normal_(mode="fan_out",
                    nonlinearity="relu")``, std sqrt(2 / fan_out), on convs only; linear layers
                    keep PyTorch's default (torchvision does not re-initialise ``fc``)
xavier_normal       PyTorch ``xavier_normal_``: untruncated normal, std sqrt(2 / (fan_in + fan_out))
xavier_uniform      PyTorch ``xavier_uniform_``: the same distribution as glorot_uniform
==================  ===========================================================================

Fans are counted as both libraries do: a conv's fan_in is ``in_channels x kh x kw`` (per group),
its fan_out ``out_channels x kh x kw``; a linear layer's are its input and output features. Every
scheme but ``default`` zeroes the biases of the layers it re-initialises (Keras' ``zeros`` bias
initialiser, torchvision's ``constant_(bias, 0)``); normalisation layers keep weight 1 and bias 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

NORMAL_STD = 0.05  # Keras RandomNormal's default stddev
# Std of a standard normal truncated to [-2, 2]; Keras' VarianceScaling divides by it so the
# truncated draws have exactly the target std (keras.initializers.VarianceScaling).
TRUNCATED_STD = 0.87962566103423978


def _fans(w: torch.Tensor) -> tuple[int, int]:
    return nn.init._calculate_fan_in_and_fan_out(w)


def _truncated(w: torch.Tensor, std: float) -> None:
    raw = std / TRUNCATED_STD
    nn.init.trunc_normal_(w, 0.0, raw, -2.0 * raw, 2.0 * raw)


def _uniform(w: torch.Tensor, limit: float) -> None:
    nn.init.uniform_(w, -limit, limit)


def _he_normal(w: torch.Tensor) -> None:
    _truncated(w, math.sqrt(2.0 / _fans(w)[0]))


def _he_uniform(w: torch.Tensor) -> None:
    _uniform(w, math.sqrt(6.0 / _fans(w)[0]))


def _glorot_normal(w: torch.Tensor) -> None:
    _truncated(w, math.sqrt(2.0 / sum(_fans(w))))


def _glorot_uniform(w: torch.Tensor) -> None:
    _uniform(w, math.sqrt(6.0 / sum(_fans(w))))


@dataclass(frozen=True)
class InitScheme:
    """How one scheme re-initialises a weight tensor, and which layers it touches."""

    fn: Callable[[torch.Tensor], None] | None
    layers: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Linear)
    std: Callable[[int, int], float] | None = None  # (fan_in, fan_out) -> target std, for tests/docs


_CONVS = (nn.Conv1d, nn.Conv2d)

SCHEMES: dict[str, InitScheme] = {
    "default": InitScheme(None),
    "he_normal": InitScheme(_he_normal, std=lambda fi, fo: math.sqrt(2.0 / fi)),
    "he_uniform": InitScheme(_he_uniform, std=lambda fi, fo: math.sqrt(2.0 / fi)),
    "glorot_normal": InitScheme(_glorot_normal, std=lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
    "glorot_uniform": InitScheme(_glorot_uniform, std=lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
    "normal": InitScheme(lambda w: nn.init.normal_(w, 0.0, NORMAL_STD), std=lambda fi, fo: NORMAL_STD),
    "zeros": InitScheme(nn.init.zeros_, std=lambda fi, fo: 0.0),
    "kaiming_normal": InitScheme(nn.init.kaiming_normal_, std=lambda fi, fo: math.sqrt(2.0 / fi)),
    "kaiming_fan_out": InitScheme(
        lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
        layers=_CONVS,
        std=lambda fi, fo: math.sqrt(2.0 / fo),
    ),
    "xavier_normal": InitScheme(nn.init.xavier_normal_, std=lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
    "xavier_uniform": InitScheme(nn.init.xavier_uniform_, std=lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
}

# name -> weight initialiser (None: keep the family's own); the public, backward-compatible view.
INIT_SCHEMES: dict[str, Callable[[torch.Tensor], None] | None] = {k: s.fn for k, s in SCHEMES.items()}


@torch.no_grad()
def apply_init(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme`` (a key of :data:`INIT_SCHEMES`)."""
    spec = SCHEMES[scheme]
    if spec.fn is None:
        return model
    for module in model.modules():
        if isinstance(module, spec.layers):
            spec.fn(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
