"""Training throughput: layerlab's trainer against a hand-written loop and a DataLoader pipeline.

Run from the repository root:  python benchmarks/bench_trainer.py  [--rounds R] [--quick]

In one process it trains the same model three ways and prints images per second:

  (a) layerlab:   objectives.train.fit (resident tensors; augmentation per sample on the device)
  (b) hand loop:  a minimal loop over the same preloaded, normalised tensors (no augmentation)
  (c) DataLoader: the seed papers' pipeline, a torchvision Dataset whose __getitem__ turns each
                  image into a PIL image and runs per-sample transforms, batched by a DataLoader

(a) runs twice: without augmentation, to compare with (b), and with the same augmentation as
(c). By default that is seed 001's whole list (section 3.1): rotation up to 40 degrees, horizontal
flip p=0.5, brightness/contrast/saturation jitter (0.2) and sharpness (factor 2, p=0.5);
``--augment flip+rotate`` measures a lighter pipeline.
Every method trains the same architecture with the same optimizer, batch size, thread count and
images; only the timed training passes count (warm-up, model building and (a)'s per-epoch
validation are excluded; (a)'s throughput is the one ``FitResult.images_per_second`` reports).
Methods run in interleaved rounds, and a ratio is the median over rounds of the ratio within a
round, so a change in machine load hits both sides of a ratio alike. Throughput is shown per
wall-clock second and per CPU second of this process (the latter is disturbed less by other
processes on a shared machine). The ratios (a)/(b) and (a)/(c) are the last lines printed.

Models: BaseSeq (the ``seq`` family with its default layers, seed 000) on mnist5k at 28x28x1, and
cifar_resnet-20 (seed 001) on mnist5k zero-padded to 32x32 and repeated to 3 channels (built
here from the 28x28 pixels, as seed 001 did with Fashion-MNIST; a subset keeps it quick).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import VisionDataset
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from objectives.data._prepare import PreparedData, prepare_data
from objectives import RunConfig
from objectives.train._trainer import fit  # noqa: E402
from objectives.data._prepare import channel_stats  # noqa: E402
from objectives.train._device import cpu_threads  # noqa: E402
from objectives.train._trainer import build_for_data  # noqa: E402

SEED_001_AUGMENT = "flip+rotate+color+sharpness"
ROTATE_DEGREES = 40.0  # seed 001: "random rotations of up to 40 degrees"
COLOR_STRENGTH = 0.2  # layerlab's default color_brightness/contrast/saturation (seed 001 gives no value)
SHARPNESS_FACTOR = 2.0  # layerlab's default sharpness_factor (seed 001 gives no value)
BATCH = 128  # seed 001's batch size


class TensorImages(VisionDataset):
    """uint8 (N, C, H, W) images served one PIL image at a time, as torchvision's MNIST/CIFAR
    datasets do, with a per-sample ``transform``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        super().__init__(root=None, transform=transform)
        mode = "L" if x.shape[1] == 1 else "RGB"
        arrays = x.permute(0, 2, 3, 1).numpy()
        self.images = [Image.fromarray(a[:, :, 0] if mode == "L" else a, mode=mode) for a in arrays]
        self.labels = y.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def padded_rgb(data: PreparedData, size: int = 32, n_train: int = 1280, n_eval: int = 256) -> PreparedData:
    """mnist5k zero-padded to ``size`` and repeated to 3 channels (seed 001's Fashion-MNIST recipe)."""

    def adapt(x: torch.Tensor) -> torch.Tensor:
        pad = (size - x.shape[-1]) // 2
        return F.pad(x, (pad, pad, pad, pad)).repeat(1, 3, 1, 1).contiguous()

    x_train = adapt(data.x_train[:n_train])
    return dataclasses.replace(
        data,
        name=f"{data.name} padded to {size}x{size}x3",
        x_train=x_train, y_train=data.y_train[:n_train],
        x_val=adapt(data.x_val[:n_eval]), y_val=data.y_val[:n_eval],
        x_test=adapt(data.x_test[:n_eval]), y_test=data.y_test[:n_eval],
        stats=channel_stats(x_train),
        _finished={},
    )


