"""The one path from an Optuna trial to its config.

``trial -> sample(space) -> RunConfig``: ``searchspace.interface.sample`` is the only function
that calls ``trial.suggest_*`` and decodes the parameters into a flat config;
:meth:`RunConfig.from_flat` checks that config and types it. Every caller goes through
:func:`trial_config`: the objectives (to train the config), a worker filling a sampled study's slot
(to give it parameters its repeats can copy), and the benchmarks' stand-in objectives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import optuna

from objectives._config import RunConfig
from searchspace import Space
from searchspace.interface import sample


def trial_config(
    space: Space,
    trial: optuna.trial.BaseTrial,
    *,
    parts: Sequence[str] = (),
    on_params: Callable[[], object] | None = None,
) -> RunConfig:
    """The config ``trial`` stands for in ``space``: its parameters are suggested (or read back,
    for an enqueued or fixed trial) and decoded, then checked as a :class:`RunConfig` with the
    extra config ``parts`` its objective reads.

    ``on_params`` runs once every parameter is set, before the config is checked: a worker queues
    a sampled slot's repeats there, so a config that fails its check fails in each repeat, as the
    repeats of any failing config do, and no cell goes missing.
    """
    flat = sample(space, trial)
    if on_params is not None:
        on_params()
    return RunConfig.from_flat(flat, parts=parts)
