"""The ``skip_*`` part of a run config: seed 003's labelling, router and routing choices.

These keys are neither data, training nor family keys, so :class:`SkipConfig` is registered as an
extra config part (:func:`objectives._config.register_config_part`): ``RunConfig.from_flat`` fills
it from the flat config and ``run.part('skip')`` returns it. ``L`` (the number of conv layers)
is the family's own ``conv_layers`` key of ``skip_cnn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from objectives._checks import positive_int
from objectives._config import LAYER_KEYS, RunConfig, register_config_part
from searchspace import ConfigError
from searchspace.errors import valid_list
from searchspace.interface import INIT_SCHEMES, get_family, parse_layers, resolve_widths

FAMILY = "skip_cnn"  # CNN-1 and CNN-3 must route, so they are this family
UNSELECTED = ("deepest", "drop")
TIES = ("deeper", "shallower")
TRAIN_ON = ("labelled", "all")
ROUTING = ("router", "oracle")
ROUTER_BALANCE = ("oversample", "none")
CNN3_INIT = ("shared", "fresh")
# CNN-2. The paper gives no architecture; a small conv net that is cheap next to CNN-1.
DEFAULT_ROUTER = {"family": "seq", "layers": "Conv:16-AL-PL-Conv:32-AL-PL-FCL:64-AL"}


@register_config_part("skip")
@dataclass(frozen=True)
class SkipConfig:
    """How images are labelled with a layer, how the router is built, and how CNN-3 routes."""

    skip_maps: int = 10  # F: the first F feature maps of every conv layer are scored (paper: 10)
    skip_top: int = 10  # T: per map, the T training images of highest mean |activation| (paper: 10)
    skip_tie: str = "deeper"  # an image strong in several layers gets: deeper (paper) | shallower layer
    skip_unselected: str = "deepest"  # images no map selects: deepest (label L-1) | drop (left out)
    skip_train_on: str = "labelled"  # CNN-3 trains on: labelled images | all (unlabelled routed by CNN-2)
    skip_routing: str = "router"  # exits at evaluation: router (CNN-2 predicts) | oracle (labelling rule)
    # CNN-2's training images: oversample (repeat each layer's images until every layer has as many
    # as the largest; the paper's ~F x T images per layer are balanced) | none (as labelled)
    skip_router_balance: str = "oversample"
    skip_cnn3_init: str = "shared"  # CNN-3's initial weights: shared (CNN-1's, a paired design) | fresh (new seed)
    router: Any = field(default_factory=lambda: dict(DEFAULT_ROUTER))  # CNN-2: family name or {family, init, its keys}

    def validate(self, run: RunConfig) -> None:
        for name in ("skip_maps", "skip_top"):
            value = getattr(self, name)
            if not positive_int(value):
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        for name, valid in (
            ("skip_tie", TIES),
            ("skip_unselected", UNSELECTED),
            ("skip_train_on", TRAIN_ON),
            ("skip_routing", ROUTING),
            ("skip_router_balance", ROUTER_BALANCE),
            ("skip_cnn3_init", CNN3_INIT),
        ):
            value = getattr(self, name)
            if value not in valid:
                raise ConfigError(f"unknown {name} {value!r}; valid: {valid_list(valid)}")
        if run.family != FAMILY:
            raise ConfigError(
                f"the skip_* keys (objective skip_layers) need family {FAMILY!r} for CNN-1/CNN-3, got {run.family!r}"
            )
        widths = resolve_widths(run.model["conv_layers"], run.model["widths"])
        if self.skip_maps > min(widths):
            raise ConfigError(
                f"skip_maps {self.skip_maps} exceeds the narrowest conv layer "
                f"({min(widths)} maps, widths {list(widths)})"
            )
        router_run(run, self.router)


def router_run(run: RunConfig, router: Any) -> RunConfig:
    """CNN-2's run config: ``router``'s family and keys, ``run``'s data and training settings."""
    if isinstance(router, str):
        router = {"family": router}
    if not isinstance(router, Mapping) or not isinstance(router.get("family"), str):
        raise ConfigError(
            f"router must be a family name or a mapping with a 'family' key and that family's keys, got {router!r}"
        )
    family = router["family"]
    own = get_family(family).params()
    kwargs = {k: v for k, v in router.items() if k not in ("family", "init")}
    unknown = sorted(set(kwargs) - set(own))
    if unknown:
        raise ConfigError(
            f"router family {family!r} has no key(s) {valid_list(unknown)}; valid: {valid_list(sorted([*own, 'init']))}"
        )
    init = router.get("init", "default")
    if init not in INIT_SCHEMES:
        raise ConfigError(f"router init {init!r} is unknown; valid: {valid_list(INIT_SCHEMES)}")
    model = {k: parse_layers(v) if k in LAYER_KEYS else v for k, v in {**own, **kwargs}.items()}
    return RunConfig(family=family, model=model, init=init, data=run.data, train=run.train)
