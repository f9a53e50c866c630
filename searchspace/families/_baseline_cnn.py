"""The ``baseline_cnn`` family: Baseline-1 and Baseline-2 of seed 002's CIFAR-10 coursework.

Baseline-1 is one block of two 3x3 convs (32 filters) and a 2x2 max-pool; Baseline-2 (VGG-like) has
three such blocks with 32, 64 and 128 filters, the filter count doubling after each pool. Both end
in flatten + a single linear output layer: in the paper the dense layer is only the output layer.
The paper's one-factor-at-a-time walk varies BatchNorm placement (before or after the activation of
every conv), the activation, and dropout after each block (a fixed rate, or an increasing
0.2/0.5/0.7); those are the config values here. Convs use 'same' padding and keep their bias, as
Keras' ``Conv2D`` does even when BatchNorm follows.

The first block's 32 filters (``base_width``) are our reading: the paper's architecture figures
(its Appendix A, Figs 9-10) are not in the text we have; it says only that filter counts start
small and scale up with each block. 32-64-128 is the widely used Keras VGG-style CIFAR-10 baseline
(three blocks of two 3x3 convs, 'same' padding, e.g. Brownlee's tutorial) that Baseline-2's
description matches; ``base_width`` makes the start a config value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from searchspace._errors import FamilyError
from searchspace.families._layers import (
    check_choice,
    check_int,
    check_rate,
    first_empty_pool,
    leaky_act_layer,
    pooled_sizes,
)
from searchspace.families._registry import register_family

VARIANT_BLOCKS = {1: 1, 2: 3}  # variant -> number of conv blocks
CONVS_PER_BLOCK = 2
BN_PLACEMENTS = ("none", "before", "after")  # relative to each conv's activation


def parse_dropout(value: object, blocks: int) -> tuple[float, ...]:
    """One rate per block from a number, a list of numbers, or a string like ``'0.2,0.5,0.7'``."""
    items = value
    if isinstance(value, str):
        try:
            items = [float(v) for v in value.split(",")]
        except ValueError:
            raise FamilyError(
                f"baseline_cnn dropout {value!r} is not a rate or comma-separated rates"
            ) from None
    if isinstance(items, (list, tuple)):
        if len(items) == 1:
            items = items[0]
        elif len(items) != blocks:
            raise FamilyError(
                f"baseline_cnn dropout {value!r} has {len(items)} rates but this variant has "
                f"{blocks} block(s); give one rate or {blocks}"
            )
    rates = [items] * blocks if not isinstance(items, (list, tuple)) else list(items)
    return tuple(check_rate("baseline_cnn", "dropout", r) for r in rates)


class BaselineCNN(nn.Module):
    """``features`` (conv blocks, each ending in a max-pool and maybe dropout), flatten, linear."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        widths: Sequence[int],
        bn: str,
        act_layer: Callable[[], nn.Module],
        dropout: Sequence[float],
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for width, rate in zip(widths, dropout):
            for _ in range(CONVS_PER_BLOCK):
                layers.append(nn.Conv2d(prev, width, 3, padding=1))
                if bn == "before":
                    layers += [nn.BatchNorm2d(width), act_layer()]
                elif bn == "after":
                    layers += [act_layer(), nn.BatchNorm2d(width)]
                else:
                    layers.append(act_layer())
                prev = width
            layers.append(nn.MaxPool2d(2, 2))
            if rate > 0:
                layers.append(nn.Dropout(rate))
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        h, w = pooled_sizes(input_size, len(widths))[-1]
        self.fc = nn.Linear(prev * h * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.features(x)))


@register_family(
    "baseline_cnn",
    description="Baseline-1/2 CNNs of the CIFAR-10 coursework: 2-conv blocks, pools, linear output",
    paper="seed 002 (CIFAR-10 coursework, student 183708)",
    batch_norm=True,  # takes bn_momentum / bn_eps (searchspace.families._registry.NORM_PARAMS)
)
def baseline_cnn(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    variant: int = 2,  # 1: one block of 2 convs; 2: three blocks of 2 convs, filters doubling
    base_width: int = 32,  # filters of the first block
    bn: str = "none",  # none | before | after the activation of every conv
    activation: str = "relu",
    leaky_slope: float = 0.01,  # leaky_relu's negative slope: PyTorch's 0.01; Keras' LeakyReLU is 0.3
    # Dropout after each block's pool: one rate for all blocks, or one per block; 0 = none.
    dropout: float | str | Sequence[float] = 0.0,
) -> nn.Module:
    """Seed 002's Baseline-1 (``variant=1``) or Baseline-2 (``variant=2``)."""
    check_choice("baseline_cnn", "variant", variant, sorted(VARIANT_BLOCKS))
    check_int("baseline_cnn", "base_width", base_width)
    check_choice("baseline_cnn", "bn", bn, BN_PLACEMENTS)
    act_layer = leaky_act_layer(activation, family="baseline_cnn", leaky_slope=leaky_slope)
    blocks = VARIANT_BLOCKS[variant]
    rates = parse_dropout(dropout, blocks)
    empty_at = first_empty_pool(input_size, blocks)
    if empty_at is not None:
        minimum = 2**blocks
        raise FamilyError(
            f"baseline_cnn variant {variant} has {blocks} max-pool(s); a "
            f"{input_size[0]}x{input_size[1]} input shrinks to zero at pool {empty_at}; use inputs "
            f"of at least {minimum}x{minimum}"
        )
    return BaselineCNN(
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        widths=[base_width * 2**i for i in range(blocks)],
        bn=bn,
        act_layer=act_layer,
        dropout=rates,
    )
