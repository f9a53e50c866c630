"""A permutation null for parameter importance, for any evaluator.

To ask whether parameter ``p`` matters beyond noise, its values are shuffled across configs (a
config's repeats keep their shared value, so the seed structure is untouched), the importance is
recomputed, and ``p``'s observed statistic is ranked among the shuffled ones: the Monte Carlo
permutation p-value ``(1 + #{null >= observed}) / (1 + n)`` (Phipson & Smyth 2010, never 0).
This is the "null importance" / PIMP scheme of Altmann et al. (2010). It asks the evaluator
itself what it returns on noise, so a built-in preference (MDI's for wide categoricals,
fANOVA's for floats) is part of the null and no longer reads as importance.

Parameters that plainly do not matter stop early: once ``early_stop`` shuffles beat the observed
value, the p-value is ``early_stop / shuffles so far`` (Besag & Clifford 1991, sequential Monte
Carlo p-values), so most of the cost goes to the parameters that do matter.

"Above noise" is Holm's step-down correction (layerlab's ``holm``: statsmodels' ``multipletests``
runs a full ``gc.collect()`` on every call, half a second in a big process) over an evaluator's
parameters at ``alpha``: the chance that any parameter of a study where nothing matters is flagged
stays at or below ``alpha``. Holm can only flag a parameter whose p-value can reach ``alpha / k``,
so the default number of shuffles grows with the number ``k`` of parameters
(:func:`default_permutations`).

Shuffling one parameter is exact when the parameters vary independently of each other, as in a
full grid or random sampling; under an adaptive sampler (TPE) they are correlated, and the
test is approximate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from studies.analysis._stats import holm

MIN_PERMUTATIONS = 39
EARLY_STOP = 10


def default_permutations(n_params: int, alpha: float) -> int:
    """Enough shuffles that the smallest attainable p-value, ``1 / (n + 1)``, clears Holm's first
    threshold ``alpha / n_params`` with room to spare (at least ``MIN_PERMUTATIONS``)."""
    return max(MIN_PERMUTATIONS, math.ceil(n_params / alpha) + 19)


def permutation_null(
    statistic: Callable[[str, np.ndarray | None], float],
    params: Sequence[str],
    n_configs: int,
    *,
    n_permutations: int,
    alpha: float,
    rng: np.random.Generator,
    tick: Callable[[], None] = lambda: None,
) -> dict[str, dict[str, Any]]:
    """``{param: {"p_value", "p_holm", "above_noise", "permutations"}}``.

    ``statistic(param, permutation)`` is the parameter's importance with its values moved
    between configs by ``permutation`` (None: as observed); larger means more important."""
    out: dict[str, dict[str, Any]] = {}
    for p in params:
        observed = statistic(p, None)
        # ties count against the parameter (a shuffle that reproduces the design is not evidence)
        threshold = observed - 1e-9 * max(abs(observed), 1e-12)
        beaten, done = 0, 0
        for _ in range(n_permutations):
            done += 1
            if statistic(p, rng.permutation(n_configs)) >= threshold:
                beaten += 1
            tick()
            if beaten >= EARLY_STOP:
                break
        p_value = beaten / done if beaten >= EARLY_STOP else (beaten + 1) / (done + 1)
        out[p] = {"p_value": float(min(1.0, p_value)), "permutations": done}
    if out:
        names = list(out)
        adjusted = holm([out[n]["p_value"] for n in names])
        for n, a in zip(names, adjusted):
            out[n]["p_holm"] = float(a)
            # a small tolerance: k/(n+1) may sit on alpha up to rounding
            out[n]["above_noise"] = bool(a <= alpha * (1 + 1e-9))
    return out
