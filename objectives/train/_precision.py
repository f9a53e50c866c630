"""Training precision: the ``precision`` key (fp32 | bf16 | fp16 | auto) and what it runs.

- ``fp32``: float32 throughout, TF32 off (IEEE float32 matrix products and convolutions).
- ``bf16``: bfloat16 autocast (CUDA, or the CPU's autocast when asked for explicitly).
- ``fp16``: float16 autocast with a ``torch.amp.GradScaler`` (float16's range is too narrow for
  unscaled gradients). CUDA only: a CPU run refuses it before anything is written.
- ``auto`` (the default): on a CPU, fp32 (a CPU result does not depend on whether the CPU has
  bf16 units). On CUDA, the faster of ``tf32`` (float32 storage, TF32 matrix products and
  convolutions, on GPUs that have TF32: compute capability 8.0 and later; plain fp32 before) and
  ``bf16``, measured per model, batch size and input shape by a short probe (cached per process),
  at equal accuracy: bf16 is picked only if it is at least :data:`PROBE_MARGIN` faster *and* its
  loss after the probe's steps stays within :data:`PROBE_LOSS_RTOL` of the float32 one. The first
  GPU run measured why a fixed choice is wrong: bf16 autocast ran ResNet-20 at batch 128 at 0.71-0.75x
  of fp32 (small kernels are launch-bound, autocast adds casts) but faster at batch 2048.

What ran is recorded on every trial (user attribute ``precision``: fp32, tf32, bf16 or fp16).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from objectives.train._build import build_for_data
from objectives.train._config import PRECISIONS  # the values of the ``precision`` key
from searchspace.errors import ConfigError, valid_list

if TYPE_CHECKING:
    from objectives._config import RunConfig
    from objectives.data import PreparedData

log = logging.getLogger("layerlab")

RESOLVED = ("fp32", "tf32", "bf16", "fp16")  # what a trial records as having run
PROBE_STEPS = 5  # timed optimizer steps per candidate in auto's probe, after 2 warm-up steps
PROBE_MARGIN = 1.05  # bf16 must be at least this much faster than tf32 / fp32 to be picked
PROBE_LOSS_RTOL = 0.05  # ...and its loss after the probe's steps within 5% of float32's
# Forward FLOPs of one batch below which auto skips the probe and runs tf32 / fp32: such steps are
# launch-bound, where autocast only adds cast kernels (bf16 was 0.71-0.75x of fp32 for ResNet-20
# at batch 128 on the H200, about 10 GFLOP a batch); bigger steps are probed.
SMALL_STEP_FLOPS = 2e9
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(name: Any, device: torch.device | str | None = None) -> str:
    """``name`` if it is a valid precision for ``device`` (None: only the name is checked); else
    ConfigError naming the value and what is valid."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; valid: {valid_list(PRECISIONS)}")
    if device is None:
        return name
    kind = torch.device(device).type
    if name == "fp16" and kind != "cuda":
        raise ConfigError(f"precision 'fp16' needs a CUDA GPU (float16 autocast with a GradScaler); this run is on "
                          f"{kind}: use precision fp32, bf16 or auto")
    if name == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("precision 'bf16' is not supported by this GPU; use precision fp32, fp16 or auto")
    return name


