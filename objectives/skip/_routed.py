"""CNN-3's training loop, routed evaluation, prediction and inference timing.

``objectives.train.fit`` calls ``model(x)``; CNN-3 needs ``model(x, route)`` with each image's
exit, which the trainer has no way to pass. :func:`train_routed` therefore repeats the trainer's
procedure step for step (same seeding, shuffling, optimizer and schedule registries, loss,
gradient clipping, Keras-style early stopping with best-weight restore), only carrying a route per
image. With every image routed to the deepest layer it trains exactly what ``fit`` trains (a test
checks this), so CNN-1 and CNN-3 differ only by the routing. Training options this loop does not
implement are refused up front (:func:`check_supported`) rather than silently ignored.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from objectives.data import PreparedData
from objectives.train import Diverged, EpochStats, FitResult, autocast_for, build_optimizer, build_schedule
from searchspace import ConfigError, build_model

if TYPE_CHECKING:  # for the annotation only
    from objectives._config import RunConfig

EVAL_BATCH = 1024  # images per forward pass when evaluating or predicting
TIMING_IMAGES = 1024  # test images timed: enough for a steady per-image figure, cheap on a CPU
TIMING_REPEATS = 5  # timed passes after one warm-up; the fastest is reported (least disturbed)
# TrainConfig options (some arrive on other branches) that the routed loop does not implement,
# with the value that means "off".
UNSUPPORTED = {"augment": "none", "l1": 0.0, "l2": 0.0, "schedule": "constant"}


def check_supported(cfg: Any) -> None:
    """Refuse a TrainConfig that turns on an option the routed loop does not implement."""
    for name, off in UNSUPPORTED.items():
        value = getattr(cfg, name, off)
        if value != off:
            raise ConfigError(
                f"objective skip_layers does not support {name}={value!r} (CNN-3's routed training loop "
                f"does not implement it); use {name}={off!r}"
            )


@dataclass
class RoutedSplit:
    """Model inputs, class labels and one exit index per image."""

    x: torch.Tensor
    y: torch.Tensor
    route: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@torch.no_grad()
def evaluate_routed(model: nn.Module, split: RoutedSplit, num_classes: int) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and confusion matrix (true x predicted) with each image's route."""
    model.eval()
    loss_sum = torch.zeros((), device=split.x.device)
    preds = []
    with autocast_for(split.x.device):
        for i in range(0, len(split), EVAL_BATCH):
            logits = model(split.x[i : i + EVAL_BATCH], route=split.route[i : i + EVAL_BATCH]).float()
            loss_sum += F.cross_entropy(logits, split.y[i : i + EVAL_BATCH], reduction="sum")
            preds.append(logits.argmax(1))
    pred = torch.cat(preds) if preds else split.y.new_zeros(0)
    confusion = torch.bincount(split.y * num_classes + pred, minlength=num_classes * num_classes)
    n = max(len(split), 1)
    return float(loss_sum) / n, float((pred == split.y).sum()) / n, confusion.view(num_classes, num_classes).cpu()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Arg-max class of every image (eval mode, batched)."""
    model.eval()
    out = []
    with autocast_for(x.device):
        for i in range(0, len(x), EVAL_BATCH):
            out.append(model(x[i : i + EVAL_BATCH]).argmax(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x.device)


@torch.no_grad()
def seconds_per_image(forward: Callable[[int, int], torch.Tensor], n: int) -> float:
    """Wall time per image of ``forward(start, stop)`` over ``n`` images in batches of
    ``EVAL_BATCH``: one warm-up pass, then the fastest of ``TIMING_REPEATS`` passes."""
    if n == 0:
        return 0.0

    def one_pass() -> float:
        start = time.perf_counter()
        for i in range(0, n, EVAL_BATCH):
            out = forward(i, min(i + EVAL_BATCH, n))
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        return time.perf_counter() - start

    one_pass()
    return min(one_pass() for _ in range(TIMING_REPEATS)) / n


def train_routed(
    run: RunConfig, data: PreparedData, *, seed: int, train: RoutedSplit, val: RoutedSplit, test: RoutedSplit,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> FitResult:
    """Train ``run``'s routing family on ``train`` (each image through its route's layers only),
    select on ``val`` and report ``test``, as ``objectives.train.fit`` does for a plain model."""
    cfg = run.train
    check_supported(cfg)
    device = data.device
    torch.manual_seed(seed)
    model = build_model(
        run.family, in_channels=data.in_channels, num_classes=data.num_classes,
        input_size=data.input_size, init=run.init, **run.model,
    ).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_train = len(train)
    steps_per_epoch = max(1, math.ceil(n_train / cfg.batch_size))
    optimizer = build_optimizer(model.parameters(), cfg)
    schedule = build_schedule(optimizer, cfg, steps_per_epoch)
    shuffle = torch.Generator().manual_seed(seed)

    history: list[EpochStats] = []
    best = {"value": None, "epoch": 0, "state": None, "wait": 0}
    train_seconds = 0.0
    stopped_early = False
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        perm = torch.randperm(n_train, generator=shuffle).to(device)
        for i in range(0, n_train, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2 and i > 0:
                break  # as the trainer: a last batch of one image is dropped
            xb, yb = train.x[idx], train.y[idx]
            with autocast_for(device):
                logits = model(xb, route=train.route[idx])
                loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(idx)
        schedule.step()
        train_loss = float(loss_sum) / max(seen, 1)
        if not math.isfinite(train_loss):
            raise Diverged(epoch, train_loss)
        val_loss, val_acc, _ = evaluate_routed(model, val, data.num_classes)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        stats = EpochStats(
            epoch=epoch, train_loss=train_loss, train_accuracy=float(correct) / max(seen, 1),
            val_loss=val_loss, val_accuracy=val_acc, lr=optimizer.param_groups[0]["lr"], seconds=seconds,
        )
        history.append(stats)
        value = val_loss if cfg.monitor == "val_loss" else val_acc
        improved = best["value"] is None or (value < best["value"] if cfg.monitor == "val_loss" else value > best["value"])
        if improved:
            best = {"value": value, "epoch": epoch, "wait": 0,
                    "state": copy.deepcopy(model.state_dict()) if cfg.restore_best else None}
        else:
            best["wait"] += 1
        if on_epoch is not None:
            on_epoch(stats)
        if cfg.early_stopping and best["wait"] > 0 and best["wait"] >= cfg.patience:  # Keras' rule
            stopped_early = epoch < cfg.epochs
            break

    selected = len(history)
    if cfg.early_stopping and cfg.restore_best and best["state"] is not None:
        model.load_state_dict(best["state"])
        selected = best["epoch"]
    val_loss, val_acc, _ = evaluate_routed(model, val, data.num_classes)
    test_loss, test_acc, confusion = evaluate_routed(model, test, data.num_classes)
    return FitResult(
        seed=seed, history=history, best_epoch=selected, stopped_early=stopped_early,
        val_loss=val_loss, val_accuracy=val_acc, test_loss=test_loss, test_accuracy=test_acc,
        confusion=confusion.tolist(), params=n_params, train_seconds=train_seconds,
        images_per_second=len(history) * n_train / train_seconds if train_seconds > 0 else 0.0,
        model=model,
    )
