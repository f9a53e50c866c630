"""GPU readiness in minutes: layerlab's training paths on synthetic CIFAR-shaped tensors.

Run from the repository root on a machine with a GPU (docs/gpu.md says what it needs):

    python benchmarks/bench_gpu.py                    # --device auto: CUDA when present
    python benchmarks/bench_gpu.py --device cpu --quick   # the smoke run the test suite does

Nothing is downloaded: images are random uint8 tensors of CIFAR's shape (3x32x32, 10 classes)
made on the device, so only throughput is measured, never accuracy. Four measurements, each a
ratio of images per second within this one run (same process, same device, same load):

1. **fit vs hand loop**: cifar_resnet-20 (seed 001: SGD 0.1, momentum 0.9, batch 128) trained by
   ``objectives.train.fit`` against the shortest correct hand-written loop over the same resident
   tensors with the same precision (bf16 autocast on CUDA) and memory format (channels-last).
   Seed 001 reported 1,216 img/s on its machine.
2. **batched vs sequential repeats**: seed 000's BaseSeq (``seq``, default layers) at batch 16,
   k = 5 seeds trained by ``fit_batched`` (one vmap-fused model; ``exact=False`` because BaseSeq
   has dropout, see objectives/train/_batched.py) against ``fit`` training them one by one.
3. **several trials per device**: P processes each training BaseSeq at batch 16 at the same time,
   against one process alone (aggregate images per second; each process warms up first, then all
   start together at a barrier).
4. **bf16 autocast and data residency**: the ResNet-20 hand loop in float32 against bf16 autocast,
   and with the data resident on the device against data on the host, each batch pinned (on
   CUDA) and copied to the device, as a DataLoader with ``pin_memory=True`` feeds it.

The first epoch of every timed run is a warm-up (cuDNN autotuning, allocator, lazy imports) and
is left out. The last lines printed are the ratios, ``ratio <name> <value>``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from objectives import PreparedData, RunConfig, fit  # noqa: E402
from objectives.data._prepare import channel_stats  # noqa: E402
from objectives.train import fit_batched, resolve_device, training_threads  # noqa: E402
from objectives.train._trainer import batch_bounds, build_for_data  # noqa: E402

SEED_001_IMAGES_PER_SECOND = 1216  # seed 001's reported ResNet-20 training throughput
RESNET = {"family": "cifar_resnet", "depth": 20, "dataset": "cifar10", "optimizer": "sgd", "lr": 0.1,
          "momentum": 0.9, "batch_size": 128}  # seed 001's recipe
BASESEQ = {"family": "seq", "dataset": "cifar10", "batch_size": 16}  # seed 000's BaseSeq, batch 16

# Sizes: (training images, evaluation images, epochs incl. the warm-up one)
FULL = {"resnet": (10_000, 1_000, 3), "seq": (4_000, 500, 3), "procs": (4_000, 500, 2)}
QUICK = {"resnet": (128, 64, 2), "seq": (160, 64, 2), "procs": (160, 64, 2)}


def synthetic(device: torch.device, n_train: int, n_eval: int, seed: int = 0) -> PreparedData:
    """Random CIFAR-shaped uint8 images and labels, resident on ``device``."""
    g = torch.Generator().manual_seed(seed)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)

    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, 10, (n,), generator=g)

    x_train = images(n_train)
    return PreparedData(
        name="synthetic CIFAR-shaped", classes=tuple(str(i) for i in range(10)), stats=channel_stats(x_train),
        x_train=x_train.to(device), y_train=labels(n_train).to(device),
        x_val=images(n_eval).to(device), y_val=labels(n_eval).to(device),
        x_test=images(n_eval).to(device), y_test=labels(n_eval).to(device),
    )


def _run(flat: dict, epochs: int, batch_size: int | None = None) -> RunConfig:
    extra = {"batch_size": batch_size} if batch_size else {}
    return RunConfig.from_flat({**flat, **extra, "epochs": epochs, "early_stopping": False})


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _after_warmup(history) -> tuple[int, float]:
    """(images, seconds) of the training passes after the first (warm-up) epoch."""
    timed = history[1:] or history
    return sum(h.images for h in timed), sum(h.train_pass_seconds for h in timed)


# -- 1 and 4: ResNet-20, layerlab's fit against hand loops ---------------------------------------


def fit_speed(run: RunConfig, data: PreparedData) -> float:
    result = fit(run, data, seed=0)
    images, seconds = _after_warmup(result.history)
    return images / seconds


def hand_loop(run: RunConfig, data: PreparedData, *, bf16: bool, resident: bool) -> float:
    """The shortest correct loop: SGD over shuffled batches of pre-normalised tensors; images/s
    after one warm-up epoch. ``resident=False`` keeps the inputs on the host and copies each
    batch to the device (pinned first on CUDA), as a DataLoader with ``pin_memory=True`` does."""
    device = data.device
    torch.manual_seed(0)
    model = build_for_data(run, data).to(device).to(memory_format=torch.channels_last)
    cfg = run.train
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    x, y = data.inputs("train"), data.y_train
    if not resident:
        x, y = x.cpu(), y.cpu()
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else _null()
    model.train()
    bounds = batch_bounds(len(y), cfg.batch_size)
    seconds = 0.0
    for epoch in range(cfg.epochs):
        _sync(device)
        start = time.perf_counter()
        perm = torch.randperm(len(y), device=x.device)
        for lo, hi in bounds:
            idx = perm[lo:hi]
            xb, yb = x[idx], y[idx]
            if not resident:  # as a DataLoader with pin_memory=True: pin the batch, copy it async
                if device.type == "cuda":
                    xb, yb = xb.pin_memory(), yb.pin_memory()
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            xb = xb.contiguous(memory_format=torch.channels_last)
            with precision:
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        if epoch > 0 or cfg.epochs == 1:  # epoch 0 warms up
            seconds += time.perf_counter() - start
    timed_epochs = max(cfg.epochs - 1, 1)
    return timed_epochs * bounds[-1][1] / seconds


def _loadavg() -> str:
    """The 1/5/15-minute load averages (on a shared machine, read the ratios beside them)."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- 2: batched repeats ------------------------------------------------------------------------------


