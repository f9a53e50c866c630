"""Deterministic image operations on whole tensors: channel and size adapters, filters, upsampling.

All of them work on a batch ``(N, C, H, W)`` at once on whatever device it lives on; nothing is
done per sample or through PIL. Order in a prepared dataset (``DataConfig``):

1. ``to_rgb``: a grayscale channel repeated three times (seed 000 did this for MNIST and
   Fashion-MNIST in its ResNet runs; seed 001 for Fashion-MNIST). No-op on colour images.
2. ``pad_to``: zero padding, split evenly (odd leftovers go right/bottom). Seed 001 §3.1.2 padded
   Fashion-MNIST "with 4 pixels" to match CIFAR's 32x32; ``transforms.Pad(4)`` would literally give
   36x36, so we follow the stated goal: ``pad_to=32`` adds 2 pixels per side (``pad_to=36``
   reproduces the literal reading).
3. ``resize``: bilinear with antialiasing (torchvision ``resize``), uint8 in, uint8 out.
4. ``filter`` with ``filter_order="before"``: on 0..255 pixels, then rounded and saturated back to
   uint8 (see below).
5. augmentation (the trainer, per batch, on float pixels in [0, 1]).
6. ``normalize``.
7. ``filter`` with ``filter_order="after"``: on the normalised floats, no clipping.
8. ``upsample``: nearest neighbour by an integer factor, Keras ``UpSampling2D``'s default, which
   seed 000 used as a layer and so after all preprocessing.

Why the filter order matters (seed 000, Table 2: "Filter-Preprocessing > Preprocessing-Filter"):
seed 000 filtered with OpenCV-style kernels. Before preprocessing the images were uint8, so a
sharpened pixel that overshoots is saturated to 0 or 255 and rounded (``cv2.filter2D`` on uint8);
after preprocessing the data were mean-centred floats and nothing was clipped. A kernel whose
weights sum to 1 otherwise commutes with a per-channel affine normalisation (and with the caffe
mode's channel flip), so the two orders differ exactly by that saturation and rounding. Blur
never overshoots (its output is a convex combination of its inputs), so for blur the orders differ
only by rounding; for sharpen they differ wherever edges overshoot.

Kernels (hand-written because torchvision has no fixed-kernel filter: ``adjust_sharpness`` blends
with a different smoothing kernel and ``gaussian_blur`` is not the box filter ``cv2.blur`` uses):

- ``sharpen``: the classic 3x3 ``[[0,-1,0],[-1,5,-1],[0,-1,0]]``;
- ``blur``: the normalised ``k x k`` box (mean) filter, ``k = filter_kernel``.

Borders are reflected without repeating the edge (``cv2.BORDER_REFLECT_101``, torch ``reflect``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from searchspace.errors import ConfigError

SHARPEN_3X3 = ((0.0, -1.0, 0.0), (-1.0, 5.0, -1.0), (0.0, -1.0, 0.0))
_CHUNK = 2048  # images filtered per convolution call, to bound the float temporary's memory


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        return x
    if x.shape[1] != 1:
        raise ConfigError(f"to_rgb needs 1 or 3 channels, the images have {x.shape[1]}")
    from torchvision.transforms.v2 import functional as TF

    return TF.grayscale_to_rgb(x).contiguous()


def pad_to(x: torch.Tensor, size: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    if size < height or size < width:
        raise ConfigError(f"pad_to {size} is smaller than the images ({height}x{width}); use resize to shrink")
    if size == height == width:
        return x
    from torchvision.transforms.v2 import functional as TF

    left, top = (size - width) // 2, (size - height) // 2
    return TF.pad(x, [left, top, size - width - left, size - height - top], fill=0).contiguous()


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (size, size):
        return x
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(x, [size, size], antialias=True).contiguous()


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor (Keras ``UpSampling2D`` default)."""
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="nearest")


def filter_weights(kind: str, width: int, *, device: torch.device | None = None) -> torch.Tensor:
    """The ``(width, width)`` kernel of a filter; its weights sum to 1."""
    if kind == "sharpen":
        if width != 3:
            raise ConfigError(f"filter sharpen uses the classic 3x3 kernel; filter_kernel must be 3, got {width}")
        return torch.tensor(SHARPEN_3X3, device=device)
    if kind == "blur":
        return torch.full((width, width), 1.0 / (width * width), device=device)
    raise ConfigError(f"unknown filter {kind!r}; valid: sharpen, blur")


def apply_filter(x: torch.Tensor, kind: str, width: int) -> torch.Tensor:
    """Filter float images channel by channel (depthwise), reflecting at the borders. No clipping."""
    height, wide = x.shape[-2:]
    pad = width // 2
    if pad >= min(height, wide):
        raise ConfigError(
            f"filter_kernel {width} is too wide for {height}x{wide} images; use at most {2 * min(height, wide) - 1}"
        )
    channels = x.shape[1]
    weight = filter_weights(kind, width, device=x.device).to(x.dtype).expand(channels, 1, width, width)
    out = [
        F.conv2d(F.pad(chunk, (pad, pad, pad, pad), mode="reflect"), weight, groups=channels)
        for chunk in x.split(_CHUNK)
    ]
    return torch.cat(out) if out else x


def filter_pixels(x: torch.Tensor, kind: str, width: int) -> torch.Tensor:
    """Filter uint8 pixels like ``cv2.filter2D`` on uint8: round and saturate to 0..255 (uint8)."""
    out = []
    for chunk in x.split(_CHUNK):
        filtered = apply_filter(chunk.float(), kind, width)
        out.append(filtered.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else x
