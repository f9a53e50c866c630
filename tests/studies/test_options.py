"""The one table of option ranges (studies._options): every rule refuses NaN, infinities and values
outside its range with one line naming the value and the range; the Python entry points use it."""

from __future__ import annotations

import math

import pytest

from studies._options import RULES, SEED_MAX, OptionError, check_options, rule


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_refuses_nan_infinities_and_out_of_range_values(name):
    found = RULES[name]
    low, high = found.bounds()
    bad = [math.nan, math.inf, -math.inf, "x", True]
    bad += [low - 1] if low is not None else []
    bad += [high + 1] if high is not None else []
    bad += [low] if low is not None and found.low_open else []
    for value in bad:
        with pytest.raises(OptionError) as caught:
            check_options(**{name: value})
        message = str(caught.value)
        assert "\n" not in message and message.startswith(found.flag) and "valid:" in message, message
    edges = [b for b, is_open in ((low, found.low_open), (high, found.high_open)) if b is not None and not is_open]
    good = edges[0] if edges else 0.5
    check_options(**{name: found.kind(good)})  # the edge itself is valid


def test_the_seeds_of_every_repeat_must_fit_in_32_bits():
    check_options(seed=SEED_MAX - 2, repeats=3)
    with pytest.raises(OptionError, match=r"--seed 4294967294 with 3 repeats needs seeds up to 4294967296"):
        check_options(seed=SEED_MAX - 1, repeats=3)
    with pytest.raises(OptionError, match="with 10 repeats"):  # a race's most seeds count
        check_options(seed=SEED_MAX - 5, max_repeats=10)


def test_workers_are_limited_by_the_cores_or_the_gpus(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    check_options(workers=8)
    with pytest.raises(OptionError, match=r"--workers 9 is out of range on 2 CPU core\(s\), 4 per core; valid: .* 1 to 8"):
        check_options(workers=9)
    with pytest.raises(OptionError, match=r"--workers 99999999999999999999 is out of range"):
        check_options(workers=99999999999999999999)
    check_options(workers=4, gpus=["0", "1"], trials_per_gpu=2)
    with pytest.raises(OptionError, match=r"with 2 GPU\(s\) x 1 trial\(s\) per GPU; valid: an integer from 1 to 2"):
        check_options(workers=3, gpus=["0", "1"], trials_per_gpu="1")  # as the CLI passes it: text
    check_options(workers=16, gpus=["0", "1"], trials_per_gpu="auto")  # measured on the GPU, capped there


def test_names_without_a_rule_and_values_not_given_are_ignored():
    check_options(preset="demo", seed=None, margin=None, repeats="auto", func=print)


def test_a_new_option_is_one_line_and_a_duplicate_is_refused(monkeypatch):
    monkeypatch.setattr("studies._options.RULES", dict(RULES))
    rule("trials_per_gpu_test", int, 1, 64)
    with pytest.raises(OptionError, match=r"--trials-per-gpu-test 65 is out of range; valid: an integer from 1 to 64"):
        check_options(trials_per_gpu_test=65)
    with pytest.raises(ValueError, match="already has a rule"):
        rule("seed", int, 0, 1)


def test_the_python_entry_points_check_their_options(tmp_path):
    from studies import RaceSettings, StorageOptions, launch, load_preset
    from studies._spec import Overrides

    spec = load_preset("demo")
    with pytest.raises(OptionError, match="--seed -1"):
        spec.replace(seed=-1)
    with pytest.raises(OptionError, match="--epochs 0"):
        Overrides(epochs=0).apply(spec)
    with pytest.raises(OptionError, match="--margin inf"):
        RaceSettings(margin=math.inf)
    with pytest.raises(OptionError, match="--grace-period"):
        StorageOptions(heartbeat_interval=1, grace_period=10**20)
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(OptionError, match="--workers 99999999999999999999"):
        launch(spec, storage=url, workers=99999999999999999999, progress=False)
    assert not list(tmp_path.iterdir()), "nothing is written"
