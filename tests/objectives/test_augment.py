"""Batch augmentation: per sample, in range, reproducible, and faithful to torchvision's v2 ops."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from objectives.train._config import TrainConfig
from objectives.train._augment import build_augment, list_augmentations
from objectives.train._augment import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    affine_theta,
    augment_seed,
    warp,
)
from searchspace import ConfigError

PIXEL_OPS = ["flip", "rotate", "shift", "zoom", "color", "sharpness", "cutout"]
MIXERS = ["mixup", "cutmix", "mixup+cutmix"]


def _images(n: int = 16, c: int = 3, h: int = 12, w: int = 10) -> torch.Tensor:
    """Asymmetric images (a gradient plus a bright blob), so every transform visibly moves pixels."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, c, h, w, generator=g) * 0.3
    x += torch.linspace(0, 0.5, w).view(1, 1, 1, w)
    x[:, :, 2:5, 1:4] += 0.2
    return x.clamp(0, 1)


def _apply(augment: str, x: torch.Tensor, seed: int = 0, **cfg) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(len(x)) % 5
    aug = build_augment(TrainConfig(augment=augment, **cfg), num_classes=5, seed=seed)
    return aug(x.clone(), y)


def test_none_builds_nothing():
    assert build_augment(TrainConfig(), num_classes=3, seed=0) is None


@pytest.mark.parametrize("name", PIXEL_OPS)
def test_each_op_changes_pixels_keeps_shape_range_and_labels(name):
    x = _images()
    out, y = _apply(name, x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, x)
    assert torch.equal(y, torch.arange(len(x)) % 5)  # labels untouched by pixel ops


@pytest.mark.parametrize("name", PIXEL_OPS)
def test_each_op_draws_its_parameters_per_sample(name):
    # the same image 16 times: a batch-wide parameter set would give 16 identical outputs
    x = _images(n=1).expand(16, -1, -1, -1).contiguous()
    out, _ = _apply(name, x)
    distinct = {tuple(img.flatten().tolist()) for img in out}
    assert len(distinct) >= 2 if name in ("flip", "sharpness") else len(distinct) >= 8


@pytest.mark.parametrize("name", PIXEL_OPS + MIXERS)
def test_same_seed_same_output_other_seed_other_output(name):
    x = _images()
    a, ya = _apply(name, x, seed=3)
    b, yb = _apply(name, x, seed=3)
    c, _ = _apply(name, x, seed=4)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)


def test_mixers_do_not_touch_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    _apply("mixup+cutmix", _images())
    assert torch.equal(torch.rand(3), expected)


def test_augmentation_stream_differs_from_the_shuffle_stream():
    assert augment_seed(0) != 0 and augment_seed(0) != augment_seed(1)


@pytest.mark.parametrize("name", MIXERS)
def test_mixers_make_soft_targets_that_sum_to_one(name):
    x = _images()
    out, target = _apply(name, x, mixup_alpha=1.0)
    assert target.shape == (len(x), 5) and target.dtype == torch.float32
    assert torch.allclose(target.sum(1), torch.ones(len(x)))
    assert out.shape == x.shape and not torch.equal(out, x)
    assert build_augment(TrainConfig(augment=name), num_classes=5, seed=0).soft_targets


def test_order_of_names_does_not_matter():
    x = _images()
    a, _ = _apply("flip+rotate+color", x)
    b, _ = _apply("color+rotate+flip", x)
    assert torch.equal(a, b)


def test_rotate_shift_zoom_share_one_warp():
    aug = build_augment(TrainConfig(augment="rotate+shift+zoom+flip"), num_classes=3, seed=0)
    assert [type(op).__name__ for op in aug.ops] == ["RandomHorizontalFlip", "RandomAffine"]


def test_unknown_name_is_a_config_error_listing_valid_names():
    with pytest.raises(ConfigError, match="unknown augmentation 'spin'.*flip, rotate, shift"):
        build_augment(TrainConfig(augment="spin"), num_classes=3, seed=0)
    assert "cutmix" in list_augmentations()


