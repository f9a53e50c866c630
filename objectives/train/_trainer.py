"""The training loop: resident tensors in, metrics out.

``fit`` trains one model with one seed; the repeats of a config that train together in one
vectorised pass have their own entry point (``objectives.train._batched.fit_batched``). Two pieces can be
swapped without touching the loop (airbench's ``make_net``): ``build`` makes the model from the
config and the data (default :func:`build_for_data`), and ``forward`` calls it on a batch (default
``model(x)``; the skip pipeline passes each image's route this way, see
``objectives.skip.routed_forward``). A per-epoch callback is the single place where pruning
reports happen (see ``objectives._objective``), and a checkpoint (written atomically) lets a
retried trial resume from its last saved epoch.

A fit reads as its steps (:class:`_SeedFit`): set up the model, optimizer, schedule and
augmentation; resume from a checkpoint; per epoch a training pass, validation and the best-epoch
bookkeeping (:class:`Best`); at the end restore the best weights and evaluate on val and test.

The hot loop does per batch only: index the resident batch (or augment + normalise it on the
device), forward, loss, backward, optimizer step. Running loss and accuracy stay on the device and
are read once per epoch, so there is no host sync per step; optimizers use multi-tensor kernels.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from objectives.data import PreparedData
from objectives.train._augment import build_augment
from objectives.train._build import ModelBuilder, build_for_data
from objectives.train._checkpoint import Checkpointer
from objectives.train._device import training_threads
from objectives.train._loss import classification_loss, kernel_penalty, kernel_weights
from objectives._per_image import pack_correct
from objectives.train._metrics import count_flops, count_params, evaluate
from objectives.train._optim import build_optimizer, build_schedule, schedule_interval
from objectives.train._precision import Precision, resolve_precision
from objectives.train._registered import check_registered
from objectives._seeding import RunSeeds, as_seeds, dropout_stream
from searchspace.errors import Diverged

if TYPE_CHECKING:  # objectives._config imports this package's config module
    from objectives._config import RunConfig


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
    flops: int  # FLOPs of one forward pass of one image (see objectives.train._metrics.count_flops)
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


EpochCallback = Callable[[EpochStats], None]
# (model, images, split, which images of that split: index tensor or slice) -> logits.
Forward = Callable[[nn.Module, torch.Tensor, str, torch.Tensor | slice], torch.Tensor]


def fit(
    run: RunConfig,
    data: PreparedData,
    *,
    seed: int | RunSeeds,
    on_epoch: EpochCallback | None = None,
    checkpoint: Path | None = None,
    checkpoint_interval: float | None = None,
    build: ModelBuilder = build_for_data,
    forward: Forward | None = None,
) -> FitResult:
    """Train one model of ``run`` on ``data`` with ``seed`` and return its result.

    An int ``seed`` seeds the initialisation (``torch.manual_seed`` before ``build``, whose stream
    the dropout masks continue), the batch order and the augmentation; a
    :class:`~objectives.train.RunSeeds` gives each source its own seed (``objectives._seeding``).
    ``on_epoch(stats)`` runs after every epoch (and for each epoch a resumed fit inherits); it may
    raise to stop training (e.g. ``optuna.TrialPruned``). ``checkpoint`` is the file to resume
    from and save to (by time, see ``objectives.train._checkpoint``).

    ``build(run, data) -> nn.Module`` makes the model (default :func:`build_for_data`), so an
    experiment can swap the network without touching the loop. ``forward(model, x, split, index)``
    replaces ``model(x)`` in training and evaluation; ``index`` selects the images of ``split``
    in ``x`` (for per-image inputs such as ``skip_cnn``'s routes).
    """
    check_registered(run.train)  # a config built by hand fails here, before any training
    run.train.validate()
    with training_threads(data.device):
        precision = fit_precision(run, data, build=build, forward=forward)
        with precision.math_mode(data.device):
            return _fit_one(run, data, seed, on_epoch, checkpoint, checkpoint_interval, build, forward, precision)


def fit_precision(
    run: RunConfig, data: PreparedData, *, build: ModelBuilder, forward: Forward | None = None
) -> Precision:
    """The precision a fit of ``run`` runs in (objectives.train._precision); a custom ``forward``
    (per-image routes) is not probed: auto runs it in TF32 / fp32 on CUDA."""
    if forward is not None and run.train.precision == "auto" and data.device.type == "cuda":
        from objectives.train._precision import has_tf32

        return Precision("tf32" if has_tf32(data.device) else "fp32", "auto: a custom forward is not probed")
    return resolve_precision(run, data, build=build)


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


@dataclass(frozen=True)
class Best:
    """The best epoch so far by the monitored value: early stopping's and restore-best's record."""

    value: float | None = None  # best monitored value; None before the first epoch
    epoch: int = 0  # its epoch (1-based; 0 = none yet)
    state: dict[str, torch.Tensor] | None = None  # its weights, kept only when they will be restored
    wait: int = 0  # epochs since it without improvement

    def after(
        self, epoch: int, value: float, monitor: str, snapshot: Callable[[], dict[str, torch.Tensor]] | None
    ) -> Best:
        """The record after ``epoch`` scored ``value``; ``snapshot()`` copies the weights of an
        improving epoch (None: no copy is taken, as when the best weights are never restored)."""
        if _better(monitor, value, self.value):
            return Best(value=value, epoch=epoch, state=snapshot() if snapshot is not None else None, wait=0)
        return dataclasses.replace(self, wait=self.wait + 1)

    def to_checkpoint(self) -> dict[str, Any]:
        """Plain container for a checkpoint (read back with ``Best(**saved)``; the weights are
        referenced, not copied again)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def restores_best(cfg) -> bool:
    """Whether a fit of ``cfg`` ends on its best epoch's weights (so they are worth copying)."""
    return bool(cfg.early_stopping and cfg.restore_best)


def _should_stop(cfg, best: Best, history: list[EpochStats]) -> bool:
    """Keras' EarlyStopping rule: stop once ``patience`` epochs in a row did not improve."""
    return bool(cfg.early_stopping and history and best.wait > 0 and best.wait >= cfg.patience)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights (taken at an improving epoch when the best is restored)."""
    return copy.deepcopy(model.state_dict())


def _fit_one(
    run: RunConfig,
    data: PreparedData,
    seed: int | RunSeeds,
    on_epoch: EpochCallback | None,
    checkpoint: Path | None,
    checkpoint_interval: float | None,
    build: ModelBuilder,
    forward: Forward | None,
    precision: Precision,
) -> FitResult:
    cfg = run.train
    seed_fit = _SeedFit(run, data, seed, build=build, forward=forward, precision=precision)
    saver = Checkpointer(checkpoint, checkpoint_interval) if checkpoint is not None else None
    if saver is not None:
        seed_fit.resume(saver.load(), on_epoch)
    stopped_early = _should_stop(cfg, seed_fit.best, seed_fit.history)
    for epoch in range(len(seed_fit.history) + 1, cfg.epochs + 1):
        if stopped_early:
            break
        stats = seed_fit.run_epoch(epoch)
        if saver is not None and saver.due():  # by time, not every epoch (objectives.train._checkpoint)
            saver.save(seed_fit.checkpoint_state())
        if on_epoch is not None:
            on_epoch(stats)
        stopped_early = _should_stop(cfg, seed_fit.best, seed_fit.history) and epoch < cfg.epochs
    return seed_fit.result(stopped_early)


class _SeedFit:
    """One seed's training: the model and what moves it, its history and best epoch."""

    def __init__(
        self, run: RunConfig, data: PreparedData, seed: int | RunSeeds, *, build: ModelBuilder, forward: Forward | None,
        precision: Precision = Precision(),
    ) -> None:
        cfg = self.cfg = run.train
        seeds = as_seeds(seed)
        self.data, self.seed, self.forward, self.precision = data, seeds.init, forward, precision
        self.device = device = data.device
        # Channels-last activations: faster convolutions on GPUs (bf16) and with oneDNN on CPU, where
        # we measured +15-40% per training step for every conv family (README, "Speed").
        self.channels_last = data.x_train.ndim == 4
        torch.manual_seed(seeds.init)
        model = build(run, data).to(device)
        if seeds.dropout is not None:  # the masks get their own stream (objectives._seeding)
            torch.manual_seed(dropout_stream(seeds.dropout))
        self.model = model.to(memory_format=torch.channels_last) if self.channels_last else model
        self.n_params = count_params(self.model)
        self.flops = count_flops(self.model, (data.in_channels, *data.input_size), device)
        self.batches = batch_bounds(len(data.y_train), cfg.batch_size)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, cfg)
        self.schedule = build_schedule(self.optimizer, cfg, len(self.batches))
        self.step_schedule = schedule_interval(cfg.schedule) == "step"
        self.scaler = precision.scaler(device)  # fp16 only
        self.kernels = kernel_weights(self.model) if (cfg.l1 or cfg.l2) else []
        self.augment = build_augment(cfg, num_classes=data.num_classes, seed=seeds.augment)
        self.shuffle = torch.Generator().manual_seed(seeds.order)
        self.x_train = data.inputs("train") if self.augment is None else None
        self.history: list[EpochStats] = []
        self.best = Best()
        self.restore = restores_best(cfg)

    # -- checkpoints

    def resume(self, state: dict[str, Any] | None, on_epoch: EpochCallback | None) -> None:
        """Continue from a checkpoint's state (None: start afresh); re-report inherited epochs."""
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.shuffle.set_state(state["shuffle"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if self.augment is not None:
            self.augment.set_state(state["augment"])
        self.history = [EpochStats(**h) for h in state["history"]]
        self.best = Best(**state["best"])
        for stats in self.history:  # a resumed trial re-reports the epochs it inherits
            if on_epoch is not None:
                on_epoch(stats)

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything a resumed fit needs to continue exactly (plain containers and tensors)."""
        device = self.device
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": torch.get_rng_state(),
            **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
            "shuffle": self.shuffle.get_state(),
            **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
            **({"augment": self.augment.get_state()} if self.augment is not None else {}),
            "history": [asdict(h) for h in self.history],
            "best": self.best.to_checkpoint(),
        }

    # -- one epoch

    def run_epoch(self, epoch: int) -> EpochStats:
        """Train one pass over the data, validate, and update the best-epoch record."""
        cfg = self.cfg
        lr = self.optimizer.param_groups[0]["lr"]
        start, cpu_start = time.perf_counter(), time.process_time()
        loss_sum, correct = self._train_pass()
        images = self.batches[-1][1]
        train_loss = float(loss_sum) / images  # the epoch's one host sync
        pass_seconds = time.perf_counter() - start
        pass_cpu_seconds = time.process_time() - cpu_start
        if not self.step_schedule:
            self.schedule.step()
        if not math.isfinite(train_loss):
            raise Diverged(epoch, train_loss)
        val_loss, val_acc, _ = self.evaluate_on("val")
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
        self.history.append(stats)
        if cfg.eval_test_every_epoch:  # recorded for reports; nothing below reads it
            stats.test_loss, stats.test_accuracy, _ = self.evaluate_on("test")
        value = val_loss if cfg.monitor == "val_loss" else val_acc
        snapshot = (lambda: _snapshot(self.model)) if self.restore else None
        self.best = self.best.after(epoch, value, cfg.monitor, snapshot)
        return stats

    def _train_pass(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One shuffled pass of optimizer steps; the summed loss and correct count stay on the device."""
        self.model.train()
        y_train = self.data.y_train
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        perm = torch.randperm(len(y_train), generator=self.shuffle).to(self.device)
        for lo, hi in self.batches:
            idx = perm[lo:hi]
            xb, target = self._batch(idx)
            logits, loss = self._step(xb, target, idx)
            loss_sum += loss.detach() * (hi - lo)
            labels = target if target.ndim == 1 else target.argmax(1)
            correct += (logits.detach().argmax(1) == labels).sum()
        return loss_sum, correct

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training images ``idx`` (augmented and normalised on the device) and their targets."""
        y_train = self.data.y_train
        if self.augment is None:
            return self._layout(self.x_train[idx]), y_train[idx]
        xb, target = self.augment(self.data.train_batch(idx), y_train[idx])  # pixel space
        return self._layout(self.data.finish(xb)), target

    def _step(self, xb: torch.Tensor, target: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss (+ kernel penalty), backward, clip, optimizer (and per-step schedule) step."""
        cfg = self.cfg
        with self.precision.autocast(self.device):
            logits = self.model(xb) if self.forward is None else self.forward(self.model, xb, "train", idx)
        loss = classification_loss(logits, target, label_smoothing=cfg.label_smoothing)
        penalty = kernel_penalty(self.kernels, cfg.l1, cfg.l2)
        self.optimizer.zero_grad(set_to_none=True)
        total = loss if penalty is None else loss + penalty
        if self.scaler is None:
            total.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
            self.optimizer.step()
        else:  # fp16: scaled backward; clip the true gradients; a step with inf/NaN gradients is skipped
            self.scaler.scale(total).backward()
            if cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        if self.step_schedule:
            self.schedule.step()
        return logits, loss

    def _layout(self, x: torch.Tensor) -> torch.Tensor:  # per batch: no second copy of a whole split
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def evaluate_on(self, split: str, per_image: bool = False) -> tuple:
        x, y = self.data.inputs(split), self.data.labels(split)
        forward = None
        if self.forward is not None:
            forward = lambda model, xb, index: self.forward(model, xb, split, index)  # noqa: E731
        return evaluate(self.model, x, y, self.data.num_classes, channels_last=self.channels_last, forward=forward,
                        per_image=per_image, precision=self.precision)

    # -- the end

    def result(self, stopped_early: bool) -> FitResult:
        """Restore the selected epoch's weights, evaluate them on val and test, and summarise."""
        data, history = self.data, self.history
        selected = len(history)
        if self.restore and self.best.state is not None:
            self.model.load_state_dict(self.best.state)
            selected = self.best.epoch
        val_loss, val_acc, _, val_ok = self.evaluate_on("val", per_image=True)
        test_loss, test_acc, confusion, test_ok = self.evaluate_on("test", per_image=True)
        # Per-image correctness (stored by the objective from ``extra``): lets the analysis count the
        # finite evaluation set as a source of noise (objectives._per_image).
        per_image = {"val_correct": pack_correct(val_ok.numpy(), data.labels("val").cpu().numpy()),
                     "test_correct": pack_correct(test_ok.numpy(), data.labels("test").cpu().numpy())}
        pass_seconds = sum(h.train_pass_seconds for h in history)
        return FitResult(
            seed=self.seed,
            history=history,
            best_epoch=selected,
            stopped_early=stopped_early,
            val_loss=val_loss,
            val_accuracy=val_acc,
            test_loss=test_loss,
            test_accuracy=test_acc,
            confusion=confusion.tolist(),
            params=self.n_params,
            flops=self.flops,
            train_seconds=sum(h.seconds for h in history),
            images_per_second=sum(h.images for h in history) / pass_seconds if pass_seconds > 0 else 0.0,
            extra={**per_image, "precision": self.precision.name},
            model=self.model,
        )
