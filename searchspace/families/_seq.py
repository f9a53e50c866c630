"""Token-sequence families from seed 000 (Liu et al.): ``seq`` (BaseSeq) and ``fcl`` (Base0).

Both are built by :func:`build_sequence`, which walks layer tokens (``Conv``, ``BN``, ``PL``,
``DropL``, ``FCL``, ``AL``, ``UpSamp``) while tracking the tensor's shape, so that every ordering
the paper's Leave-One-Layer-Out, Select-and-Reorder and Plug-and-Play operations produce builds
into a working network. The rules, chosen so that no ordering is rejected:

* ``Conv`` is a ``k x k`` convolution (odd ``k``) with ``padding`` 'same' (the default: it never
  shrinks the map, so every ordering builds) or 'valid' (Keras' ``Conv2D`` default: no padding, the
  map loses ``k - 1`` pixels per side pair; seed 000's BaseSeq on 32x32 then feeds 15x15x32 = 7,200
  features to its FCL instead of 16x16x32 = 8,192). A 'valid' Conv on a map smaller than its kernel
  (e.g. after an ``FCL``) is an error.
* ``BN`` normalises whatever it gets: ``BatchNorm2d`` on a map, ``BatchNorm1d`` on a flat vector.
  ``BN`` before ``Conv`` therefore normalises the input channels.
* ``PL`` is a 2x2, stride-2 pooling (floor). After an ``FCL`` there is nothing spatial left to
  pool (a flat vector, or the 1x1 map an ``Unflatten`` makes of it), so there it is an
  ``nn.Identity``. On the image's own map, a ``PL`` that meets a side of 1 pixel is an error (too
  many poolings for the input size), as it is for ``vgg``.
* ``FCL`` flattens a map, then applies ``Linear(features, units)``.
* ``Conv`` and ``UpSamp`` after an ``FCL`` see the flat ``(N, F)`` vector as an ``(N, F, 1, 1)`` map
  (an ``nn.Unflatten`` is inserted).
* The classifier head ``Flatten + Linear(features, num_classes)`` is always appended after the
  tokens (the Flatten only if the tensor is still a map). The head is implicit, so orderings that
  end in ``AL`` or have no ``FCL`` at all still give logits: seed 000's BaseSeq
  ``Conv-BN-PL-DropL-FCL-AL`` is ``...-FCL-AL`` followed by the output layer, which we read as the
  Keras model's final ``Dense(num_classes)`` that the paper does not count among reordered layers.

Each module is a named child of an ``nn.Sequential`` (``0_Conv``, ``1_BN``, ..., ``head``), so
printing or describing a model shows its layers in token order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from searchspace._errors import FamilyError, SpaceError
from searchspace._tokens import POOL_KINDS, parse_layers, parse_token
from searchspace.families._layers import (
    check_choice,
    check_int,
    check_rate,
    get_act_layer,
)
from searchspace.families._registry import register_family

BASE_SEQ = "Conv-BN-PL-DropL-FCL-AL"  # seed 000's BaseSeq
UPSAMPLE_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic")

# Defaults shared by ``seq`` and ``fcl`` (their builder signatures repeat them, since the registry
# reads config keys and defaults from the signature).
CHANNELS = 32  # Conv output channels unless a token says Conv:<n>
KERNEL_SIZE = 3  # odd, 'same' padding
POOL = "max"  # PL kind unless a token says PL:avg
ACTIVATION = "relu"  # AL kind unless a token says AL:<name>
DROPOUT = 0.25  # DropL probability unless a token says DropL:<p>
FC_UNITS = 128  # hidden units of an FCL token unless it says FCL:<n>
UPSAMPLE_MODE = "nearest"  # nn.Upsample mode of UpSamp
PADDING = "same"  # Conv padding: same (no shrinking) | valid (Keras' Conv2D default)
PADDINGS = ("same", "valid")


@dataclass(frozen=True)
class SeqDefaults:
    """What a bare token means; a token argument (``Conv:64``) overrides its field."""

    channels: int = CHANNELS
    kernel_size: int = KERNEL_SIZE
    pool: str = POOL
    activation: str = ACTIVATION
    dropout: float = DROPOUT
    fc_units: int = FC_UNITS
    upsample_mode: str = UPSAMPLE_MODE
    padding: str = PADDING

    def check(self, family: str) -> None:
        check_int(family, "channels", self.channels)
        check_int(family, "kernel_size", self.kernel_size)
        if self.kernel_size % 2 == 0:
            raise FamilyError(
                f"{family} kernel_size {self.kernel_size} is even; padding needs an odd "
                f"size (1, 3, 5, ...)"
            )
        check_choice(family, "pool", self.pool, POOL_KINDS)
        get_act_layer(self.activation, family=family)
        check_rate(family, "dropout", self.dropout)
        check_int(family, "fc_units", self.fc_units)
        check_choice(family, "upsample_mode", self.upsample_mode, UPSAMPLE_MODES)
        check_choice(family, "padding", self.padding, PADDINGS)


def build_sequence(
    tokens: Sequence[str],
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    defaults: SeqDefaults,
) -> nn.Sequential:
    """Turn decoded layer tokens into ``nn.Sequential``, always ending in the classifier head."""
    layers: list[tuple[str, nn.Module]] = []
    # The current shape: a map (channels, (H, W)) or, with spatial None, a flat vector (features,).
    features, spatial = in_channels, input_size
    from_vector = False  # True once an FCL has flattened the image: its maps are not spatial

    def to_map(index: int) -> None:
        nonlocal spatial, from_vector
        if spatial is None:
            layers.append((f"{index}_Unflatten", nn.Unflatten(1, (features, 1, 1))))
            spatial, from_vector = (1, 1), True

    def to_flat(index: int | str) -> None:
        nonlocal features, spatial
        if spatial is not None:
            layers.append((f"{index}_Flatten", nn.Flatten()))
            features, spatial = features * spatial[0] * spatial[1], None

    for i, token in enumerate(tokens):
        name, arg = parse_token(token)
        label = f"{i}_{name}"
        if name == "Conv":
            to_map(i)
            width = int(arg) if arg else defaults.channels
            k = defaults.kernel_size
            if defaults.padding == "valid" and min(spatial) < k:
                raise FamilyError(
                    f"seq: Conv at position {i} of {'-'.join(tokens)} meets a {spatial[0]}x{spatial[1]} map, smaller "
                    f"than its {k}x{k} kernel without padding (padding valid); use padding same, a smaller kernel_size "
                    "or a larger input"
                )
            pad = k // 2 if defaults.padding == "same" else 0
            layers.append((label, nn.Conv2d(features, width, k, padding=pad)))
            features = width
            spatial = (spatial[0] + 2 * pad - k + 1, spatial[1] + 2 * pad - k + 1)
        elif name == "BN":
            norm = nn.BatchNorm1d if spatial is None else nn.BatchNorm2d
            layers.append((label, norm(features)))
        elif name == "PL":
            if spatial is not None and min(spatial) == 1 and not from_vector:
                raise FamilyError(
                    f"seq: PL at position {i} of {'-'.join(tokens)} meets a {spatial[0]}x{spatial[1]} map: too many "
                    f"poolings for a {input_size[0]}x{input_size[1]} input; drop a PL, add an UpSamp, or use a "
                    "larger input (pad_to, resize or upsample)"
                )
            if spatial is None or min(spatial) == 1:
                layers.append((label, nn.Identity()))  # after an FCL: nothing spatial to pool
            else:
                pool = nn.MaxPool2d if (arg or defaults.pool) == "max" else nn.AvgPool2d
                layers.append((label, pool(2, 2)))
                spatial = (spatial[0] // 2, spatial[1] // 2)
        elif name == "DropL":
            layers.append((label, nn.Dropout(float(arg) if arg else defaults.dropout)))
        elif name == "FCL":
            to_flat(i)
            units = int(arg) if arg else defaults.fc_units
            layers.append((label, nn.Linear(features, units)))
            features = units
        elif name == "AL":
            act = get_act_layer(arg or defaults.activation, family="layer token")
            layers.append((label, act()))
        elif name == "UpSamp":
            to_map(i)
            scale = int(arg) if arg else 2
            layers.append((label, nn.Upsample(scale_factor=scale, mode=defaults.upsample_mode)))
            spatial = (spatial[0] * scale, spatial[1] * scale)
        else:  # pragma: no cover - parse_token only returns known names
            raise AssertionError(f"token {name!r} has no builder")
    to_flat("head")
    layers.append(("head", nn.Linear(features, num_classes)))
    return nn.Sequential(OrderedDict(layers))


def _decode(family: str, key: str, spec: object) -> list[str]:
    if not isinstance(spec, (str, list, tuple)):
        raise FamilyError(
            f"{family} {key} must be a layer string or a list of tokens, got {spec!r}"
        )
    try:
        return parse_layers(spec)
    except SpaceError as err:
        raise FamilyError(f"{family} {key}: {err}") from None


@register_family(
    "seq",
    description="BaseSeq: a token sequence such as Conv-BN-PL-DropL-FCL-AL, then a linear head",
    paper="seed 000 (Liu et al., BaseSeq; LOLO and SaRe)",
    batch_norm=True,  # takes bn_momentum / bn_eps (searchspace.families._registry.NORM_PARAMS)
)
def seq(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    layers: str | Sequence[str] = BASE_SEQ,  # layer string or token list; a head is always appended
    channels: int = CHANNELS,
    kernel_size: int = KERNEL_SIZE,
    pool: str = POOL,
    activation: str = ACTIVATION,
    dropout: float = DROPOUT,
    fc_units: int = FC_UNITS,
    upsample_mode: str = UPSAMPLE_MODE,
    padding: str = PADDING,  # Conv padding: same | valid (Keras' default; see the module doc)
) -> nn.Module:
    """Layers given as tokens, walked with shape tracking so that every ordering builds."""
    defaults = SeqDefaults(
        channels, kernel_size, pool, activation, dropout, fc_units, upsample_mode, padding
    )
    defaults.check("seq")
    tokens = _decode("seq", "layers", layers)
    return build_sequence(
        tokens,
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        defaults=defaults,
    )


@register_family(
    "fcl",
    description="Base0: flatten + one linear layer, with optional plugged layers before it",
    paper="seed 000 (Liu et al., Base0; Plug-and-Play and BN/DropL order)",
    batch_norm=True,  # takes bn_momentum / bn_eps (searchspace.families._registry.NORM_PARAMS)
)
def fcl(
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    plug: str | Sequence[str] = "none",  # layers placed before the linear layer; "none" = Base0
    channels: int = CHANNELS,
    kernel_size: int = KERNEL_SIZE,
    pool: str = POOL,
    activation: str = ACTIVATION,
    dropout: float = DROPOUT,
    padding: str = PADDING,  # Conv padding of a plugged Conv: same | valid (Keras' default)
) -> nn.Module:
    """Base0 is the sequence family's implicit head alone; ``plug`` adds layers in front of it."""
    defaults = SeqDefaults(channels, kernel_size, pool, activation, dropout, padding=padding)
    defaults.check("fcl")
    tokens = _decode("fcl", "plug", plug)
    return build_sequence(
        tokens,
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        defaults=defaults,
    )