@pytest.mark.parametrize("angle, shift, scale", [(30.0, (0, 0), 1.0), (-25.0, (2, -3), 0.9), (0.0, (1, 4), 1.1)])
def test_per_sample_warp_equals_v2_affine(angle, shift, scale):
    x = _images(n=1, h=12, w=10)
    ref = TF.affine(x, angle=angle, translate=list(shift), scale=scale, shear=[0.0, 0.0],
                    interpolation=InterpolationMode.BILINEAR)
    theta = affine_theta(torch.tensor([angle]), torch.tensor([shift], dtype=torch.float), torch.tensor([scale]), (12, 10))
    assert torch.allclose(warp(x, theta), ref, atol=1e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_per_sample_color_equals_v2_functional(channels):
    x = _images(n=4, c=channels)
    factors = torch.tensor([0.6, 0.9, 1.1, 1.4])
    for mine, theirs in [
        (adjust_brightness, TF.adjust_brightness),
        (adjust_contrast, TF.adjust_contrast),
        (adjust_saturation, TF.adjust_saturation),
    ]:
        out = mine(x.clone(), factors)
        for i, f in enumerate(factors.tolist()):
            assert torch.allclose(out[i], theirs(x[i], f), atol=1e-6), (mine.__name__, i)


def test_flip_flips_about_half_and_exactly():
    x = _images(n=200)
    out, _ = _apply("flip", x)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((flipped | same).all()) and 60 < int(flipped.sum()) < 140


def test_cutout_zeroes_one_square_of_the_asked_area_per_image():
    x = torch.ones(8, 1, 32, 32)
    out, _ = _apply("cutout", x, cutout_scale=0.25)
    zeroed = (out == 0).flatten(1).sum(1)
    assert torch.all(zeroed == 16 * 16)  # DeVries' 16x16 on 32x32


def test_rotation_stays_within_the_configured_angle():
    # a 0-degree limit leaves images as they are (apart from resampling at identity)
    x = _images()
    out, _ = _apply("rotate", x, rotate_degrees=0.0)
    assert torch.allclose(out, x, atol=1e-5)


# -- fidelity knobs (issue 13): colour factors apart, Keras fill and zoom ---------------------


@pytest.mark.parametrize(
    "factors, changed",
    [
        (dict(color_brightness=0.3, color_contrast=0.0, color_saturation=0.0), "brightness"),
        (dict(color_brightness=0.0, color_contrast=0.3, color_saturation=0.0), "contrast"),
        (dict(color_brightness=0.0, color_contrast=0.0, color_saturation=0.3), "saturation"),
    ],
)
def test_each_colour_factor_has_its_own_strength_and_zero_switches_it_off(factors, changed):
    x = _images(n=8)
    out, _ = _apply("color", x, **factors)
    assert not torch.equal(out, x)
    if changed == "brightness":  # a pure brightness change scales every pixel by one factor per image
        ratio = out / x.clamp_min(1e-6)
        for img, r in zip(x, ratio):
            keep = (img > 0.05) & (img < 0.6)
            assert torch.allclose(r[keep], r[keep].mean(), atol=1e-4)
    if changed == "saturation":  # grey images have nothing to saturate
        gray = _images(n=8, c=1)
        assert torch.equal(_apply("color", gray, **factors)[0], gray)
    off, _ = _apply("color", x, color_brightness=0.0, color_contrast=0.0, color_saturation=0.0)
    assert torch.equal(off, x)


def test_brightness_and_contrast_only_leaves_saturation_alone():
    # Seed 004: brightness and contrast only. Mean grey level of each image's channels moves,
    # but a grey-level image (R = G = B) stays grey, which a saturation change would also keep;
    # so check against the factors drawn: the stream holds exactly two draws per image.
    cfg = dict(color_brightness=0.2, color_contrast=0.2, color_saturation=0.0)
    aug = build_augment(TrainConfig(augment="color", **cfg), num_classes=5, seed=0)
    x = _images(n=4)
    state = aug.get_state()
    aug(x.clone(), torch.zeros(4, dtype=torch.long))
    g = torch.Generator()
    g.set_state(state)
    torch.rand(4, generator=g)
    torch.rand(4, generator=g)
    assert torch.equal(g.get_state(), aug.get_state())


def test_fill_modes_follow_keras():
    x = _images(n=1)
    shift = torch.tensor([[3.0, 0.0]])  # 3 pixels right: 3 columns come from outside the image
    theta = affine_theta(torch.zeros(1), shift, torch.ones(1), (12, 10))
    zeros = warp(x, theta, "zeros")
    nearest = warp(x, theta, "nearest")
    reflect = warp(x, theta, "reflect")
    assert torch.equal(zeros[..., :3], torch.zeros_like(zeros[..., :3]))
    for col in range(3):  # Keras 'nearest': aaa|abcd
        assert torch.allclose(nearest[..., col], x[..., 0], atol=1e-5)
    assert torch.allclose(reflect[..., 2], x[..., 0], atol=1e-5)  # Keras 'reflect': cba|abcd
    assert torch.allclose(reflect[..., 0], x[..., 2], atol=1e-5)
    assert torch.allclose(nearest[..., 3:], x[..., :-3], atol=1e-5)


def test_keras_zoom_scales_x_and_y_independently():
    x = torch.zeros(64, 1, 33, 33)
    x[:, :, 16, :] = 1.0  # a horizontal and a vertical line through the centre
    x[:, :, :, 16] = 1.0
    out, _ = _apply("zoom", x, zoom_fraction=0.3, zoom_mode="keras", fill_mode="zeros")
    width = (out[:, 0, 16, :] > 0.5).sum(1).float()  # length of the horizontal line
    height = (out[:, 0, :, 16] > 0.5).sum(1).float()
    assert not torch.allclose(width, height)  # isotropic zoom would keep them equal
    iso, _ = _apply("zoom", x, zoom_fraction=0.3, zoom_mode="isotropic", fill_mode="zeros")
    assert torch.allclose((iso[:, 0, 16, :] > 0.5).sum(1).float(), (iso[:, 0, :, 16] > 0.5).sum(1).float())


@pytest.mark.parametrize("key, value, fragment", [
    ("fill_mode", "wrap", "unknown fill_mode 'wrap'; valid: zeros, nearest, reflect"),
    ("zoom_mode", "both", "unknown zoom_mode 'both'; valid: isotropic, keras"),
    ("color_contrast", 1.5, "color_contrast must be a number in [0, 1], got 1.5"),
])
def test_bad_fidelity_values_are_one_line(key, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        TrainConfig(**{key: value}).validate()
