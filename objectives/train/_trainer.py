"""The training loop: resident tensors in, metrics out.

``fit`` takes a list of seeds rather than one, so that the repeats of one config can later train
together in one vectorised pass (``torch.func`` / grouped convolutions) without changing callers;
today it trains them one after another. A per-epoch callback is the single place where pruning
reports happen (see ``objectives._objective``), and a per-epoch checkpoint (written atomically)
lets a retried trial resume from its last finished epoch.

The hot loop does per batch only: index the resident batch (or augment + normalise it on the
device), forward, loss, backward, optimizer step. Running loss and accuracy stay on the device and
are read once per epoch, so there is no host sync per step; optimizers use multi-tensor kernels.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from objectives.data import PreparedData
from objectives.train._augment import build_augment
from objectives.train._checkpoint import Checkpointer
from objectives.train._device import autocast_for, training_threads
from objectives.train._loss import classification_loss, kernel_penalty, kernel_weights
from objectives._per_image import pack_correct
from objectives.train._metrics import count_flops, count_params, evaluate
from objectives.train._optim import build_optimizer, build_schedule, schedule_interval
from objectives.train._registered import check_registered
from searchspace import build_model

if TYPE_CHECKING:  # objectives._config imports this package's config module
    from objectives._config import RunConfig


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, value: float) -> None:
        super().__init__(f"non-finite training loss ({value}) at epoch {epoch}")
        self.epoch = epoch


@dataclass
class EpochStats:
    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy on the (augmented) training batches; penalties excluded
    train_accuracy: float  # against the batch's labels (the dominant class after mixup / cutmix)
    val_loss: float
    val_accuracy: float
    lr: float  # learning rate at the start of the epoch
    seconds: float  # wall time of the epoch: training pass + validation
    train_pass_seconds: float = 0.0  # wall time of the training pass alone
    train_pass_cpu_seconds: float = 0.0  # CPU time of this process during the training pass
    images: int = 0  # training images seen in the epoch
    # Only with eval_test_every_epoch: the test set after this epoch. Reporting only (never
    # selection, early stopping or pruning), and not counted in ``seconds``.
    test_loss: float | None = None
    test_accuracy: float | None = None


@dataclass
class FitResult:
    seed: int
    history: list[EpochStats]
    best_epoch: int  # epoch whose weights were evaluated (1-based)
    stopped_early: bool
    val_loss: float
    val_accuracy: float
    test_loss: float
    test_accuracy: float
    confusion: list[list[int]]  # rows: true class, columns: predicted class (test set)
    params: int  # trainable parameters
    flops: int  # FLOPs of one forward pass of one image (see objectives.train.count_flops)
    train_seconds: float  # wall time of all epochs, validation included
    images_per_second: float  # training throughput: images / seconds of the training passes
    extra: dict[str, Any] = field(default_factory=dict)
    # The trained model with the evaluated (best-epoch) weights, for callers that go on using it
    # (e.g. objectives.skip labels images with CNN-1's activations). Not part of metrics().
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def metrics(self) -> dict[str, Any]:
        """JSON-serialisable summary (what a trial stores as user attributes)."""
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "model"}
        out["history"] = [asdict(h) for h in self.history]
        out["epochs_run"] = self.epochs_run
        out["test_error"] = 100.0 * (1.0 - self.test_accuracy)
        return out


EpochCallback = Callable[[int, EpochStats], None]  # (seed index, stats)


def build_for_data(run: RunConfig, data: PreparedData) -> nn.Module:
    return build_model(
        run.family,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        input_size=data.input_size,
        init=run.init,
        **run.model,
    )


def fit(
    run: RunConfig,
    data: PreparedData,
    *,
    seeds: Sequence[int],
    on_epoch: EpochCallback | None = None,
    checkpoints: Sequence[Path | None] | None = None,
    routes: Mapping[str, torch.Tensor] | None = None,
    checkpoint_interval: float | None = None,
) -> list[FitResult]:
    """Train one model per seed on ``data`` with ``run`` and return their results.

    ``routes`` maps ``train``/``val``/``test`` to one exit index per image of that split, for
    families that skip layers per image (``skip_cnn``): every forward pass becomes
    ``model(x, route=...)``. Under mixup/cutmix a mixed image keeps the route of its first image.
    """
    check_registered(run.train)  # a config built by hand fails here, before any training
    run.train.validate()
    checkpoints = list(checkpoints) if checkpoints is not None else [None] * len(seeds)
    if len(checkpoints) != len(seeds):
        raise ValueError("give one checkpoint path (or None) per seed")
    results = []
    with training_threads(data.device):
        for index, (seed, ckpt) in enumerate(zip(seeds, checkpoints)):
            callback = (lambda stats, i=index: on_epoch(i, stats)) if on_epoch else None
            results.append(_fit_one(run, data, seed, callback, ckpt, routes, checkpoint_interval))
    return results


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch of an epoch. A last batch of a single image is dropped
    (batch norm cannot normalise one sample), so schedules see the exact number of steps."""
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < 2:
        bounds.pop()
    return bounds


