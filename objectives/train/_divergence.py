"""An optional divergence threshold on finite training losses (config key ``diverge_loss``).

A NaN or infinite loss always fails a trial (``objectives.train.Diverged``). A loss that explodes
but stays finite (Adam at lr 1e6 ends near chance with a loss of 3.5e21) would otherwise finish
COMPLETE with a poor accuracy. Setting ``diverge_loss`` (e.g. ``--set diverge_loss=1e6``, or in a
preset's defaults) fails the trial as soon as an epoch's mean training loss exceeds it, with a
``fail_reason`` saying so.

It is an extra config part (:func:`objectives._config.register_config_part`), so it enters a config,
and its ``config_id``, only when it is set: every config without it keeps the id it always had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from objectives._config import register_config_part
from objectives.train._trainer import Diverged
from searchspace.errors import ConfigError


class DivergedAbove(Diverged):
    """The training loss stayed finite but exceeded the configured threshold."""

    def __init__(self, epoch: int, value: float, limit: float) -> None:
        RuntimeError.__init__(self, f"training loss {value:.3g} above the divergence threshold diverge_loss={limit:g} "
                                    f"at epoch {epoch}")
        self.epoch = epoch


@register_config_part("divergence")
@dataclass(frozen=True)
class DivergenceConfig:
    diverge_loss: float = 0.0  # an epoch's mean training loss above this fails the trial; 0 = off

    def validate(self, run) -> None:
        value = self.diverge_loss
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"diverge_loss must be a finite number >= 0 (0: off), got {value!r}")


def divergence_limit(run) -> float:
    """The run's threshold (0 when unset)."""
    part = run.parts.get("divergence")
    return float(part.diverge_loss) if part is not None else 0.0


def check_divergence(limit: float, epoch: int, train_loss: float) -> None:
    if limit > 0 and train_loss > limit:
        raise DivergedAbove(epoch, train_loss, limit)
