"""Seed 003 (Gadepally et al.): ``skip_cnn``, a plain CNN whose later conv layers can be skipped per image.

The paper's CNN-1 and CNN-3 share one architecture: ``L`` convolutional layers (three in the paper)
with no pooling, so every layer keeps the input's height and width, then one dense layer. CNN-3
skips the layers after an image's label: "For those images with label 0, the second and third
convolutional layers were skipped ... The first convolutional layer and the dense layer only were
involved". This module builds that network; the training pipeline is ``objectives.skip``.

``forward(x)`` runs every layer. ``forward(x, route)`` takes one exit index per image
(``0 .. L-1``): image ``i`` passes through conv layers ``0 .. route[i]`` only, then the shared
head. The batch is processed layer by layer on the images still going deeper, so a skipped layer
never sees (and gets no gradient from) the images that left before it, and each layer runs once
per batch on the subset that needs it ("batched by route").

Where the paper is silent or ambiguous, and what layerlab chose:

* **Widths.** "Only the number of feature maps distinguished the three convolutional layers", but
  the numbers are not given. Default: 32 maps in the first layer and 64 in every later one (the
  widths of the Keras ``mnist_convnet`` example the paper's data statement points to, extended to
  ``L`` layers). ``widths`` takes one int (every layer) or one int per layer.
* **How a skipped path reaches the dense layer.** The paper only says the layers must share
  height and width; with different numbers of maps the dense layer still sees a different number
  of channels depending on the exit. ``exit_adapter='pad'`` (default) zero-pads an exit's maps
  to the widest layer's width, so the one dense layer is shared by every exit and no parameter
  is added: the channels a skipped layer would have filled are zeros, and the dense weights that
  read them get no gradient from that image. ``exit_adapter='project'`` uses a learned 1x1
  convolution per narrower exit instead (parameters only images routed there train).
* **The dense layer.** One ``Linear`` on the flattened maps (``head='flatten'``, Keras'
  ``Flatten`` + ``Dense``), as in the paper; ``head='avgpool'`` pools globally first, which keeps
  the head small on large inputs. An optional ``dropout`` before it (default 0, not in the paper).
* **Activation.** ReLU after every conv layer (the paper's choice); the maps used for labelling
  are these post-activation outputs (``return_activations=True``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from searchspace._errors import FamilyError
from searchspace.families._layers import check_choice, check_int, check_rate, get_act_layer
from searchspace.families._registry import register_family

CONV_LAYERS = 3  # L: the paper's three conv layers
FIRST_WIDTH, LATER_WIDTH = 32, 64  # default widths: Keras mnist_convnet's 32 then 64 maps
EXIT_ADAPTERS = ("pad", "project")
HEADS = ("flatten", "avgpool")


def resolve_widths(
    conv_layers: int, widths: int | Sequence[int] | None, *, family: str = "skip_cnn"
) -> tuple[int, ...]:
    """One width per conv layer: ``None`` -> 32 then 64s, an int -> every layer, else as given."""
    check_int(family, "conv_layers", conv_layers)
    if widths is None:
        return (FIRST_WIDTH,) + (LATER_WIDTH,) * (conv_layers - 1)
    if isinstance(widths, int) and not isinstance(widths, bool):
        return (check_int(family, "widths", widths),) * conv_layers
    if not isinstance(widths, (list, tuple)) or len(widths) != conv_layers:
        raise FamilyError(
            f"{family} widths must be one int or a list of {conv_layers} ints (one per conv layer), "
            f"got {widths!r}"
        )
    return tuple(check_int(family, "widths", w) for w in widths)


class ChannelPad(nn.Module):
    """Zero-pad a map's channels up to ``channels`` (no parameters)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, 0, self.channels - x.shape[1]))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class SkipCNN(nn.Module):
    """``L`` same-size conv layers, each followed by an activation, then one shared dense head."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        widths: tuple[int, ...],
        kernel_size: int,
        activation: str,
        exit_adapter: str,
        head: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.widths = tuple(widths)
        act = get_act_layer(activation, family="skip_cnn")
        chans = (in_channels, *self.widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], kernel_size, padding=kernel_size // 2) for i in range(len(self.widths))
        )
        self.acts = nn.ModuleList(act() for _ in self.widths)
        self.head_width = max(self.widths)
        self.adapters = nn.ModuleList(
            nn.Identity() if w == self.head_width
            else ChannelPad(self.head_width) if exit_adapter == "pad"
            else nn.Conv2d(w, self.head_width, 1)
            for w in self.widths
        )
        self.dropout = nn.Dropout(dropout)
        h, w = input_size
        if head == "flatten":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(self.head_width * h * w, num_classes))
        else:
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(self.head_width, num_classes))

    @property
    def num_exits(self) -> int:
        """Exit indices a route may hold: ``0 .. num_exits - 1`` (one per conv layer)."""
        return len(self.convs)

    def forward(
        self, x: torch.Tensor, route: torch.Tensor | None = None, *, return_activations: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits; with ``route`` (``(N,)`` ints), image ``i`` uses conv layers ``0..route[i]``.

        ``return_activations=True`` (plain forward only) also returns each conv layer's
        post-activation maps, ``[(N, widths[0], H, W), ...]``.
        """
        if route is None:
            acts = []
            h = x
            for conv, act in zip(self.convs, self.acts):
                h = act(conv(h))
                acts.append(h)
            logits = self.head(self.dropout(self.adapters[-1](h)))
            return (logits, acts) if return_activations else logits
        if return_activations:
            raise ValueError("return_activations needs route=None (skipped layers have no activations)")
        route = self._check_route(route, len(x))
        if len(x) == 0:
            return self.forward(x)
        index = torch.arange(len(x), device=x.device)
        exit_index, exit_maps = [], []
        h, going = x, route
        for depth, (conv, act, adapter) in enumerate(zip(self.convs, self.acts, self.adapters)):
            if len(h) == 0:
                break
            h = act(conv(h))
            leaves = going == depth
            if leaves.any():
                exit_index.append(index[leaves])
                exit_maps.append(adapter(h[leaves]))
                stays = ~leaves
                h, going, index = h[stays], going[stays], index[stays]
        order = torch.argsort(torch.cat(exit_index))  # back to the batch's order
        feats = torch.cat(exit_maps)[order]
        return self.head(self.dropout(feats))

    def _check_route(self, route: torch.Tensor, n: int) -> torch.Tensor:
        if not isinstance(route, torch.Tensor) or route.dtype not in (
            torch.int64, torch.int32, torch.int16, torch.uint8
        ):
            raise ValueError(f"route must be an integer tensor of shape ({n},), got {route!r}")
        if route.shape != (n,):
            raise ValueError(f"route must have shape ({n},), got {tuple(route.shape)}")
        if n and (int(route.min()) < 0 or int(route.max()) >= self.num_exits):
            raise ValueError(f"route values must be exit indices 0..{self.num_exits - 1}")
        return route.to(torch.long)


