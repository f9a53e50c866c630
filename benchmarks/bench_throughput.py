"""Training images per second of one representative config per family, for the cost estimates of
`space grid` and docs/presets.md (studies/_estimate.py's IMAGES_PER_SECOND).

    python benchmarks/bench_throughput.py [--device cpu|cuda] [--steps 6] [--batch 64]

Each family: forward + backward + Adam step on random images of the shape its presets use,
float32, channels-last, after 2 warm-up steps; on CPU with one thread (layerlab's default,
LAYERLAB_THREADS=1). Synthetic tensors: what is measured is the model's arithmetic, which
dominates on a CPU; data loading and evaluation are not included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from searchspace import build_model  # noqa: E402

# family: (model keys, channels, size, classes, what)
MODELS = {
    "seq": ({"layers": "Conv-BN-PL-DropL-FCL-AL"}, 3, 32, 10, "BaseSeq, 32x32x3"),
    "fcl": ({}, 3, 32, 10, "Base0, 32x32x3"),
    "resnet": ({"depth": 18}, 3, 32, 10, "ResNet-18, 32x32x3"),
    "cifar_resnet": ({"depth": 20}, 3, 32, 10, "ResNet-20, 32x32x3"),
    "vgg": ({"depth": 11}, 3, 32, 10, "VGG-11, 32x32x3"),
    "baseline_cnn": ({}, 3, 32, 10, "seed 002's CNN, 32x32x3"),
    "skip_cnn": ({}, 1, 28, 10, "CNN-1, 28x28x1"),
}


def measure(family: str, device: str, steps: int, batch: int) -> float:
    keys, channels, size, classes, _ = MODELS[family]
    torch.manual_seed(0)
    model = build_model(family, in_channels=channels, num_classes=classes, input_size=size, **keys).to(device)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, channels, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--only", action="append", help="family (repeatable)")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(int(os.environ.get("LAYERLAB_THREADS", "1")))
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    for family in args.only or MODELS:
        try:
            speed = measure(family, args.device, args.steps, args.batch)
        except Exception as exc:  # a family whose representative config does not build: say so, go on
            print(f"{family:<14} failed: {type(exc).__name__}: {exc}")
            continue
        print(f"{family:<14} {speed:>9.1f} images/s  ({MODELS[family][4]}, {args.device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
