"""``study launch --queue-only`` writes no cell whose model cannot build, even without the data."""

from __future__ import annotations

import textwrap

import pytest

from objectives.data._config import DataConfig
from objectives.data._shapes import data_shape, published_shape
from searchspace._errors import FamilyError
from searchspace import LayerlabError
from studies import load_preset
from studies.engine._launch import create_or_resume


def _preset(tmp_path, dataset: str, depth: int, pad: int = 0):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: q
        sampler: grid
        repeats: 1
        defaults: {{family: vgg, width_base: 4, dataset: {dataset}, pad_to: {pad}, epochs: 1}}
        space:
          depth: [7, {depth}]
        """))
    return load_preset(str(path))


@pytest.mark.parametrize(
    "cfg, shape",
    [
        (DataConfig(dataset="mnist"), (1, (28, 28), 10)),
        (DataConfig(dataset="cifar10:hard2:128"), (3, (32, 32), 2)),
        (DataConfig(dataset="fashion_mnist", to_rgb=True, pad_to=32, upsample=2), (3, (64, 64), 10)),
        (DataConfig(dataset="pathmnist", medmnist_size=64), (3, (64, 64), 9)),
    ],
)
def test_published_shapes_follow_the_image_operations(cfg, shape):
    got = published_shape(cfg)
    assert (got.in_channels, got.input_size, got.num_classes) == shape


def test_data_shape_reads_embedded_data_and_falls_back_without_files(tmp_path):
    assert data_shape(DataConfig(dataset="digits")).input_size == (8, 8)
    assert data_shape(DataConfig(dataset="cifar100"), data_dir=tmp_path / "empty").num_classes == 100


def test_queue_only_refuses_a_model_that_cannot_build_without_the_data(tmp_path):
    # VGG-16 has 5 pools: 28x28 MNIST shrinks to zero. No MNIST files exist here.
    url = f"sqlite:///{tmp_path / 'q.db'}"
    spec = _preset(tmp_path, "mnist", 16)
    with pytest.raises(FamilyError, match="vgg depth 16 has 5 max-pools; a 28x28 input"):
        create_or_resume(spec, url, "q", data_dir=tmp_path / "empty", check_data=False)
    assert not (tmp_path / "q.db").exists()  # nothing written
    # padded to 32 it builds, and the cells are queued without any data present
    ok = _preset(tmp_path, "mnist", 16, pad=32)
    study = create_or_resume(ok, url, "q", data_dir=tmp_path / "empty", check_data=False)
    assert len(study.trials) == 2


def test_queue_only_checks_embedded_data_shapes(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    with pytest.raises(LayerlabError, match="8x8 input"):
        create_or_resume(_preset(tmp_path, "digits", 9), url, "q", check_data=False)


def test_queue_only_checks_the_data_shape_of_a_sampled_study(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        name: s
        sampler: random
        n_trials: 2
        defaults: {family: seq, dataset: cifar10, pad_to: 16, epochs: 1}
        space:
          lr: {type: float, low: 0.001, high: 0.1, log: true}
        """))
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(LayerlabError, match="pad_to 16 is smaller than the images"):
        create_or_resume(load_preset(str(path)), url, "s", data_dir=tmp_path / "empty", check_data=False)