Speed = tuple[float, float]  # (images per wall-clock second, images per CPU second)


def run_layerlab(run: RunConfig, data: PreparedData, seed: int) -> Speed:
    result = fit(run, data, seed=seed)
    images = sum(h.images for h in result.history)
    return result.images_per_second, images / sum(h.train_pass_cpu_seconds for h in result.history)


class Clock:
    """Wall-clock and process CPU time of a block (CPU time counts this process's threads only)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def speed(self, images: int) -> Speed:
        return images / (time.perf_counter() - self.wall), images / (time.process_time() - self.cpu)

    def __exit__(self, *exc) -> None:
        pass


def hand_loop(run: RunConfig, data: PreparedData, epochs: int = 1) -> Speed:
    """(b): the shortest correct loop over preloaded normalised tensors."""
    model = build_for_data(run, data)
    opt = torch.optim.Adam(model.parameters(), lr=run.train.lr)
    x, y = data.inputs("train"), data.y_train
    model.train()
    with Clock() as clock:
        for _ in range(epochs):
            perm = torch.randperm(len(y))
            for i in range(0, len(y), BATCH):
                idx = perm[i : i + BATCH]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return clock.speed(epochs * len(y))


def loader_loop(run: RunConfig, data: PreparedData, dataset: TensorImages, workers: int) -> Speed:
    """(c): per-sample PIL transforms through a DataLoader, as the seed papers trained."""
    model = build_for_data(run, data)
    opt = torch.optim.Adam(model.parameters(), lr=run.train.lr)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                        persistent_workers=False)
    model.train()
    seen = 0
    with Clock() as clock:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(yb)
        return clock.speed(seen)


def seed_paper_transform(data: PreparedData, augment: str) -> v2.Compose:
    """Per-sample PIL transforms in seed 001's order (rotate, flip, colour, sharpness), then
    tensor conversion and normalisation with the same statistics layerlab uses."""
    names = augment.split("+")
    steps = []
    if "rotate" in names:
        steps.append(v2.RandomRotation(ROTATE_DEGREES))
    if "flip" in names:
        steps.append(v2.RandomHorizontalFlip())
    if "color" in names:
        steps.append(v2.ColorJitter(brightness=COLOR_STRENGTH, contrast=COLOR_STRENGTH, saturation=COLOR_STRENGTH))
    if "sharpness" in names:
        steps.append(v2.RandomAdjustSharpness(SHARPNESS_FACTOR))
    return v2.Compose([
        *steps,
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(data.stats["mean"], data.stats["std"]),
    ])


def bench(label: str, flat: dict, data: PreparedData, rounds: int, workers: int, augment: str):
    plain = RunConfig.from_flat({**flat, "batch_size": BATCH, "epochs": 1, "early_stopping": False})
    augmented = RunConfig.from_flat({
        **flat, "batch_size": BATCH, "epochs": 1, "early_stopping": False, "augment": augment,
        "rotate_degrees": ROTATE_DEGREES, "color_brightness": COLOR_STRENGTH,
        "color_contrast": COLOR_STRENGTH, "color_saturation": COLOR_STRENGTH, "sharpness_factor": SHARPNESS_FACTOR,
    })
    dataset = TensorImages(data.x_train, data.y_train, seed_paper_transform(data, augment))
    n = len(data.y_train)
    print(f"\n{label}: {n} training images of {tuple(data.x_train.shape[1:])}, batch {BATCH}, "
          f"adam, {torch.get_num_threads()} thread(s), {rounds} rounds of 1 epoch", flush=True)
    methods = {
        "(a) layerlab fit, no augmentation": lambda r: run_layerlab(plain, data, r),
        "(b) hand-written loop, no augmentation": lambda r: hand_loop(plain, data),
        f"(a) layerlab fit, {augment}": lambda r: run_layerlab(augmented, data, r),
        f"(c) DataLoader ({workers} workers), {augment}": lambda r: loader_loop(plain, data, dataset, workers),
    }
    # warm-up: one untimed pass of each on a slice, so first-call costs are not measured
    small = dataclasses.replace(data, x_train=data.x_train[: 2 * BATCH], y_train=data.y_train[: 2 * BATCH], _finished={})
    run_layerlab(augmented, small, 0)
    hand_loop(plain, small)
    loader_loop(plain, small, TensorImages(small.x_train, small.y_train, seed_paper_transform(data, augment)), workers)
    speeds: dict[str, list[Speed]] = {name: [] for name in methods}
    for r in range(rounds):
        for name, method in methods.items():
            torch.manual_seed(r)
            speeds[name].append(method(r))
    wall = {name: statistics.median(s[0] for s in v) for name, v in speeds.items()}
    cpu = {name: statistics.median(s[1] for s in v) for name, v in speeds.items()}
    print(f"  {'method (median of rounds)':<60} {'img/s':>7} {'img/CPU-s':>10}   rounds (img/s)")
    for name in methods:
        spread = ", ".join(f"{s[0]:.0f}" for s in speeds[name])
        print(f"  {name:<60} {wall[name]:7.0f} {cpu[name]:10.0f}   {spread}", flush=True)
    a, b, a_aug, c = (speeds[name] for name in methods)

    def ratio(top: list[Speed], bottom: list[Speed], which: int) -> float:
        return statistics.median(t[which] / u[which] for t, u in zip(top, bottom))

    return {
        "a/b": (ratio(a, b, 0), ratio(a, b, 1)),
        # with DataLoader workers, (c)'s CPU time is spent in other processes: no CPU ratio
        "a/c": (ratio(a_aug, c, 0), ratio(a_aug, c, 1) if workers == 0 else math.nan),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per method (median reported)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for (c) (torch's default: 0)")
    parser.add_argument("--augment", default=SEED_001_AUGMENT,
                        help=f"augmentation for (a) and (c), from flip, rotate, color, sharpness (default {SEED_001_AUGMENT})")
    parser.add_argument("--quick", action="store_true", help="1 round, smaller ResNet subset (a smoke run)")
    args = parser.parse_args()
    # All three methods run with the thread count layerlab's trainer uses on CPU, so the ratios
    # measure the training pipelines rather than thread settings.
    torch.set_num_threads(cpu_threads())
    rounds = 1 if args.quick else args.rounds
    mnist = prepare_data(RunConfig.from_flat({"family": "seq", "dataset": "mnist5k"}).data)
    rgb32 = padded_rgb(mnist, n_train=384 if args.quick else 1024)
    started = time.perf_counter()
    ratios = {
        "BaseSeq 28x28x1": bench("BaseSeq (seq, default layers) on mnist5k 28x28x1",
                                 {"family": "seq", "dataset": "mnist5k"}, mnist, rounds, args.workers, args.augment),
        "cifar_resnet-20 32x32x3": bench("cifar_resnet-20 on mnist5k padded to 32x32x3",
                                         {"family": "cifar_resnet", "depth": 20, "dataset": "mnist5k"},
                                         rgb32, rounds, args.workers, args.augment),
    }
    print(f"\ntotal {time.perf_counter() - started:.0f} s; targets on 2 CPU cores: (a)/(b) >= 1.0, (a)/(c) >= 2.0")
    print("(ratios of images per wall-clock second; per CPU second in brackets, which a busy machine"
          " disturbs less)")
    for label, r in ratios.items():
        (ab, ab_cpu), (ac, ac_cpu) = r["a/b"], r["a/c"]
        print(f"ratio {label:<24} (a)/(b) = {ab:.2f} [{ab_cpu:.2f}]   (a)/(c) = {ac:.2f} [{ac_cpu:.2f}]")


if __name__ == "__main__":
    main()