@dataclass(frozen=True)
class Precision:
    """What a fit runs in: ``name`` one of :data:`RESOLVED`; ``reason`` says why (auto's probe)."""

    name: str = "fp32"
    reason: str = "asked for"

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: no autocast)."""
        return _DTYPES.get(self.name)

    def autocast(self, device: torch.device):
        """The autocast context of this precision on ``device`` (a no-op for fp32 / tf32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler | None:
        """fp16's gradient scaler (None for the others, which need none)."""
        return torch.amp.GradScaler(device.type) if self.name == "fp16" else None

    @contextlib.contextmanager
    def math_mode(self, device: torch.device) -> Iterator[None]:
        """TF32 on for tf32 (and under autocast, where float32 leftovers may use it), off for
        fp32; torch's process-wide flags are restored afterwards. Nothing changes on a CPU."""
        if device.type != "cuda":
            yield
            return
        before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        allow = self.name != "fp32"
        torch.set_float32_matmul_precision("high" if allow else "highest")
        torch.backends.cudnn.allow_tf32 = allow
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(before[0])
            torch.backends.cudnn.allow_tf32 = before[1]


def has_tf32(device: torch.device) -> bool:
    """Whether ``device`` is a GPU with TF32 units (NVIDIA compute capability 8.0, Ampere, or later)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8


_PROBED: dict[tuple, Precision] = {}


def resolve_precision(run: RunConfig, data: PreparedData, *, build: Any = None) -> Precision:
    """What a fit of ``run`` on ``data`` runs in (``build(run, data)`` makes the model, as in fit).

    Raises ConfigError for a precision the device cannot run (fp16 on a CPU)."""
    name = check_precision(run.train.precision, data.device)
    device = data.device
    if name != "auto":
        return Precision(name, "asked for")
    if device.type != "cuda":
        return Precision("fp32", f"auto on {device.type}: fp32")
    return probe_precision(run, data, build=build or build_for_data)


def probe_precision(run: RunConfig, data: PreparedData, *, build: Any, steps: int = PROBE_STEPS) -> Precision:
    """auto on CUDA: time ``steps`` optimizer steps of ``run``'s model at its batch size in tf32
    (fp32 where the GPU has no TF32) and in bf16, from the same weights and batch; cached per
    process by architecture, batch size, optimizer, input shape and device. The global RNG is
    left as it was."""
    device = data.device
    full = "tf32" if has_tf32(device) else "fp32"
    key = (run.family, repr(sorted(run.model.items())), run.init, run.train.batch_size, run.train.optimizer,
           tuple(data.x_train.shape[1:]), data.upsample, str(device), build)
    if key in _PROBED:
        return _PROBED[key]
    candidates = [full] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    timings: dict[str, tuple[float, float]] = {}
    index = device.index if device.index is not None else torch.cuda.current_device()
    with torch.random.fork_rng(devices=[index]):
        torch.manual_seed(0)
        model = build(run, data).to(device).to(memory_format=torch.channels_last)
        bs = min(run.train.batch_size, len(data.y_train))
        from objectives.train._metrics import count_flops

        step_flops = count_flops(model, (data.in_channels, *data.input_size), device) * bs
        if step_flops < SMALL_STEP_FLOPS:
            candidates = [full]  # launch-bound: nothing to probe
        start_state = copy.deepcopy(model.state_dict())
        x = data.inputs("train")[:bs].contiguous(memory_format=torch.channels_last)
        y = data.y_train[:bs]
        for name in candidates if len(candidates) > 1 else ():
            model.load_state_dict(start_state)
            timings[name] = _time_steps(model, run, x, y, Precision(name), steps)
    if len(candidates) == 1:
        small = f"auto: {step_flops / 1e9:.2g} GFLOP a batch is launch-bound"
        chosen = Precision(full, small if torch.cuda.is_bf16_supported() else "auto: this GPU has no bf16")
    else:
        chosen = choose_precision(full, timings)
    log.info("precision for %s at batch %d: %s (%s)", run.family, run.train.batch_size, chosen.name, chosen.reason)
    _PROBED[key] = chosen
    return chosen


def choose_precision(full: str, timings: dict[str, tuple[float, float]]) -> Precision:
    """auto's rule on the probe's ``{name: (seconds, last loss)}``: bf16 when it is at least
    :data:`PROBE_MARGIN` faster than ``full`` (tf32 or fp32) and its loss is within
    :data:`PROBE_LOSS_RTOL` of ``full``'s; else ``full``."""
    seconds, loss = timings[full]
    if "bf16" not in timings:
        return Precision(full, "auto: this GPU has no bf16")
    bf16_seconds, bf16_loss = timings["bf16"]
    speedup = seconds / max(bf16_seconds, 1e-12)
    close = math.isfinite(bf16_loss) and abs(bf16_loss - loss) <= PROBE_LOSS_RTOL * max(abs(loss), 1e-6)
    if not close:
        return Precision(full, f"auto: bf16's probe loss {bf16_loss:.4g} differs from {full}'s {loss:.4g}")
    if speedup >= PROBE_MARGIN:
        return Precision("bf16", f"auto: bf16 {speedup:.2f}x as fast as {full}, same loss within {PROBE_LOSS_RTOL:.0%}")
    return Precision(full, f"auto: bf16 only {speedup:.2f}x as fast as {full}")


def _time_steps(model, run: RunConfig, x: torch.Tensor, y: torch.Tensor, precision: Precision, steps: int):
    """(seconds of ``steps`` optimizer steps after 2 warm-up steps, loss of the last step)."""
    from objectives.train._loss import classification_loss
    from objectives.train._optim import build_optimizer

    device = x.device
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], run.train)
    scaler = precision.scaler(device)
    model.train()
    loss = torch.zeros((), device=device)
    with precision.math_mode(device):
        for step in range(2 + steps):
            if step == 2:
                torch.cuda.synchronize(device)
                start = time.perf_counter()
            with precision.autocast(device):
                logits = model(x)
            loss = classification_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, float(loss)
