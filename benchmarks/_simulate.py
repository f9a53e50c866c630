"""Synthetic layerlab studies with known truth, for the calibration suite.

Trials are built in layerlab's own layout (user attributes ``config_id``, ``repeat``, ``seed``
shared across configs, ``config``, ``val_accuracy``, ``test_accuracy``, ``data_sizes``; optionally
``val_correct`` per-image correctness) with optuna in-memory storage and
``optuna.trial.create_trial`` / ``study.add_trials``, so the real ``studies.analysis`` code is what
gets measured.

Noise kinds (unit SD, mean 0): ``normal``; ``skewed``: a centred gamma(shape 4) with its long
tail to the bad side (skewness -1: now and then a seed trains badly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from scipy import stats

from objectives._per_image import pack_correct

optuna.logging.set_verbosity(optuna.logging.WARNING)
SKEW_SHAPE = 4.0  # gamma shape of the skewed noise: skewness 2 / sqrt(4) = 1


def noise(rng: np.random.Generator, size: Any, kind: str = "normal") -> np.ndarray:
    """Unit-SD, mean-0 noise: ``normal``, ``skewed`` (skewness -1) or ``t3`` (Student t with 3 df
    scaled to unit variance: heavy tails, an occasional seed far off)."""
    if kind == "normal":
        return rng.standard_normal(size)
    if kind == "skewed":
        return -(rng.gamma(SKEW_SHAPE, 1.0, size) - SKEW_SHAPE) / np.sqrt(SKEW_SHAPE)
    if kind == "t3":
        return rng.standard_t(3, size) / np.sqrt(3.0)
    raise ValueError(f"unknown noise kind {kind!r}; valid: normal, skewed, t3")


def _study(trials: list[optuna.trial.FrozenTrial], direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction)
    study.add_trials(trials)
    return study


def seed_study(
    means: Mapping[str, float],
    *,
    repeats: int,
    noise_sd: float | Mapping[str, float] = 0.01,
    seed_sd: float = 0.0,
    kind: str = "normal",
    rng: np.random.Generator,
    n_val: int | None = None,
) -> optuna.Study:
    """One categorical parameter ``config`` with the given true means: value = mean + shared seed
    effect (SD ``seed_sd``, the same for every config at one seed) + per-run noise (``noise_sd``,
    of ``kind``; a mapping gives each config its own SD). No per-image data (the seed-level
    fallback); ``n_val`` sets ``data_sizes``."""
    names = list(means)
    sds = noise_sd if isinstance(noise_sd, Mapping) else dict.fromkeys(names, noise_sd)
    dist = {"config": CategoricalDistribution(names)}
    shared = seed_sd * noise(rng, repeats, kind)
    trials = []
    for name in names:
        for r in range(repeats):
            value = float(means[name] + shared[r] + sds[name] * noise(rng, None, kind))
            attrs = {"config_id": f"cfg-{name}", "repeat": r, "seed": 100 + r, "config": {"config": name},
                     "test_accuracy": value}
            if n_val:
                attrs["data_sizes"] = {"train": 1000, "val": n_val, "test": n_val}
            trials.append(optuna.trial.create_trial(params={"config": name}, distributions=dist, value=value, user_attrs=attrs))
    return _study(trials)


def image_study(
    logits: Mapping[str, float],
    *,
    repeats: int,
    n_images: int,
    image_sd: float = 1.0,
    seed_sd: float = 0.2,
    interaction_sd: float = 0.5,
    rng: np.random.Generator,
) -> tuple[optuna.Study, dict[str, float]]:
    """Per-image outcomes from a probit model with known population accuracy.

    Image i (drawn once, shared by every config and seed: the fixed evaluation set) has
    difficulty u_i ~ N(0, image_sd^2) and config c its own leaning on it w_ci ~ N(0,
    interaction_sd^2) (configs disagree on particular images, consistently across seeds); config c
    at seed s has a training-seed effect v_cs ~ N(0, seed_sd^2); the image is right when
    logit_c + v_cs + u_i + w_ci + e_csi > 0 with e ~ N(0, 1) independent. Population accuracy
    (over new seeds and new images) is Phi(logit_c / sqrt(1 + image_sd^2 + interaction_sd^2 +
    seed_sd^2)), returned as the truth."""
    names = list(logits)
    dist = {"config": CategoricalDistribution(names)}
    u = image_sd * rng.standard_normal(n_images)
    labels = np.zeros(n_images, dtype=np.int64)
    scale = np.sqrt(1 + image_sd**2 + interaction_sd**2 + seed_sd**2)
    truth = {name: float(stats.norm.cdf(logits[name] / scale)) for name in names}
    trials = []
    for name in names:
        w = interaction_sd * rng.standard_normal(n_images)
        for r in range(repeats):
            ok = logits[name] + seed_sd * rng.standard_normal() + u + w + rng.standard_normal(n_images) > 0
            value = float(ok.mean())
            attrs = {"config_id": f"cfg-{name}", "repeat": r, "seed": 100 + r, "config": {"config": name},
                     "val_accuracy": value, "test_accuracy": value, "val_correct": pack_correct(ok, labels),
                     "data_sizes": {"train": 1000, "val": n_images, "test": n_images}}
            trials.append(optuna.trial.create_trial(params={"config": name}, distributions=dist, value=value, user_attrs=attrs))
    return _study(trials), truth


def flipped_study(n_images: int, repeats: int, rng: np.random.Generator, *, same_image: bool = False) -> optuna.Study:
    """Two configs whose per-image outcomes are identical except one image per seed, which only
    ``variant`` gets wrong: it is exactly one image worse on every seed."""
    dist = {"config": CategoricalDistribution(["base", "variant"])}
    labels = np.zeros(n_images, dtype=np.int64)
    trials = []
    for r in range(repeats):
        base = rng.random(n_images) < 0.8
        flip = 0 if same_image else int(rng.choice(np.flatnonzero(base)))
        base[flip] = True
        variant = base.copy()
        variant[flip] = False
        for name, ok in (("base", base), ("variant", variant)):
            attrs = {"config_id": f"cfg-{name}", "repeat": r, "seed": 100 + r, "config": {"config": name},
                     "val_accuracy": float(ok.mean()), "val_correct": pack_correct(ok, labels),
                     "data_sizes": {"train": 1000, "val": n_images, "test": n_images}}
            trials.append(optuna.trial.create_trial(params={"config": name}, distributions=dist, value=float(ok.mean()),
                                                    user_attrs=attrs))
    return _study(trials)


def shifted_study(n_images: int, repeats: int, rng: np.random.Generator, *, sizes: bool = True,
                  float32: bool = False) -> optuna.Study:
    """``variant`` = ``base`` minus exactly one image's accuracy at every seed (the demo's no-BN
    row) without per-image data: a zero-variance paired difference. ``sizes=False``: the trials
    do not even say how many images they were scored on (a hand-made study). ``float32``: the
    accuracies are stored as float32 (their differences then vary by rounding)."""
    dist = {"config": CategoricalDistribution(["base", "variant"])}
    trials = []
    for r in range(repeats):
        base = 0.7 + 0.05 * rng.standard_normal()
        base = round(base * n_images) / n_images
        pair = (("base", base), ("variant", base - 1 / n_images))
        if float32:
            pair = tuple((name, float(np.float32(v))) for name, v in pair)
        for name, value in pair:
            attrs = {"config_id": f"cfg-{name}", "repeat": r, "seed": 100 + r, "config": {"config": name},
                     "val_accuracy": value}
            if sizes:
                attrs["data_sizes"] = {"train": 1000, "val": n_images, "test": n_images}
            trials.append(optuna.trial.create_trial(params={"config": name}, distributions=dist, value=value, user_attrs=attrs))
    return _study(trials)


def names(k: int) -> list[str]:
    return [f"c{i}" for i in range(k)]


def constant(k: int, value: float = 0.7) -> dict[str, float]:
    return dict.fromkeys(names(k), value)


def with_effect(k: int, effect: float, value: float = 0.7, which: Sequence[int] = (1,)) -> dict[str, float]:
    means = constant(k, value)
    for i in which:
        means[f"c{i}"] = value + effect
    return means
