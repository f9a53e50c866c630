"""The ``vgg`` family: VGG-7/9/11/16/19 with slim widths, as in seed 004 (Ma).

Depths 11, 16 and 19 are torchvision's configurations "A", "D" and "E" (convs per stage 1,1,2,2,2 /
2,2,3,3,3 / 2,2,4,4,4). Seed 004 also trains a VGG-7 and a VGG-9 on 28x28 MNIST without spelling
them out. We define them as the first stages of "A": VGG-9 = four stages (1,1,2,2 convs, 4 pools)
and VGG-7 = three stages (1,1,2 convs, 3 pools). As in every VGG name, the number counts weight
layers: convs + 3 linear layers.

Stage widths are ``width_base * (1, 2, 4, 8, 8)``: 64 gives the standard 64..512, 16 gives the slim
16..128 seed 004 used. The classifier starts with a global average pool, so any input that survives
the pools works; on 32x32 inputs, the case seed 004 trains, the last map is 1x1 and this equals
its flatten + ``Linear(512, 4096)`` exactly. (torchvision's 7x7 adaptive pool would instead make
the first linear layer 49x larger at every input size.) Pools are 2x2, stride 2, floor.

The classifier's hidden width (``fc_width``) defaults to 8 x the last conv width: 4096 for the
standard 64..512 widths (seed 004's Fig 5 and torchvision), 1024 for the slim 16..128 model. Seed
004 gives no classifier width for its slim model; scaling it with the convs (1/4) is our reading,
and ``fc_width=4096`` is the other one.
"""

from __future__ import annotations

import torch
from torch import nn

from searchspace._errors import FamilyError
from searchspace.families._layers import (
    check_choice,
    check_int,
    check_rate,
    first_empty_pool,
    get_act_layer,
    pooled_sizes,
)
from searchspace.families._registry import register_family

# depth -> convs per stage; each stage ends in a max-pool.
VGG_STAGES: dict[int, tuple[int, ...]] = {
    7: (1, 1, 2),  # first three stages of "A" (our reading of seed 004's VGG-7)
    9: (1, 1, 2, 2),  # first four stages of "A" (our reading of seed 004's VGG-9)
    11: (1, 1, 2, 2, 2),  # "A"
    16: (2, 2, 3, 3, 3),  # "D"
    19: (2, 2, 4, 4, 4),  # "E"
}
STAGE_MULTIPLIERS = (1, 2, 4, 8, 8)
FIRST_KERNELS = (3, 5)


class VGG(nn.Module):
    """``features`` (conv stages with pools), global average pool, three-layer classifier."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        stages: tuple[int, ...],
        widths: tuple[int, ...],
        first_kernel: int,
        bn: bool,
        fc_width: int,
        dropout: float,
        act_layer: type[nn.Module],
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for convs, width in zip(stages, widths):
            for _ in range(convs):
                k = first_kernel if not layers else 3
                layers.append(nn.Conv2d(prev, width, k, padding=k // 2))
                if bn:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(act_layer())
                prev = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(prev, fc_width),
            act_layer(),
            nn.Dropout(dropout),
            nn.Linear(fc_width, fc_width),
            act_layer(),
            nn.Dropout(dropout),
            nn.Linear(fc_width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


@register_family(
    "vgg",
    description="VGG-7/9/11/16/19 with a width multiplier, global-average-pool classifier",
    paper="seed 004 (Ma, VGG depths, slim widths, first kernel 3 vs 5)",
    batch_norm=True,  # takes bn_momentum / bn_eps (searchspace.families._registry.NORM_PARAMS)
)
def vgg(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    depth: int = 16,  # weight layers: 7, 9, 11, 16 or 19
    width_base: int = 64,  # stage widths = width_base * (1, 2, 4, 8, 8); 16 is seed 004's slim VGG
    first_kernel: int = 3,  # kernel of the very first conv: 3 or 5 (padding k // 2)
    bn: bool = False,  # BatchNorm after every conv (before the activation)
    fc_width: int | None = None,  # hidden units of the classifier; None = 8 x last conv width
    dropout: float = 0.5,  # dropout after each hidden classifier layer
    activation: str = "relu",
) -> nn.Module:
    """VGG whose pools must leave at least a 1x1 map; smaller inputs raise naming fitting depths."""
    check_choice("vgg", "depth", depth, sorted(VGG_STAGES))
    check_int("vgg", "width_base", width_base)
    check_choice("vgg", "first_kernel", first_kernel, FIRST_KERNELS)
    check_choice("vgg", "bn", bn, (False, True))
    if fc_width is not None:
        check_int("vgg", "fc_width", fc_width)
    check_rate("vgg", "dropout", dropout)
    act_layer = get_act_layer(activation, family="vgg")
    stages = VGG_STAGES[depth]
    _check_input_size(depth, len(stages), input_size)
    widths = tuple(width_base * m for m in STAGE_MULTIPLIERS[: len(stages)])
    return VGG(
        in_channels=in_channels,
        num_classes=num_classes,
        stages=stages,
        widths=widths,
        first_kernel=first_kernel,
        bn=bn,
        fc_width=fc_width if fc_width is not None else 8 * widths[-1],
        dropout=dropout,
        act_layer=act_layer,
    )


def _check_input_size(depth: int, pools: int, size: tuple[int, int]) -> None:
    empty_at = first_empty_pool(size, pools)
    if empty_at is None:
        return
    h, w = pooled_sizes(size, empty_at)[-1]
    minimum = 2**pools
    fitting = [d for d, s in VGG_STAGES.items() if first_empty_pool(size, len(s)) is None]
    hint = f" or depth {'/'.join(map(str, fitting))}" if fitting else ""
    raise FamilyError(
        f"vgg depth {depth} has {pools} max-pools; a {size[0]}x{size[1]} input shrinks to {h}x{w} "
        f"at pool {empty_at}; use inputs of at least {minimum}x{minimum}{hint}"
    )
