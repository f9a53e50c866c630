"""Batch augmentation on the training device, per sample, in pixel space [0, 1].

``augment`` in a TrainConfig is a ``+``-joined list of registered names, e.g. ``flip+rotate+color``.
They are applied in registration order (geometry, colour, sharpness, cutout, then the label
mixers), whatever order the string gives, and :func:`build_augment` turns them into one callable
``(pixels, labels) -> (pixels, targets)``. ``targets`` are class indices, or class probabilities
``(B, num_classes)`` once mixup / cutmix has run.

Why parts are written by hand: torchvision's v2 transforms draw **one** random parameter set per
call, so a v2 ``RandomRotation`` / ``RandomAffine`` / ``RandomHorizontalFlip`` / ``ColorJitter`` /
``RandomAdjustSharpness`` / ``RandomErasing`` applied to a batch tensor rotates (flips, jitters,
erases the same box of) every image in the batch identically. That is 1 augmentation per batch
instead of one per image and throws most of the augmentation's variety away; calling the
transform once per image is a Python loop over the batch. So the per-sample randomness is drawn
here as ``(B,)`` tensors and applied in one batched op each:

- flip: a per-sample mask and ``torch.where``;
- rotate / shift / zoom: one per-sample affine matrix, one ``affine_grid`` + ``grid_sample``
  (bilinear; zero fill, or Keras' nearest / reflect fill) for the lot, parametrised as
  torchvision's ``RandomAffine`` (or, for zoom, Keras' independent x/y zoom);
- color: per-sample brightness / contrast / saturation factors, each with its own strength, with
  v2's blend formulas
  (tests check each image against ``torchvision.transforms.v2.functional``);
- sharpness: v2's own batched ``adjust_sharpness`` kernel, kept per sample by a mask;
- cutout: a per-sample square, zeroed through a broadcast mask.

MixUp and CutMix are batch operations by design (one mixing weight per batch, images paired
with their neighbour in the shuffled batch), so torchvision's ``v2.MixUp`` / ``v2.CutMix`` are used
as they are; with both enabled one of the two is picked per batch (``v2.RandomChoice``), as in
torchvision's recipe.

Randomness comes from one ``torch.Generator`` per training run, seeded from the run's seed, so a
seeded run is reproducible and a checkpoint can save and restore it. The v2 transforms draw from
torch's global CPU generator, so they run with that generator's state swapped in and out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from objectives.train._config import TrainConfig
from searchspace.errors import ConfigError, RegistryError, valid_list

Batch = tuple[torch.Tensor, torch.Tensor]  # (pixels (B, C, H, W), labels (B,) or targets (B, K))
Op = Callable[[torch.Tensor, torch.Tensor, torch.Generator], Batch]
OpBuilder = Callable[[TrainConfig, int], Op]  # (cfg, num_classes) -> op


@dataclass(frozen=True)
class _Entry:
    build: OpBuilder
    soft_targets: bool  # True when the op turns labels into class probabilities


_AUGMENTATIONS: dict[str, _Entry] = {}


def register_augmentation(name: str, *, soft_targets: bool = False) -> Callable[[OpBuilder], OpBuilder]:
    """Register ``build(cfg, num_classes) -> op``; ops run in registration order."""

    def decorator(fn: OpBuilder) -> OpBuilder:
        if name in _AUGMENTATIONS or name == "none" or "+" in name:
            raise RegistryError(f"augmentation {name!r} is already registered or is not a valid name")
        _AUGMENTATIONS[name] = _Entry(fn, soft_targets)
        return fn

    return decorator


def list_augmentations() -> list[str]:
    """Registered names, in the order they are applied."""
    return list(_AUGMENTATIONS)


def augment_seed(seed: int) -> int:
    """The augmentation generator's seed for a run seeded ``seed``: a separate stream from the
    shuffling generator (seeded with ``seed`` itself), so the two are not correlated."""
    return int(np.random.SeedSequence([int(seed), 0xA06]).generate_state(1, dtype=np.uint64)[0] >> 1)


class Augment:
    """The enabled augmentations of a config as one callable on device-resident batches."""

    def __init__(self, names: tuple[str, ...], cfg: TrainConfig, *, num_classes: int, seed: int) -> None:
        for name in names:
            if name not in _AUGMENTATIONS:
                raise ConfigError(
                    f"unknown augmentation {name!r}; valid: none or '+'-joined names from "
                    f"{valid_list(list_augmentations())}"
                )
        ordered = [n for n in _AUGMENTATIONS if n in names]
        self.names = tuple(ordered)
        self.soft_targets = any(_AUGMENTATIONS[n].soft_targets for n in ordered)
        self.generator = torch.Generator().manual_seed(augment_seed(seed))
        ops: list[Op] = []
        for name in ordered:
            op = _AUGMENTATIONS[name].build(cfg, num_classes)
            if ops and isinstance(op, RandomAffine) and isinstance(ops[-1], RandomAffine):
                ops[-1] = ops[-1].merge(op)  # rotate+shift+zoom: one warp, one interpolation
            elif op is not None:
                ops.append(op)
        self.ops = ops

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        for op in self.ops:
            x, y = op(x, y, self.generator)
        return x, y

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


def build_augment(cfg: TrainConfig, *, num_classes: int, seed: int) -> Augment | None:
    """The augmentation of ``cfg`` (None when ``augment`` is ``none``)."""
    names = cfg.augmentations
    return Augment(names, cfg, num_classes=num_classes, seed=seed) if names else None


# -- helpers ------------------------------------------------------------------------------------


def _uniform(g: torch.Generator, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    """``n`` draws from U[low, high), made on the CPU generator and moved to ``device``."""
    return (torch.rand(n, generator=g) * (high - low) + low).to(device, non_blocking=True)


def _per_sample(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def _blend(a: torch.Tensor, b: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """v2's ``_blend`` with one ratio per image: ``ratio * a + (1 - ratio) * b``, clamped to [0, 1]."""
    r = _per_sample(ratio)
    return (a * r + b * (1.0 - r)).clamp_(0.0, 1.0)