def _better(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor == "val_loss" else value > best


def _should_stop(cfg, best: dict, history: list[EpochStats]) -> bool:
    """Keras' EarlyStopping rule: stop once ``patience`` epochs in a row did not improve."""
    return bool(cfg.early_stopping and history and best["wait"] > 0 and best["wait"] >= cfg.patience)


def _fit_one(
    run: RunConfig,
    data: PreparedData,
    seed: int,
    on_epoch: Callable[[EpochStats], None] | None,
    checkpoint: Path | None,
    routes: Mapping[str, torch.Tensor] | None = None,
    checkpoint_interval: float | None = None,
) -> FitResult:
    cfg = run.train
    device = data.device
    # Channels-last activations: faster convolutions on GPUs (bf16) and with oneDNN on CPU, where
    # we measured +15-40% per training step for every conv family (README, "Speed").
    channels_last = data.x_train.ndim == 4
    torch.manual_seed(seed)
    model = build_for_data(run, data).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    n_params = count_params(model)
    flops = count_flops(model, (data.in_channels, *data.input_size), device)
    batches = batch_bounds(len(data.y_train), cfg.batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg)
    schedule = build_schedule(optimizer, cfg, len(batches))
    step_schedule = schedule_interval(cfg.schedule) == "step"
    kernels = kernel_weights(model) if (cfg.l1 or cfg.l2) else []
    augment = build_augment(cfg, num_classes=data.num_classes, seed=seed)
    shuffle = torch.Generator().manual_seed(seed)

    history: list[EpochStats] = []
    best = {"value": None, "epoch": 0, "state": None, "wait": 0}
    saver = Checkpointer(checkpoint, checkpoint_interval) if checkpoint is not None else None
    state = saver.load() if saver is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        shuffle.set_state(state["shuffle"])
        if augment is not None:
            augment.set_state(state["augment"])
        history = [EpochStats(**h) for h in state["history"]]
        best = state["best"]
        for stats in history:  # a resumed trial re-reports the epochs it inherits
            if on_epoch is not None:
                on_epoch(stats)

    def layout(x: torch.Tensor) -> torch.Tensor:  # per batch: no second copy of a whole split
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def evaluate_on(split: str, per_image: bool = False) -> tuple:
        x, y = data.inputs(split), data.labels(split)
        route = routes[split] if routes is not None else None
        return evaluate(model, x, y, data.num_classes, channels_last=channels_last, route=route, per_image=per_image)

    x_train = data.inputs("train") if augment is None else None
    y_train = data.y_train
    stopped_early = _should_stop(cfg, best, history)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        if stopped_early:
            break
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        start, cpu_start = time.perf_counter(), time.process_time()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        perm = torch.randperm(len(y_train), generator=shuffle).to(device)
        for lo, hi in batches:
            idx = perm[lo:hi]
            if augment is None:
                xb, target = layout(x_train[idx]), y_train[idx]
            else:  # pixel-space augmentation on the device, then normalisation
                xb, target = augment(data.train_batch(idx), y_train[idx])
                xb = layout(data.finish(xb))
            with autocast_for(device):
                logits = model(xb) if routes is None else model(xb, route=routes["train"][idx])
            loss = classification_loss(logits, target, label_smoothing=cfg.label_smoothing)
            penalty = kernel_penalty(kernels, cfg.l1, cfg.l2)
            optimizer.zero_grad(set_to_none=True)
            (loss if penalty is None else loss + penalty).backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            if step_schedule:
                schedule.step()
            loss_sum += loss.detach() * (hi - lo)
            labels = target if target.ndim == 1 else target.argmax(1)
            correct += (logits.detach().argmax(1) == labels).sum()
        images = batches[-1][1]
        train_loss = float(loss_sum) / images  # the epoch's one host sync
        pass_seconds = time.perf_counter() - start
        pass_cpu_seconds = time.process_time() - cpu_start
        if not step_schedule:
            schedule.step()
        if not math.isfinite(train_loss):
            raise Diverged(epoch, train_loss)
        val_loss, val_acc, _ = evaluate_on("val")
        stats = EpochStats(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=float(correct) / images,
            val_loss=val_loss,
            val_accuracy=val_acc,
            lr=lr,
            seconds=time.perf_counter() - start,
            train_pass_seconds=pass_seconds,
            train_pass_cpu_seconds=pass_cpu_seconds,
            images=images,
        )
        history.append(stats)
        if cfg.eval_test_every_epoch:  # recorded for reports; nothing below reads it
            stats.test_loss, stats.test_accuracy, _ = evaluate_on("test")
        value = val_loss if cfg.monitor == "val_loss" else val_acc
        if _better(cfg.monitor, value, best["value"]):
            best = {"value": value, "epoch": epoch, "wait": 0,
                    "state": copy.deepcopy(model.state_dict()) if cfg.restore_best else None}
        else:
            best["wait"] += 1
        if saver is not None and saver.due():  # by time, not every epoch (objectives.train._checkpoint)
            saver.save({
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                "shuffle": shuffle.get_state(),
                **({"augment": augment.get_state()} if augment is not None else {}),
                "history": [asdict(h) for h in history],
                "best": best,
            })
        if on_epoch is not None:
            on_epoch(stats)
        stopped_early = _should_stop(cfg, best, history) and epoch < cfg.epochs

    selected = len(history)
    if cfg.early_stopping and cfg.restore_best and best["state"] is not None:
        model.load_state_dict(best["state"])
        selected = best["epoch"]
    val_loss, val_acc, _, val_ok = evaluate_on("val", per_image=True)
    test_loss, test_acc, confusion, test_ok = evaluate_on("test", per_image=True)
    # Per-image correctness (stored by the objective from ``extra``): lets the analysis count the
    # finite evaluation set as a source of noise (objectives._per_image).
    per_image = {"val_correct": pack_correct(val_ok.numpy(), data.labels("val").cpu().numpy()),
                 "test_correct": pack_correct(test_ok.numpy(), data.labels("test").cpu().numpy())}
    pass_seconds = sum(h.train_pass_seconds for h in history)
    return FitResult(
        seed=seed,
        history=history,
        best_epoch=selected,
        stopped_early=stopped_early,
        val_loss=val_loss,
        val_accuracy=val_acc,
        test_loss=test_loss,
        test_accuracy=test_acc,
        confusion=confusion.tolist(),
        params=n_params,
        flops=flops,
        train_seconds=sum(h.seconds for h in history),
        images_per_second=sum(h.images for h in history) / pass_seconds if pass_seconds > 0 else 0.0,
        extra=per_image,
        model=model,
    )
