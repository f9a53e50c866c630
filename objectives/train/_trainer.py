"""The training loop: resident tensors in, metrics out.

``fit`` takes a list of seeds rather than one, so that the repeats of one config can later train
together in one vectorised pass (``torch.func`` / grouped convolutions) without changing callers;
today it trains them one after another. A per-epoch callback is the single place where pruning
reports happen (see ``objectives._objective``), and a per-epoch checkpoint (written atomically)
lets a retried trial resume from its last finished epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from objectives.data import PreparedData
from objectives.train._checkpoint import load_checkpoint, save_checkpoint
from objectives.train._device import autocast_for
from objectives.train._optim import build_optimizer, build_schedule
from searchspace import build_model

if TYPE_CHECKING:  # objectives._config imports this package's config module
    from objectives._config import RunConfig

EVAL_BATCH = 1024  # images per forward pass when evaluating (no gradients are kept)


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, value: float) -> None:
        super().__init__(f"non-finite training loss ({value}) at epoch {epoch}")
        self.epoch = epoch


@dataclass
class EpochStats:
    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float


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
    params: int
    train_seconds: float
    images_per_second: float
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


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and confusion matrix (true x predicted) of ``model`` on (x, y)."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    preds = []
    with autocast_for(x.device):
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(x[i : i + EVAL_BATCH]).float()
            loss_sum += F.cross_entropy(logits, y[i : i + EVAL_BATCH], reduction="sum")
            preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    confusion = torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    n = max(len(y), 1)
    return float(loss_sum) / n, float((pred == y).sum()) / n, confusion.view(num_classes, num_classes).cpu()


def fit(
    run: RunConfig,
    data: PreparedData,
    *,
    seeds: Sequence[int],
    on_epoch: EpochCallback | None = None,
    checkpoints: Sequence[Path | None] | None = None,
) -> list[FitResult]:
    """Train one model per seed on ``data`` with ``run`` and return their results."""
    checkpoints = list(checkpoints) if checkpoints is not None else [None] * len(seeds)
    if len(checkpoints) != len(seeds):
        raise ValueError("give one checkpoint path (or None) per seed")
    results = []
    for index, (seed, ckpt) in enumerate(zip(seeds, checkpoints)):
        callback = (lambda stats, i=index: on_epoch(i, stats)) if on_epoch else None
        results.append(_fit_one(run, data, seed, callback, ckpt))
    return results


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
) -> FitResult:
    cfg = run.train
    device = data.device
    torch.manual_seed(seed)
    model = build_for_data(run, data).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_train = len(data.y_train)
    steps_per_epoch = max(1, math.ceil(n_train / cfg.batch_size))
    optimizer = build_optimizer(model.parameters(), cfg)
    schedule = build_schedule(optimizer, cfg, steps_per_epoch)
    shuffle = torch.Generator().manual_seed(seed)

    history: list[EpochStats] = []
    best = {"value": None, "epoch": 0, "state": None, "wait": 0}
    train_seconds = 0.0
    state = load_checkpoint(checkpoint) if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        shuffle.set_state(state["shuffle"])
        history = [EpochStats(**h) for h in state["history"]]
        best = state["best"]
        train_seconds = state["train_seconds"]
        for stats in history:  # a resumed trial re-reports the epochs it inherits
            if on_epoch is not None:
                on_epoch(stats)

    x, y = data.inputs("train"), data.y_train
    stopped_early = _should_stop(cfg, best, history)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        if stopped_early:
            break
        model.train()
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        perm = torch.randperm(n_train, generator=shuffle).to(device)
        for i in range(0, n_train, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2 and i > 0:
                break  # a last batch of one image would break batch norm; drop it
            xb, yb = x[idx], y[idx]
            with autocast_for(device):
                logits = model(xb)
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
        val_loss, val_acc, _ = evaluate(model, data.inputs("val"), data.y_val, data.num_classes)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        stats = EpochStats(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=float(correct) / max(seen, 1),
            val_loss=val_loss,
            val_accuracy=val_acc,
            lr=optimizer.param_groups[0]["lr"],
            seconds=seconds,
        )
        history.append(stats)
        value = val_loss if cfg.monitor == "val_loss" else val_acc
        if _better(cfg.monitor, value, best["value"]):
            best = {"value": value, "epoch": epoch, "wait": 0,
                    "state": copy.deepcopy(model.state_dict()) if cfg.restore_best else None}
        else:
            best["wait"] += 1
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": torch.get_rng_state(),
                "shuffle": shuffle.get_state(),
                "history": [asdict(h) for h in history],
                "best": best,
                "train_seconds": train_seconds,
            })
        if on_epoch is not None:
            on_epoch(stats)
        stopped_early = _should_stop(cfg, best, history) and epoch < cfg.epochs

    selected = len(history)
    if cfg.early_stopping and cfg.restore_best and best["state"] is not None:
        model.load_state_dict(best["state"])
        selected = best["epoch"]
    val_loss, val_acc, _ = evaluate(model, data.inputs("val"), data.y_val, data.num_classes)
    test_loss, test_acc, confusion = evaluate(model, data.inputs("test"), data.y_test, data.num_classes)
    images = len(history) * n_train
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
        train_seconds=train_seconds,
        images_per_second=images / train_seconds if train_seconds > 0 else 0.0,
        model=model,
    )