def repeats_speed(run: RunConfig, data: PreparedData, k: int) -> tuple[float, float]:
    """(sequential, batched) images/s of k seeds of ``run``, warm-up epochs left out."""
    seeds = list(range(k))
    sequential = [fit(run, data, seed=seed) for seed in seeds]
    images = sum(_after_warmup(r.history)[0] for r in sequential)
    seq_seconds = sum(_after_warmup(r.history)[1] for r in sequential)
    batched = fit_batched(run, data, seeds=seeds, exact=False)
    bad = [o for o in batched if isinstance(o, BaseException)]
    if bad:
        raise bad[0]
    batch_images = sum(_after_warmup(r.history)[0] for r in batched)
    batch_seconds = sum(_after_warmup(r.history)[1] for r in batched)  # each holds its 1/k share
    return images / seq_seconds, batch_images / batch_seconds


# -- 3: several trials per device ------------------------------------------------------------------


def _trial_process(device_name: str, sizes: tuple[int, int, int], barrier, results, index: int) -> None:
    """One trial in its own process: warm up, wait for the others, train, report (images, seconds)."""
    device = torch.device(device_name)
    n_train, n_eval, epochs = sizes
    data = synthetic(device, n_train, n_eval, seed=index)
    fit(_run(BASESEQ, 1), data, seed=index)  # warm-up: kernels, allocator, lazy imports
    barrier.wait()
    _sync(device)
    start = time.perf_counter()
    result = fit(_run(BASESEQ, epochs), data, seed=index)
    _sync(device)
    results.put((sum(h.images for h in result.history), time.perf_counter() - start))


