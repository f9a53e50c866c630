"""The ``precision`` training key: validation, the CPU's rules, what is recorded, auto's rule."""

from __future__ import annotations

import math

import pytest
import torch

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.train import _precision
from objectives.train._precision import Precision, check_precision, choose_precision, resolve_precision
from searchspace import ConfigError

FAST = {"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 4, "fc_units": 8,
        "epochs": 1, "early_stopping": False, "batch_size": 128}


def _run(**extra) -> RunConfig:
    return RunConfig.from_flat({**FAST, **extra})


def test_an_unknown_precision_is_one_line_naming_the_valid_ones():
    with pytest.raises(ConfigError, match=r"^unknown precision 'fp8'; valid: auto, fp32, bf16, fp16$"):
        _run(precision="fp8")


def test_fp16_on_a_cpu_is_refused_before_training(monkeypatch):
    run, data = _run(precision="fp16"), prepare_data(_run().data)
    monkeypatch.setattr("objectives.train._trainer._SeedFit.__init__", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ConfigError, match=r"precision 'fp16' needs a CUDA GPU .* use precision fp32, bf16 or auto"):
        fit(run, data, seed=0)
    assert check_precision("fp16") == "fp16"  # the name alone is valid: a GPU run may take it


def test_auto_is_fp32_on_a_cpu_and_keeps_the_config_id():
    data = prepare_data(_run().data)
    result = fit(_run(), data, seed=0)
    assert result.extra["precision"] == "fp32"
    assert _run(precision="auto").config_id == _run().config_id  # auto: the id configs always had
    assert _run(precision="bf16").config_id != _run().config_id


def test_bf16_runs_under_cpu_autocast_only_when_asked():
    data = prepare_data(_run().data)
    dtypes = {}

    def build(run, data_):
        from objectives.train._build import build_for_data

        model = build_for_data(run, data_)
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda m, i, out: dtypes.setdefault(run.train.precision, out.dtype) and None)
        return model

    asked = fit(_run(precision="bf16"), data, seed=0, build=build)
    fit(_run(), data, seed=0, build=build)
    assert dtypes == {"bf16": torch.bfloat16, "auto": torch.float32}
    assert asked.extra["precision"] == "bf16" and math.isfinite(asked.history[0].train_loss)


def test_fp16_trains_through_its_grad_scaler(monkeypatch):
    # The GradScaler path (scale, unscale for clipping, step, update) is CUDA's; on a CPU it runs
    # under CPU float16 autocast once the device check is lifted.
    monkeypatch.setattr(_precision, "check_precision", lambda name, device=None: name)
    calls = []
    real = torch.amp.GradScaler.update
    monkeypatch.setattr(torch.amp.GradScaler, "update", lambda self, *a: calls.append(1) or real(self, *a))
    run = _run(precision="fp16", grad_clip=1.0)
    result = fit(run, prepare_data(run.data), seed=0)
    assert result.extra["precision"] == "fp16" and math.isfinite(result.history[0].train_loss)
    assert len(calls) == len(result.history) * math.ceil(result.history[0].images / 128)  # one update per step


@pytest.mark.parametrize(
    "timings, chosen",
    [
        ({"tf32": (1.0, 2.0), "bf16": (0.5, 2.01)}, "bf16"),  # 2x faster, same loss
        ({"tf32": (1.0, 2.0), "bf16": (1.4, 2.0)}, "tf32"),  # bf16 slower (ResNet-20 at batch 128 on the H200)
        ({"tf32": (1.0, 2.0), "bf16": (0.5, 2.5)}, "tf32"),  # faster, but its loss drifted: not equal accuracy
        ({"tf32": (1.0, 2.0), "bf16": (0.5, math.nan)}, "tf32"),
        ({"fp32": (1.0, 2.0)}, "fp32"),  # a GPU without bf16
    ],
)
def test_auto_picks_bf16_only_when_faster_at_the_same_loss(timings, chosen):
    full = "fp32" if "fp32" in timings else "tf32"
    assert choose_precision(full, timings).name == chosen


def test_fp32_and_tf32_need_no_autocast_or_scaler():
    cpu = torch.device("cpu")
    for name in ("fp32", "tf32"):
        assert Precision(name).dtype is None and Precision(name).scaler(cpu) is None
    assert Precision("bf16").dtype is torch.bfloat16
    assert resolve_precision(_run(precision="bf16"), prepare_data(_run().data)).name == "bf16"
