"""What a preset will cost before it runs: cells, epochs, training images, and hours on one GPU and
on one CPU core, so that nobody launches 100-epoch CIFAR-10 on a laptop by surprise.

cost (images) = sum over cells of max epochs x training images per epoch. It is an upper bound:
early stopping (on by default) usually ends a run sooner. Hours = images / measured training
images per second of the config's family (:data:`IMAGES_PER_SECOND`, from
``benchmarks/bench_throughput.py``), scaled by the image area (:func:`image_pixels`), plus nothing
for data loading or evaluation, so read it as the order of magnitude. Training-set sizes and image
sizes are the datasets' entries in the torch-free catalogue (``objectives.catalog``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from objectives.interface import find_dataset

# Pixels per image (height x width) come from each dataset's entry (image_size, 28x28 for MedMNIST
# at its default size): throughput is measured at 32x32 (28x28 for skip_cnn) and scaled by the
# pixel ratio, since a conv net's arithmetic grows with the image area.
DEFAULT_PIXELS = 784  # 28x28: a dataset whose entry states no image size
MEASURED_PIXELS = {"skip_cnn": 784}  # else 1024

# Training images per second of one representative config per family, batch 64, float32, measured
# with benchmarks/bench_throughput.py. "cpu": one core (LAYERLAB_THREADS=1, the default), measured
# on the shared 2-core development machine on 2026-11-30 (load average 9 on 2 cores: other jobs
# ran, so an idle core is faster; `python benchmarks/bench_throughput.py --steps 4`);
# "gpu": one NVIDIA H200, torch 2.11, Adam, batch 64, float32, one trial at a time
# (`python benchmarks/bench_throughput.py --device cuda`, issue 22's first GPU run; docs/gpu.md).
IMAGES_PER_SECOND: dict[str, dict[str, float | None]] = {
    "seq": {"cpu": 527.0, "gpu": 33_800.0},  # BaseSeq Conv-BN-PL-DropL-FCL-AL, 32x32x3
    "fcl": {"cpu": 22200.0, "gpu": 72_600.0},  # Base0, 32x32x3
    "resnet": {"cpu": 65.0, "gpu": 5_900.0},  # ResNet-18 (64-128-256-512), 32x32x3
    "cifar_resnet": {"cpu": 63.0, "gpu": 5_400.0},  # ResNet-20, 32x32x3
    "vgg": {"cpu": 16.0, "gpu": 15_500.0},  # VGG-11, 32x32x3
    "baseline_cnn": {"cpu": 104.0, "gpu": 20_800.0},  # seed 002's CNN, 32x32x3
    "skip_cnn": {"cpu": 74.0, "gpu": 34_600.0},  # CNN-1 of seed 003, 28x28x1 (CNN-3 and the router roughly double it)
}
# The GPU model, from the H200 figures: small models are launch-bound there, so a step costs about
# the same time whatever its batch (ResNet-20's hand loop: 18.2k img/s at batch 128, 71.6k at 512,
# 97.0k at 2048): images per second grow with the batch up to GPU_BATCH_SATURATION x the measured
# batch, and smaller images than the measured ones are no faster (larger ones are, by area, slower).
GPU_MEASURED_BATCH = 64
GPU_BATCH_SATURATION = 8  # beyond batch 512 the H200 was compute-bound (71.6k -> 97.0k for 4x the batch)
# Seconds per trial on the GPU besides training: model build, validation, test, the trial's
# storage writes, per-trial warm-up; from the demo's wall time on the H200 (36-37 s for 21 trials
# on one worker, about 8 s of it start-up, compute under 1 s). Re-measure with bench_gpu.py's study part.
GPU_TRIAL_OVERHEAD_SECONDS = 1.3
GPU_MEASURED_ON = "one NVIDIA H200, torch 2.11"


def gpu_images_per_second(family: str, batch_size: int, pixels: int) -> float | None:
    """Training images per second of one ``family`` trial on the GPU at ``batch_size`` on images of
    ``pixels`` pixels (the model above; None when the family was not measured on a GPU)."""
    speed = IMAGES_PER_SECOND.get(family, {}).get("gpu")
    if not speed:
        return None
    batch = min(max(batch_size, 1) / GPU_MEASURED_BATCH, GPU_BATCH_SATURATION)
    area = min(1.0, MEASURED_PIXELS.get(family, 1024) / max(pixels, 1))  # smaller images are no faster
    return speed * batch * area


def train_images(dataset: str) -> int | None:
    """Images one epoch trains on (upper bound): the official training set, before the validation
    carve-out; a subset (``mnist:hard2:128``) is 2 classes x n images, and ``all`` the pooled class
    size (official parts together). None for an unknown dataset."""
    name, _, rest = str(dataset).partition(":")
    info = find_dataset(name)
    if not rest:
        return None if info is None else info.train_size
    match = re.fullmatch(r"(hard2|easy2):(\d+|all)(?::\d+)?", rest)
    if not match:
        return None
    n = match.group(2)
    per_class = (None if info is None else info.class_images()) if n == "all" else int(n)
    return None if per_class is None else 2 * per_class


def image_pixels(dataset: str) -> int:
    """Pixels per image of ``dataset`` (a subset's are its base's) as published."""
    info = find_dataset(str(dataset).partition(":")[0])
    return info.image_size**2 if info is not None and info.image_size else DEFAULT_PIXELS


@dataclass
class Estimate:
    preset: str
    cells: int  # trials when complete (configs x repeats)
    configs: int
    repeats: int
    datasets: list[str]
    families: list[str]
    epochs: list[int]  # distinct maximum epochs
    images: int  # training images over the whole study (upper bound)
    cpu_hours: float | None  # on one CPU core
    gpu_hours: float | None  # on one GPU; None until the family's GPU throughput is measured
    unknown: list[str] = field(default_factory=list)  # what the estimate could not price
    sampled: int = 0  # a sampled study: configs drawn from its space to price a trial (0: a grid, priced cell by cell)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def base_datasets(self) -> list[str]:
        """The datasets whose files must be present (a subset ``mnist:hard2:128`` needs ``mnist``)."""
        return sorted({d.partition(":")[0] for d in self.datasets})

    def lines(self) -> list[str]:
        gpu = ("not measured yet (benchmarks/bench_throughput.py --device cuda)" if self.gpu_hours is None
               else _hours(self.gpu_hours))
        gpu_note = (f"  GPU hours from {GPU_MEASURED_ON}: one trial at a time, {GPU_TRIAL_OVERHEAD_SECONDS:g} s "
                    "a trial besides training; several trials per GPU (--trials-per-gpu) cut it for small models "
                    "(docs/gpu.md)")
        out = [
            f"estimated cost: {self.cells:,} cells ({self.configs:,} configs x {self.repeats} repeats) x "
            f"{'/'.join(map(str, self.epochs))} epochs x training images = {self.images:,} images "
            "(upper bound: early stopping ends runs sooner)",
            f"  datasets needed: {', '.join(self.base_datasets())}"
            + (f" ({len(self.datasets)} variants incl. subsets)"
               if len(self.datasets) > len(self.base_datasets()) else ""),
            f"  one CPU core: {_hours(self.cpu_hours)}; one GPU: {gpu}",
        ]
        if self.gpu_hours is not None:
            out.append(gpu_note)
        if self.unknown:
            out.append(f"  not priced: {', '.join(self.unknown)}")
        return out


def per_trial_lines(estimate: Estimate) -> list[str]:
    """A sampled study's cost as its trial budget x the mean cost of one trial (priced on configs
    drawn from its space): what ``space grid`` prints for a preset that has no grid."""
    trials = max(estimate.cells, 1)
    cpu = None if estimate.cpu_hours is None else estimate.cpu_hours / trials
    gpu = None if estimate.gpu_hours is None else estimate.gpu_hours / trials

    def short(hours: float | None) -> str:  # a trial may take seconds
        return f"about {max(1, round(hours * 3600))} s" if hours is not None and hours < 1 / 60 else _hours(hours)

    return [
        f"  per trial (mean over {estimate.sampled} configs drawn from the space): one CPU core {short(cpu)}; "
        f"one GPU {'not measured yet' if gpu is None else short(gpu)}",
        f"  = {estimate.cells:,} trials x per trial: one CPU core {_hours(estimate.cpu_hours)}",
    ]


def _hours(hours: float | None) -> str:
    if hours is None:
        return "unknown"
    if hours < 1:
        return f"about {max(1, round(hours * 60))} min"
    if hours < 48:
        return f"about {hours:.1f} h"
    return f"about {hours / 24:.0f} days"


def estimate_cost(spec: Any, *, sample: int = 16) -> Estimate:
    """The cost of running ``spec`` (a StudySpec) to completion. A grid is priced config by config;
    a sampled study by ``sample`` random configs of its space, times its trial budget."""
    from searchspace import grid_points

    if spec.sampler == "grid":
        configs = [p.config for p in grid_points(spec.space, limit=spec.n_trials, seed=spec.seed)]
        weight = 1.0
    else:
        from searchspace.interface import random_configs

        configs = random_configs(spec.space, sample, seed=spec.seed)
        weight = (spec.n_trials or 0) / max(len(configs), 1)
    defaults = _defaults(spec.objective)
    images, cpu, gpu, unknown = 0.0, 0.0, 0.0, set()
    datasets, families, epochs = {}, {}, {}
    for config in configs:
        dataset = str(config.get("dataset", defaults.get("dataset")))
        family = str(config.get("family", defaults.get("family")))
        epoch = int(config.get("epochs", defaults.get("epochs", 1)))
        datasets[dataset] = families[family] = epochs[epoch] = None
        per_epoch = train_images(dataset)
        if per_epoch is None:
            unknown.add(f"dataset {dataset}")
            continue
        n = per_epoch * epoch * spec.repeats * weight
        images += n
        speed = IMAGES_PER_SECOND.get(family, {})
        pixels = image_pixels(dataset) * int(config.get("upsample", 1) or 1) ** 2
        scale = MEASURED_PIXELS.get(family, 1024) / pixels  # smaller images train faster
        if speed.get("cpu"):
            cpu += n / (speed["cpu"] * scale) / 3600
        else:
            unknown.add(f"family {family} (CPU throughput not measured)")
        batch = int(config.get("batch_size", defaults.get("batch_size", 32)) or 32)
        on_gpu = gpu_images_per_second(family, batch, pixels)
        gpu = None if gpu is None or on_gpu is None else \
            gpu + (n / on_gpu + spec.repeats * weight * GPU_TRIAL_OVERHEAD_SECONDS) / 3600
    total = spec.total_cells() or 0
    return Estimate(
        preset=spec.name, cells=total, configs=total // max(spec.repeats, 1), repeats=spec.repeats,
        datasets=sorted(datasets), families=sorted(families), epochs=sorted(epochs), images=int(round(images)),
        cpu_hours=cpu if not any(u.startswith("family") for u in unknown) else None, gpu_hours=gpu,
        unknown=sorted(unknown),
        sampled=0 if spec.sampler == "grid" else len(configs),
    )


def _defaults(objective: str) -> dict[str, Any]:
    """The config defaults a preset does not state (dataset, family, epochs)."""
    try:
        from objectives import RunConfig
        from objectives.interface import objective_config_parts

        return RunConfig.from_flat({}, parts=objective_config_parts(objective)).to_flat()
    except Exception:  # a default we cannot resolve is priced as unknown, not a crash
        return {}
