"""Channel and size adapters, filters before/after normalisation, upsampling, caffe mode, caching."""

from __future__ import annotations

import pytest
import torch

from objectives.data._config import DataConfig
from objectives.data._prepare import prepare_data
from objectives.data import _images
from objectives.data._prepare import CAFFE_BGR_MEAN, normalize
from searchspace import ConfigError

SUB = "mnist5k:hard2:128"  # 256 real 28x28 grayscale images, offline


def prep(**kwargs):
    return prepare_data(DataConfig(dataset=SUB, normalize=kwargs.pop("normalize", "unit"), **kwargs))


def test_to_rgb_repeats_the_grayscale_channel():
    gray, rgb = prep(), prep(to_rgb=True)
    assert gray.in_channels == 1 and rgb.in_channels == 3 and rgb.x_train.dtype == torch.uint8
    assert all(torch.equal(rgb.x_train[:, c], gray.x_train[:, 0]) for c in range(3))
    colour = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    assert _images.to_rgb(colour) is colour  # no-op on colour images


def test_pad_to_32_adds_a_zero_border_of_2_pixels():
    plain, padded = prep(), prep(pad_to=32)
    assert padded.input_size == (32, 32) and padded.x_train.dtype == torch.uint8
    assert torch.equal(padded.x_train[:, :, 2:30, 2:30], plain.x_train)
    border = padded.x_train.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.abs().sum()) == 0
    odd = _images.pad_to(torch.ones(1, 1, 28, 28, dtype=torch.uint8), 31)
    assert odd.shape[-2:] == (31, 31) and int(odd[0, 0, 1, 1]) == 1 and int(odd[0, 0, 0, 0]) == 0
    with pytest.raises(ConfigError, match="pad_to 16 is smaller than the images"):
        prep(pad_to=16)


def test_resize_changes_the_size_and_keeps_uint8():
    small = prep(resize=14)
    assert small.input_size == (14, 14) and small.x_train.dtype == torch.uint8
    plain = prep()
    # a 2x antialiased downscale is close to 2x2 average pooling
    pooled = torch.nn.functional.avg_pool2d(plain.x_train.float(), 2)
    assert (small.x_train.float() - pooled).abs().mean() < 12


def test_upsample_is_nearest_neighbour_in_finish():
    plain, up = prep(), prep(upsample=2)
    assert up.x_train.shape == plain.x_train.shape  # stored small; the model sees it upsampled
    assert up.input_size == (56, 56) and up.inputs("val").shape[-2:] == (56, 56)
    expected = plain.inputs("val").repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.equal(up.inputs("val"), expected)
    batch = up.finish(up.train_batch(torch.arange(4)))
    assert batch.shape == (4, 1, 56, 56)


def test_filter_before_saturates_and_after_does_not():
    before = prep(filter="sharpen", filter_order="before")
    after = prep(filter="sharpen", filter_order="after")
    plain = prep()
    assert before.x_train.dtype == torch.uint8  # filtered once, stored as saturated uint8
    b, a = before.inputs("train"), after.inputs("train")
    assert float(b.min()) >= 0.0 and float(b.max()) <= 1.0
    assert float(a.min()) < 0.0 and float(a.max()) > 1.0  # MNIST strokes overshoot when sharpened
    assert not torch.equal(a, b)
    # "before" is exactly cv2.filter2D on uint8: filter, round, saturate
    pixels = plain.x_train.float()
    expected = _images.apply_filter(pixels, "sharpen", 3).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(before.x_train, expected)
    # "after" is the filter on the normalised floats, unclipped; with a kernel summing to 1 it
    # agrees with "before" wherever nothing saturated
    assert torch.allclose(a, _images.apply_filter(plain.inputs("train"), "sharpen", 3))
    inside = (a > 0) & (a < 1)
    assert (a[inside] - b[inside]).abs().max() <= 0.5 / 255 + 1e-6


def test_blur_orders_differ_only_by_rounding():
    # caffe mode has fixed constants, so the only difference left is uint8 rounding ("standard"
    # would also differ by its statistics: "before" measures them on the filtered pixels)
    before = prep(filter="blur", filter_kernel=5, filter_order="before", normalize="caffe")
    after = prep(filter="blur", filter_kernel=5, filter_order="after", normalize="caffe")
    gap = (before.inputs("test") - after.inputs("test")).abs()  # on the 0..255 scale
    assert 0 < float(gap.max()) <= 0.5 + 1e-3


def test_filter_kernels_and_bad_values():
    assert torch.equal(_images.filter_weights("sharpen", 3), torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]))
    blur = _images.filter_weights("blur", 5)
    assert blur.shape == (5, 5) and abs(float(blur.sum()) - 1) < 1e-6
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(_images.apply_filter(flat, "blur", 3), flat)  # reflect borders: no dark rim
    with pytest.raises(ConfigError, match="filter sharpen uses the classic 3x3 kernel"):
        DataConfig(filter="sharpen", filter_kernel=5).validate()
    with pytest.raises(ConfigError, match="filter_kernel must be an odd width"):
        DataConfig(filter="blur", filter_kernel=4).validate()
    with pytest.raises(ConfigError, match="unknown filter 'emboss'; valid: none, sharpen, blur"):
        DataConfig(filter="emboss").validate()
    with pytest.raises(ConfigError, match="filter_kernel 17 is too wide for 8x8"):
        prepare_data(DataConfig(dataset="digits", filter="blur", filter_kernel=17))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"upsample": 0}, "upsample must be an integer factor"),
        ({"pad_to": -1}, "pad_to must be a pixel count"),
        ({"resize": 2.5}, "resize must be a pixel count"),
        ({"medmnist_size": 32}, "medmnist_size 32 is not published; valid: 28, 64, 128, 224"),
        ({"filter_order": "during"}, "unknown filter_order 'during'; valid: before, after"),
        ({"to_rgb": "yes"}, "to_rgb must be true or false"),
    ],
)
def test_bad_image_settings_are_config_errors(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        DataConfig(**kwargs).validate()


def test_caffe_mode_flips_rgb_to_bgr_and_centres_without_scaling():
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = normalize(x, "caffe", {})
    mean = torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(out, x.flip(1) * 255 - mean, atol=1e-4)
    assert torch.allclose(out[:, 0] + CAFFE_BGR_MEAN[0], x[:, 2] * 255, atol=1e-4)  # B first
    rgb = prep(to_rgb=True, normalize="caffe").inputs("val")
    assert float(rgb.max()) > 100 and float(rgb.min()) < -100  # 0..255 scale, centred


def test_preparation_is_cached_per_config_in_process():
    first = prep(to_rgb=True, pad_to=32, filter="blur")
    assert prep(to_rgb=True, pad_to=32, filter="blur") is first
    assert first.inputs("train") is first.inputs("train")
    assert prep(to_rgb=True, pad_to=32, filter="blur", filter_order="after") is not first


def test_operations_compose_in_the_documented_order():
    data = prep(to_rgb=True, pad_to=32, resize=16, filter="sharpen", upsample=3, normalize="standard")
    assert data.x_train.shape[1:] == (3, 16, 16) and data.x_train.dtype == torch.uint8
    assert data.input_size == (48, 48) and data.inputs("test").shape[1:] == (3, 48, 48)
    assert abs(float(data.inputs("train").mean())) < 1e-3  # standardised on the prepared train pixels