def rgb_to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """torchvision's ``v2.functional.rgb_to_grayscale`` (ITU-R 601-2 luma). Imported on first use:
    torchvision.transforms.v2 imports torch._dynamo (seconds at start-up), which a worker without
    colour augmentation should not pay for (tests/objectives/test_flops.py checks it)."""
    from torchvision.transforms.v2.functional import rgb_to_grayscale as to_gray

    return to_gray(x)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-image ``v2.functional.adjust_brightness``."""
    return (x * _per_sample(factor)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-image ``v2.functional.adjust_contrast``: blend with the image's mean grey level."""
    gray = rgb_to_grayscale(x) if x.shape[1] == 3 else x
    return _blend(x, gray.mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-image ``v2.functional.adjust_saturation``; like v2, a no-op unless there are 3 channels."""
    if x.shape[1] != 3:
        return x
    return _blend(x, rgb_to_grayscale(x), factor)


def affine_theta(
    angle: torch.Tensor, translate: torch.Tensor, scale: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """``(B, 2, 3)`` matrices for ``F.affine_grid`` (align_corners=False) that do what
    ``v2.functional.affine(img, angle, translate, scale, shear=0)`` does to each image: rotate by
    ``angle`` degrees (counter-clockwise) and scale about the centre, then shift by ``translate``
    pixels ``(dx, dy)``. affine_grid wants the output -> input map, so this is the inverse,
    expressed in its [-1, 1] coordinates."""
    h, w = size
    a = torch.deg2rad(angle)
    # scale (B,) is isotropic; (B, 2) scales x and y apart (the inverse divides row 0 by sx, row 1 by sy)
    sx, sy = (scale, scale) if scale.ndim == 1 else scale.unbind(1)
    cos_x, sin_x = torch.cos(a) / sx, torch.sin(a) / sx
    cos_y, sin_y = torch.cos(a) / sy, torch.sin(a) / sy
    dx, dy = translate[:, 0], translate[:, 1]
    theta = torch.empty(len(angle), 2, 3, device=angle.device, dtype=angle.dtype)
    # In y-down pixel coordinates a counter-clockwise turn on screen is [[cos, sin], [-sin, cos]];
    # its inverse with the scale is [[cos, -sin], [sin, cos]] / s, applied after undoing the shift.
    theta[:, 0, 0] = cos_x
    theta[:, 0, 1] = sin_x * (h / w)
    theta[:, 1, 0] = -sin_y * (w / h)
    theta[:, 1, 1] = cos_y
    theta[:, 0, 2] = -(cos_x * dx + sin_x * dy) / (w / 2)
    theta[:, 1, 2] = -(-sin_y * dx + cos_y * dy) / (h / 2)
    return theta


# fill_mode -> grid_sample padding: Keras' 'nearest' repeats the edge pixel ('border'); its
# 'reflect' (abcd|dcba) mirrors about the image edge, which is 'reflection' with align_corners=False.
PADDING_MODES = {"zeros": "zeros", "nearest": "border", "reflect": "reflection"}


def warp(x: torch.Tensor, theta: torch.Tensor, fill: str = "zeros") -> torch.Tensor:
    """Apply per-sample affine ``theta`` with bilinear sampling; ``fill`` as :data:`PADDING_MODES`."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=PADDING_MODES[fill], align_corners=False)


# -- the ops ------------------------------------------------------------------------------------


class RandomHorizontalFlip:
    """Flip each image left-right with probability ``p`` (v2.RandomHorizontalFlip, per sample)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Batch:
        flip = _uniform(g, len(x), 0.0, 1.0, x.device) < self.p
        return torch.where(_per_sample(flip), x.flip(-1), x), y


class RandomAffine:
    """``v2.RandomAffine(degrees, translate, scale)`` with parameters drawn per image.

    Angle ~ U[-degrees, degrees]; shift ~ U[-f, f] of width and height, rounded to whole pixels as
    v2 does; isotropic scale ~ U[1 - zoom, 1 + zoom]. Interpolation is bilinear (v2's default is
    nearest; Keras' ImageDataGenerator, which seed 002 used, interpolates bilinearly), and pixels
    that come from outside the image are 0, v2's default fill, unless ``fill`` says otherwise.

    ``zoom_mode="keras"`` is ImageDataGenerator's ``zoom_range``: zx and zy drawn independently
    from U[1 - zoom, 1 + zoom], each the factor from output to input coordinates (zx > 1 zooms
    out), so the forward scale is (1 / zx, 1 / zy).
    """

    def __init__(
        self, degrees: float = 0.0, shift: float = 0.0, zoom: float = 0.0, *,
        zoom_mode: str = "isotropic", fill: str = "zeros",
    ) -> None:
        self.degrees, self.shift, self.zoom = degrees, shift, zoom
        self.zoom_mode, self.fill = zoom_mode, fill

    def merge(self, other: RandomAffine) -> RandomAffine:
        return RandomAffine(
            max(self.degrees, other.degrees), max(self.shift, other.shift), max(self.zoom, other.zoom),
            zoom_mode=self.zoom_mode, fill=self.fill,
        )

    def __call__(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Batch:
        n, (h, w), dev = len(x), x.shape[-2:], x.device
        angle = _uniform(g, n, -self.degrees, self.degrees, dev) if self.degrees else torch.zeros(n, device=dev)
        if self.shift:
            limits = torch.tensor([self.shift * w, self.shift * h])
            shift = ((torch.rand(n, 2, generator=g) * 2 - 1) * limits).round().to(dev, non_blocking=True)
        else:
            shift = torch.zeros(n, 2, device=dev)
        if not self.zoom:
            scale = torch.ones(n, device=dev)
        elif self.zoom_mode == "keras":
            z = (torch.rand(n, 2, generator=g) * (2 * self.zoom) + (1 - self.zoom)).to(dev, non_blocking=True)
            scale = 1.0 / z
        else:
            scale = _uniform(g, n, 1 - self.zoom, 1 + self.zoom, dev)
        return warp(x, affine_theta(angle, shift, scale, (h, w)), self.fill), y


class ColorJitter:
    """``v2.ColorJitter(brightness=b, contrast=c, saturation=s)`` with each factor drawn per image
    from U[1 - strength, 1 + strength], applied in that fixed order (v2 shuffles the order once per
    call; a per-image order would cost three extra passes for little). A strength of 0 switches its
    factor off (no draw, no pass), as v2's ``brightness=0`` does. Saturation needs 3 channels."""

    def __init__(self, brightness: float, contrast: float = 0.0, saturation: float = 0.0) -> None:
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    def __call__(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Batch:
        n, dev = len(x), x.device
        for strength, adjust in (
            (self.brightness, adjust_brightness),
            (self.contrast, adjust_contrast),
            (self.saturation, adjust_saturation),  # drawn for 1 channel too: same stream either way
        ):
            if strength > 0:
                x = adjust(x, _uniform(g, n, max(0.0, 1 - strength), 1 + strength, dev))
        return x, y


class RandomAdjustSharpness:
    """``v2.RandomAdjustSharpness(factor, p)`` decided per image: v2's batched kernel sharpens the
    whole batch, a per-image coin keeps the result for a ``p`` share of the images."""

    def __init__(self, factor: float, p: float = 0.5) -> None:
        self.factor, self.p = factor, p

    def __call__(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Batch:
        keep = _uniform(g, len(x), 0.0, 1.0, x.device) < self.p
        if x.shape[-1] <= 2 or x.shape[-2] <= 2:
            return x, y  # v2 leaves images this small unchanged (the 3x3 kernel needs a border)
        from torchvision.transforms.v2 import functional as TF  # lazy: torchvision costs ~2 s to import

        return torch.where(_per_sample(keep), TF.adjust_sharpness(x, self.factor), x), y


class Cutout:
    """DeVries & Taylor's cutout, per image: zero one square covering ``scale`` of the image area
    (0.25 = 16x16 on 32x32, their CIFAR-10 setting), placed uniformly inside the image.
    ``v2.RandomErasing`` draws one box per call, i.e. the same box for the whole batch."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Batch:
        n, (h, w), dev = len(x), x.shape[-2:], x.device
        side = math.sqrt(self.scale)
        bh, bw = max(1, round(side * h)), max(1, round(side * w))
        top = (torch.rand(n, generator=g) * (h - bh + 1)).long().to(dev, non_blocking=True)
        left = (torch.rand(n, generator=g) * (w - bw + 1)).long().to(dev, non_blocking=True)
        rows = torch.arange(h, device=dev).view(1, h)
        cols = torch.arange(w, device=dev).view(1, w)
        in_rows = (rows >= top[:, None]) & (rows < top[:, None] + bh)
        in_cols = (cols >= left[:, None]) & (cols < left[:, None] + bw)
        box = in_rows[:, None, :, None] & in_cols[:, None, None, :]
        return x.masked_fill(box, 0.0), y


class _GlobalRngTransform:
    """Run a v2 batch transform with ``g``'s state as torch's global CPU generator, so that its
    draws come from (and advance) the run's own generator."""

    def __init__(self, transform: Callable[[torch.Tensor, torch.Tensor], Batch]) -> None:
        self.transform = transform

    def __call__(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> Batch:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(g.get_state())
            x, y = self.transform(x, y)
            g.set_state(torch.get_rng_state())
        return x, y


# Registration order is application order.


@register_augmentation("flip")
def _flip(cfg: TrainConfig, num_classes: int) -> Op:
    return RandomHorizontalFlip()


@register_augmentation("rotate")
def _rotate(cfg: TrainConfig, num_classes: int) -> Op:
    return RandomAffine(degrees=cfg.rotate_degrees, zoom_mode=cfg.zoom_mode, fill=cfg.fill_mode)


@register_augmentation("shift")
def _shift(cfg: TrainConfig, num_classes: int) -> Op:
    return RandomAffine(shift=cfg.shift_fraction, zoom_mode=cfg.zoom_mode, fill=cfg.fill_mode)


@register_augmentation("zoom")
def _zoom(cfg: TrainConfig, num_classes: int) -> Op:
    return RandomAffine(zoom=cfg.zoom_fraction, zoom_mode=cfg.zoom_mode, fill=cfg.fill_mode)


@register_augmentation("color")
def _color(cfg: TrainConfig, num_classes: int) -> Op:
    return ColorJitter(cfg.color_brightness, cfg.color_contrast, cfg.color_saturation)


@register_augmentation("sharpness")
def _sharpness(cfg: TrainConfig, num_classes: int) -> Op:
    return RandomAdjustSharpness(cfg.sharpness_factor)


@register_augmentation("cutout")
def _cutout(cfg: TrainConfig, num_classes: int) -> Op:
    return Cutout(cfg.cutout_scale)


def _mixers(cfg: TrainConfig, num_classes: int) -> Op:
    from torchvision.transforms import v2  # lazy: torchvision costs ~2 s to import

    names = cfg.augmentations
    mixers = []
    if "cutmix" in names:
        mixers.append(v2.CutMix(alpha=cfg.cutmix_alpha, num_classes=num_classes))
    if "mixup" in names:
        mixers.append(v2.MixUp(alpha=cfg.mixup_alpha, num_classes=num_classes))
    return _GlobalRngTransform(mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers))


@register_augmentation("mixup", soft_targets=True)
def _mixup(cfg: TrainConfig, num_classes: int) -> Op:
    return _mixers(cfg, num_classes)


@register_augmentation("cutmix", soft_targets=True)
def _cutmix(cfg: TrainConfig, num_classes: int) -> Op | None:
    # With mixup also on, the mixup entry (registered first) already picks between the two.
    return None if "mixup" in cfg.augmentations else _mixers(cfg, num_classes)
