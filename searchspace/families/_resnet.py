"""Residual families: ``resnet`` (ImageNet-style ResNet-18/34 from timm) and ``cifar_resnet``.

``resnet`` is timm's ``ResNet`` with ``BasicBlock``; seeds 000 and 004 vary its stage widths
(filter placement: 64-128-256-512 vs 512-256-128-64, 64x4, 512x4), its stem and add
Squeeze-and-Excitation. Stems:

- ``imagenet``: He et al.'s 7x7 stride-2 conv + 3x3 stride-2 max-pool (torchvision's resnet18);
- ``conv3x3``: a 3x3 stride-1 conv, the max-pool kept. Seed 004 §4.3 item 6 changes conv1 only
  ("kernel_size=7, stride=2, padding=3" to "kernel_size=3, stride=1, padding=1");
- ``cifar``: a 3x3 stride-1 conv and no max-pool, the usual CIFAR adaptation (e.g. kuangliu's
  pytorch-cifar); not what seed 004 describes, offered as a documented extra.

``init="default"`` keeps timm's own initialisation: Kaiming-normal (fan_out) convs, which is
torchvision's ResNet convention, and PyTorch's default for ``fc``. timm also zero-initialises the
last BN weight of every residual block; torchvision (``zero_init_residual=False``) and Keras do
not, and neither do seeds 000 (Keras) and 004 (torchvision), so ``zero_init_last`` defaults to
False and True gives timm's (Goyal et al.'s) behaviour.

``cifar_resnet`` is He et al. (2016) §4.2, the 6n+2-layer network seed 001 trains on CIFAR-10 and
Fashion-MNIST. It is written here because timm has no 3-stage, 16-32-64 ResNet with the
parameter-free option-A shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from searchspace._errors import FamilyError, valid_list
from searchspace.families._layers import check_choice, check_int, check_rate
from searchspace.families._registry import register_family

RESNET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}  # BasicBlocks per stage
STEMS = ("imagenet", "conv3x3", "cifar")
TIMM_STEM_WIDTH = 64  # timm's single-conv stem always has 64 channels
SHORTCUTS = ("A", "B")


def parse_widths(family: str, widths: object, count: int) -> tuple[int, ...]:
    """Stage widths from a sequence or a string such as ``'512-256-128-64'`` / ``'16,32,64'``."""
    items = widths.replace(",", "-").split("-") if isinstance(widths, str) else widths
    parsed: tuple[int, ...] = ()
    if isinstance(items, (list, tuple)) and not any(isinstance(w, (bool, float)) for w in items):
        try:
            parsed = tuple(int(w) for w in items)
        except (TypeError, ValueError):
            parsed = ()
    if len(parsed) != count or min(parsed) < 1:
        example = "-".join(str(16 * 2**i) for i in range(count))
        raise FamilyError(
            f"{family} widths {widths!r} are not {count} positive ints (e.g. {example!r})"
        )
    return parsed


@register_family(
    "resnet",
    description="timm ResNet-18/34 with configurable stage widths, stem and SE blocks",
    paper="seed 000 (Liu et al., BaseRes18 filter placement); seed 004 (Ma, stem and SE)",
    batch_norm=True,  # takes bn_momentum / bn_eps (searchspace.families._registry.NORM_PARAMS)
)
def resnet(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    depth: int = 18,  # 18 or 34
    widths: str | Sequence[int] = (64, 128, 256, 512),  # channels of the 4 stages
    stem: str = "imagenet",  # imagenet: 7x7/2 conv + max-pool; conv3x3: 3x3/1 + max-pool; cifar: 3x3/1, no pool
    stem_width: int = 64,  # output channels of the stem conv
    se: bool = False,  # Squeeze-and-Excitation in every block (timm's 'se' attention)
    drop_rate: float = 0.0,  # dropout before the classifier
    zero_init_last: bool = False,  # zero the last BN weight of each block (timm's default; not torchvision's)
) -> nn.Module:
    """ResNet-18/34 built by timm; only the stem is swapped when asked for."""
    check_choice("resnet", "depth", depth, sorted(RESNET_LAYERS))
    stage_widths = parse_widths("resnet", widths, 4)
    check_choice("resnet", "stem", stem, STEMS)
    check_int("resnet", "stem_width", stem_width)
    check_choice("resnet", "se", se, (False, True))
    check_rate("resnet", "drop_rate", drop_rate)
    check_choice("resnet", "zero_init_last", zero_init_last, (False, True))
    # Imported here: timm (and the torchvision models it pulls in) costs ~2 s at start-up, which
    # every other command would pay for nothing.
    from timm.models.resnet import BasicBlock, ResNet, downsample_conv

    block_args = dict(attn_layer="se") if se else {}
    model = ResNet(
        block=BasicBlock,
        layers=RESNET_LAYERS[depth],
        channels=stage_widths,
        in_chans=in_channels,
        num_classes=num_classes,
        drop_rate=drop_rate,
        block_args=block_args,
        zero_init_last=zero_init_last,
    )
    if stem == "imagenet" and stem_width == TIMM_STEM_WIDTH:
        return model
    kernel, stride = (7, 2) if stem == "imagenet" else (3, 1)
    model.conv1 = nn.Conv2d(
        in_channels, stem_width, kernel, stride=stride, padding=kernel // 2, bias=False
    )
    if stem == "cifar":
        model.maxpool = nn.Identity()
    if stem_width != TIMM_STEM_WIDTH:
        # timm ties the single-conv stem to 64 channels, so a different width also needs a new
        # stem BN and a first block that reads stem_width channels (timm's block and projection).
        model.bn1 = nn.BatchNorm2d(stem_width)
        projection = None
        if stem_width != stage_widths[0]:
            projection = downsample_conv(stem_width, stage_widths[0], kernel_size=1)
        model.layer1[0] = BasicBlock(
            stem_width, stage_widths[0], downsample=projection, **block_args
        )
    model.init_weights(zero_init_last=zero_init_last)  # timm's init for the replaced modules too
    return model


class _ShortcutA(nn.Module):
    """He et al.'s option A: identity, subsampled by ``stride``, with zero channels appended."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, zero_channels={self.extra}"


class CifarBasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = nn.ReLU()
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = _ShortcutA(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Stem conv3x3 + BN + ReLU, three stages of ``blocks`` blocks, global average pool, linear."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        blocks: int,
        widths: tuple[int, int, int],
        shortcut: str,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.act1 = nn.ReLU()
        stages = []
        prev = widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            stage = [CifarBasicBlock(prev, width, stride, shortcut)]
            stage += [CifarBasicBlock(width, width, 1, shortcut) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            prev = width
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


@register_family(
    "cifar_resnet",
    description="He et al. CIFAR ResNet: 6n+2 layers, widths 16-32-64, shortcut option A or B",
    paper="seed 001 (Saevarsson et al.; He et al. 2016 section 4.2)",
    batch_norm=True,  # takes bn_momentum / bn_eps (searchspace.families._registry.NORM_PARAMS)
)
def cifar_resnet(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    depth: int = 20,  # 6n+2 layers: 20, 32, 44, 56, 110, ...
    widths: str | Sequence[int] = (16, 32, 64),  # channels of the 3 stages; the stem has the first
    shortcut: str = "A",  # A: zero-padded identity (no parameters); B: 1x1 conv + BN projection
) -> nn.Module:
    """He et al.'s 6n+2-layer CIFAR ResNet; PyTorch's init unless the registry applies ``init``."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        examples = valid_list([6 * n + 2 for n in (1, 2, 3, 5, 7, 9, 18)])
        raise FamilyError(
            f"cifar_resnet depth {depth!r} is not supported; "
            f"valid: 6n+2 with n >= 1, e.g. {examples}"
        )
    stage_widths = parse_widths("cifar_resnet", widths, 3)
    check_choice("cifar_resnet", "shortcut", shortcut, SHORTCUTS)
    if shortcut == "A" and any(b < a for a, b in zip(stage_widths, stage_widths[1:])):
        raise FamilyError(
            f"cifar_resnet shortcut 'A' zero-pads channels, so widths cannot shrink, got "
            f"{'-'.join(map(str, stage_widths))}; use shortcut 'B' or non-decreasing widths"
        )
    return CifarResNet(
        in_channels=in_channels,
        num_classes=num_classes,
        blocks=(depth - 2) // 6,
        widths=stage_widths,  # type: ignore[arg-type]
        shortcut=shortcut,
    )
