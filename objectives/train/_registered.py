"""The registry side of a training config: canonical augmentation spelling and name checks.

:class:`~objectives.train.TrainConfig` is plain data and imports no registry. The two steps that
need the optimizer, schedule and augmentation registries live here, one level up, so that the
registries can import the config (for their builders' types) without an import cycle:

- :func:`canonical_augment` spells ``augment`` in registration order, so ``"rotate+flip"`` and
  ``"flip+rotate"`` give one config and one ``config_id``;
- :func:`check_registered` refuses an optimizer, schedule or augmentation name that no registry
  holds, naming the valid ones.

:meth:`objectives.RunConfig.from_flat` applies both; :func:`objectives.train.fit` and
``fit_batched`` check again, for a config built by hand.
"""

from __future__ import annotations

from typing import Any

from objectives.train._augment import list_augmentations
from objectives.train._config import TrainConfig, augment_names
from objectives.train._optim import list_optimizers, list_schedules
from searchspace.errors import ConfigError, valid_list


def canonical_augment(augment: Any) -> Any:
    """``augment`` with its names in registration order (``"none"`` when it names none). A value
    that cannot be canonicalised (not a string, an unknown or repeated name) is returned as it is,
    for :func:`check_registered` and ``TrainConfig.validate`` to report."""
    if not isinstance(augment, str):
        return augment
    names, known = augment_names(augment), list_augmentations()
    if not names:
        return "none"
    if all(n in known for n in names) and len(set(names)) == len(names):
        return "+".join(n for n in known if n in names)
    return augment


def check_registered(cfg: TrainConfig) -> None:
    """Raise ConfigError (one line: the bad name and the valid ones) when ``cfg`` names an
    optimizer, schedule or augmentation that is not registered."""
    for kind, value, valid in (
        ("optimizer", cfg.optimizer, list_optimizers()), ("schedule", cfg.schedule, list_schedules())
    ):
        if value not in valid:
            raise ConfigError(f"unknown {kind} {value!r}; valid: {valid_list(sorted(valid))}")
    if not isinstance(cfg.augment, str):
        return  # TrainConfig.validate names the wrong type
    known = list_augmentations()
    for name in augment_names(cfg.augment):
        if name not in known:
            raise ConfigError(
                f"unknown augmentation {name!r} in augment={cfg.augment!r}; valid: none or "
                f"'+'-joined names from {valid_list(known)}"
            )