def processes_speed(device: torch.device, sizes: tuple[int, int, int], n: int) -> float:
    """Aggregate images/s of ``n`` trial processes sharing the device, timed from a common start."""
    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_trial_process, args=(str(device), sizes, barrier, results, i)) for i in range(n)]
    for p in procs:
        p.start()
    outcomes = []
    try:
        while len(outcomes) < n:
            try:
                outcomes.append(results.get(timeout=2.0))
            except queue.Empty:  # a child that died would leave the others waiting at the barrier
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a trial process exited with code {dead[0]}") from None
    finally:
        for p in procs:
            if p.is_alive() and len(outcomes) < n:
                p.terminate()
            p.join()
    return sum(images for images, _ in outcomes) / max(seconds for _, seconds in outcomes)


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every path (CPU test)")
    parser.add_argument("--repeats", type=int, default=5, help="k, the seeds trained batched (default 5)")
    parser.add_argument("--processes", type=int, default=None,
                        help="trial processes sharing the device (default: 4 on CUDA, 2 on CPU)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    sizes = QUICK if args.quick else FULL
    n_procs = args.processes or (4 if device.type == "cuda" else 2)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    print(f"bench_gpu: torch {torch.__version__} on {device} ({name}); {'quick' if args.quick else 'full'} sizes")
    print(f"load average at start: {_loadavg()}")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    started = time.perf_counter()
    ratios: dict[str, float] = {}

    n_train, n_eval, epochs = sizes["resnet"]
    batch = 32 if args.quick else None  # quick: several steps per epoch even on 128 images
    data = synthetic(device, n_train, n_eval)
    resnet = _run(RESNET, epochs, batch)
    with training_threads(device):
        hand = hand_loop(resnet, data, bf16=device.type == "cuda", resident=True)  # fit's precision
        fit_ips = fit_speed(resnet, data)
        fp32 = hand if device.type == "cpu" else hand_loop(resnet, data, bf16=False, resident=True)
        bf16 = hand_loop(resnet, data, bf16=True, resident=True)
        host = hand_loop(resnet, data, bf16=device.type == "cuda", resident=False)
    print(f"1. cifar_resnet-20, batch {resnet.train.batch_size}, {n_train} images x {epochs - 1} timed epoch(s):")
    print(f"   fit {fit_ips:,.0f} img/s; hand loop {hand:,.0f} img/s (seed 001 reported {SEED_001_IMAGES_PER_SECOND:,})")
    print(f"4. hand loop: float32 {fp32:,.0f} img/s, bf16 autocast {bf16:,.0f} img/s; "
          f"data on the host, copied per batch: {host:,.0f} img/s")
    ratios["fit/hand_loop resnet20"] = fit_ips / hand
    ratios["fit/seed001_reported resnet20"] = fit_ips / SEED_001_IMAGES_PER_SECOND

    n_train, n_eval, epochs = sizes["seq"]
    seq_data = synthetic(device, n_train, n_eval)
    seq_ips, batched_ips = repeats_speed(_run(BASESEQ, epochs), seq_data, args.repeats)
    print(f"2. BaseSeq, batch 16, k={args.repeats} seeds, {n_train} images x {epochs - 1} timed epoch(s): "
          f"sequential {seq_ips:,.0f} img/s, batched {batched_ips:,.0f} img/s")
    ratios[f"batched/sequential baseseq b16 k{args.repeats}"] = batched_ips / seq_ips

    one = processes_speed(device, sizes["procs"], 1)
    several = processes_speed(device, sizes["procs"], n_procs)
    print(f"3. BaseSeq trials per device: 1 process {one:,.0f} img/s, {n_procs} processes {several:,.0f} img/s in all")
    ratios[f"processes{n_procs}/one baseseq b16"] = several / one
    ratios["bf16/fp32 resnet20"] = bf16 / fp32
    ratios["resident/host resnet20"] = hand / host
    print(f"total {time.perf_counter() - started:.0f} s; load average at end: {_loadavg()}")
    for label, value in ratios.items():
        print(f"ratio {label} {value:.2f}")
    return ratios


if __name__ == "__main__":
    main()