@register_family(
    "skip_cnn",
    description="CNN-1/CNN-3: L same-size conv layers and a dense head; later conv layers skippable per image",
    paper="seed 003 (Gadepally et al.), §3 Materials and Methods",
)
def skip_cnn(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    conv_layers: int = CONV_LAYERS,  # L conv layers, 'same' padding, no pooling
    widths: int | Sequence[int] | None = None,  # maps per layer; None = 32 then 64 per later layer
    kernel_size: int = 3,  # odd, so 'same' padding keeps height and width
    activation: str = "relu",  # after every conv layer (the paper's ReLU)
    exit_adapter: str = "pad",  # how a shallow exit meets the head: pad (zeros, no params) | project (1x1 conv)
    head: str = "flatten",  # flatten (Keras Flatten + Dense) | avgpool (global average pool + Dense)
    dropout: float = 0.0,  # before the dense layer; the paper has none
) -> nn.Module:
    """Seed 003's CNN-1/CNN-3: plain conv stack whose layers after an image's exit are skipped."""
    family = "skip_cnn"
    resolved = resolve_widths(conv_layers, widths, family=family)
    check_int(family, "kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise FamilyError(
            f"{family} kernel_size {kernel_size} is even; 'same' padding needs an odd size (1, 3, 5, ...)"
        )
    get_act_layer(activation, family=family)
    check_choice(family, "exit_adapter", exit_adapter, EXIT_ADAPTERS)
    check_choice(family, "head", head, HEADS)
    check_rate(family, "dropout", dropout)
    return SkipCNN(
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        widths=resolved,
        kernel_size=kernel_size,
        activation=activation,
        exit_adapter=exit_adapter,
        head=head,
        dropout=dropout,
    )
