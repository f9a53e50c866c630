"""Seed-batched repeats: the k seeds of one config trained together, as one fused model.

The k models are built exactly as :func:`objectives.train.fit` builds each (``torch.manual_seed(seed)``
then the family's builder) and fused into one model k times wider (:mod:`objectives.train._fuse`,
HFTA's horizontal fusion): a convolution becomes one grouped convolution, a batch norm one batch
norm over k times the channels, a linear layer one batched matrix product, so k small models fill
the device like one k-times wider one. The fused model is an ordinary module on ordinary tensors,
in the channels-last layout ``fit`` uses, so what runs on a CPU is what runs on a GPU (the first GPU
run crashed in vmap's batch norm under channels-last, the reason vmap is no longer used).

What stays per seed, so that each seed trains as it would alone:

- initialisation (built under its own seed), shuffling (its own ``torch.Generator``) and
  augmentation (its own :class:`~objectives.train.Augment`, called on its own batch; MixUp and
  CutMix too, since they pair images within that batch);
- the loss: each model's mean cross-entropy; the step backpropagates their *sum*, whose gradient
  with respect to model i's parameters is exactly model i's own gradient;
- the optimizer state: every registered optimizer updates element-wise (Adam's moments, momentum
  buffers...), so one optimizer over the fused tensors is k independent optimizers; schedules
  depend on the step and epoch only, which all seeds share;
- gradient clipping (a per-seed global norm), batch-norm statistics (per channel, so per model),
  kernel L1/L2 (a sum over kernels: separable), early stopping, restore-best, divergence and
  pruning: a seed that stops, diverges or is pruned leaves the batch's history there while the
  others go on (its weights keep being updated, unused, because removing it would cost a rebuild);
- precision: one for the batch (the seeds share model and batch size), resolved as in ``fit``.

What is not the same, and so falls back to sequential training (:func:`batch_fallback_reason`):

- dropout: its masks come from torch's global generator, which a sequential run consumes in one
  order per seed; the fused model draws all k masks in one call, so a batched seed sees other
  masks (independent, and with the same law: i.i.d. Bernoulli per element, see
  tests/objectives/test_batched.py), not its sequential ones;
- a model whose forward does not fuse exactly (:func:`objectives.train._fuse.fusion_problem`),
  a custom ``forward`` (``skip_cnn``'s per-image routes) and checkpoint resume (a batch is
  trained from its start).

Float tolerance: a grouped convolution and a batched matrix product sum in another order than the
per-model kernels, so results agree to float rounding, amplified by training: after one or two
epochs of a small CNN on digits, per-epoch losses agree to about 1e-4 relative and accuracies to
within one or two images (tests/objectives/test_batched.py states the bounds it checks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from objectives.data import PreparedData
from objectives._per_image import pack_correct
from objectives.train._augment import build_augment
from objectives.train._device import training_threads
from objectives.train._fuse import FusedModels, fusion_problem
from objectives.train._loss import kernel_penalty
from objectives.train._metrics import EVAL_BATCH, count_flops, count_params, evaluate
from objectives.train._optim import build_optimizer, build_schedule, schedule_interval
from objectives.train._precision import Precision
from objectives.train._registered import check_registered
from objectives._seeding import RunSeeds, as_seeds
from objectives.train._trainer import (
    Best,
    Diverged,
    EpochStats,
    FitResult,
    Forward,
    ModelBuilder,
    _should_stop,
    batch_bounds,
    build_for_data,
    fit,
    fit_precision,
    restores_best,
)
from searchspace.errors import ConfigError, valid_list

if TYPE_CHECKING:
    from objectives._config import RunConfig

BATCH_MODES = ("auto", "on", "off")
PROBE_STEPS = 3  # timed optimizer steps per side in the auto probe (after one warm-up step)
PROBE_MARGIN = 1.05  # auto batches only when the probe measured it at least this much faster

Outcome = FitResult | BaseException  # a seed's result, or what stopped it (Diverged, TrialPruned...)
SeedCallback = Callable[[int, EpochStats], None]  # (seed index, stats); may raise to stop that seed


def check_batch_mode(mode: str) -> str:
    if mode not in BATCH_MODES:
        raise ConfigError(f"unknown --batch-repeats {mode!r}; valid: {valid_list(BATCH_MODES)}")
    return mode


_FUSION: dict[tuple, str | None] = {}  # fusion_problem per architecture, input shape and device


def _architecture_key(run: RunConfig, data: PreparedData, build: ModelBuilder) -> tuple:
    return (run.family, repr(sorted(run.model.items())), run.init, tuple(data.x_train.shape[1:]), data.upsample,
            str(data.device), build)


def batch_fallback_reason(
    run: RunConfig, data: PreparedData, *, forward: Forward | None = None, build: ModelBuilder = build_for_data
) -> str | None:
    """Why the seeds of ``run`` (models made by ``build``) cannot train batched *and* equal to
    sequential training; None when they can. A reason starting "dropout" is the only one that
    ``fit_batched(..., exact=False)`` accepts."""
    if forward is not None:
        return "a custom forward (e.g. skip_cnn's per-image routes) is not batched"
    with torch.random.fork_rng(devices=[]):  # building a model draws from the global generator
        model = build(run, data).to(data.device)
    key = _architecture_key(run, data, build)
    if key not in _FUSION:
        sample = data.inputs("val")[:2] if len(data.y_val) >= 2 else data.inputs("train")[:2]
        problem = fusion_problem(model, sample, channels_last=data.x_train.ndim == 4)
        _FUSION[key] = None if problem is None else f"the model does not fuse: {problem}"
    if _FUSION[key] is not None:
        return _FUSION[key]
    if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return "dropout masks come from the global generator in a per-seed order that a fused model cannot reproduce"
    return None


# -- the batched trainer --------------------------------------------------------------------------


@torch.no_grad()
def _evaluate(fused: FusedModels, x: torch.Tensor, y: torch.Tensor, num_classes: int, precision: Precision):
    """Per seed: mean loss, accuracy and confusion matrix, as ``objectives.train._metrics.evaluate``."""
    fused.train(False)
    loss_sum = torch.zeros(fused.k, device=x.device)
    preds = []
    with precision.autocast(x.device):
        for i in range(0, len(x), EVAL_BATCH):
            logits = fused.forward_shared(x[i : i + EVAL_BATCH]).float()
            yb = y[i : i + EVAL_BATCH]
            loss_sum += F.cross_entropy(logits.transpose(1, 2), yb.expand(fused.k, -1), reduction="none").sum(1)
            preds.append(logits.argmax(2))
    pred = torch.cat(preds, dim=1) if preds else y.new_empty(fused.k, 0)
    n = max(len(y), 1)
    losses = (loss_sum / n).tolist()  # one host sync for all seeds
    accuracies = ((pred == y).sum(1).float() / n).tolist()
    confusions = torch.stack([torch.bincount(y * num_classes + p, minlength=num_classes * num_classes) for p in pred])
    confusions = confusions.view(fused.k, num_classes, num_classes).cpu()
    return [(losses[i], accuracies[i], confusions[i]) for i in range(fused.k)]


def per_model_losses(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Each model's mean cross-entropy, ``(k,)``, from logits ``(k, B, classes)`` and targets ``(k, B)``
    (class indices) or ``(k, B, classes)`` (probabilities): ``objectives.train._loss.classification_loss``
    of each model, in one call (float32 even under autocast)."""
    k, b = logits.shape[:2]
    flat = F.cross_entropy(logits.float().reshape(k * b, -1), target.reshape(k * b, *target.shape[2:]),
                           reduction="none", label_smoothing=label_smoothing)
    return flat.view(k, b).mean(1)


def fit_batched(
    run: RunConfig,
    data: PreparedData,
    *,
    seeds: Sequence[int | RunSeeds],
    on_epoch: SeedCallback | None = None,
    exact: bool = True,
    build: ModelBuilder = build_for_data,
) -> list[Outcome]:
    """Train one model per seed, all together, and return one outcome per seed.

    The batched counterpart of :func:`objectives.train.fit` (same results within float rounding,
    see the module doc). A seed that diverges holds :class:`Diverged`; a seed whose ``on_epoch``
    raised (e.g. ``optuna.TrialPruned``) holds that exception; the other seeds train on.
    Raises ConfigError when ``run`` cannot be batched (:func:`batch_fallback_reason`).

    ``exact=False`` also batches dropout, each seed drawing its own independent masks: every seed
    is still a valid, independently seeded run, but no longer the same as that seed trained alone
    (the same in distribution). Studies never use it (``--batch-repeats`` only batches exactly);
    ``benchmarks/bench_gpu.py`` does, to time seed 000's BaseSeq, which has dropout.

    ``build(run, data) -> nn.Module`` makes each seed's model, as in ``fit``.
    """
    check_registered(run.train)
    run.train.validate()
    reason = batch_fallback_reason(run, data, build=build)
    if reason is not None and (exact or not reason.startswith("dropout")):
        raise ConfigError(f"cannot batch the repeats of this config: {reason}")
    with training_threads(data.device):
        precision = fit_precision(run, data, build=build)
        with precision.math_mode(data.device):
            return _fit_batched(run, data, [as_seeds(s) for s in seeds], on_epoch, build, precision)


def _build(
    run: RunConfig, data: PreparedData, seeds: list[int], channels_last: bool, build: ModelBuilder = build_for_data
) -> list[nn.Module]:
    models = []
    for seed in seeds:
        torch.manual_seed(as_seeds(seed).init)  # as fit: each model initialised under its own seed
        model = build(run, data).to(data.device)
        models.append(model.to(memory_format=torch.channels_last) if channels_last else model)
    return models


def _fit_batched(
    run: RunConfig,
    data: PreparedData,
    seeds: list[RunSeeds],
    on_epoch: SeedCallback | None,
    build: ModelBuilder,
    precision: Precision,
) -> list[Outcome]:
    cfg, device, k = run.train, data.device, len(seeds)
    channels_last = data.x_train.ndim == 4
    restore = restores_best(cfg)  # copy a seed's weights at its best epoch only if they are restored
    models = _build(run, data, seeds, channels_last, build)
    n_params = count_params(models[0])
    flops = count_flops(models[0], (data.in_channels, *data.input_size), device)
    fused = FusedModels(models, channels_last=channels_last)
    batches = batch_bounds(len(data.y_train), cfg.batch_size)
    optimizer = build_optimizer(fused.trainable, cfg)
    schedule = build_schedule(optimizer, cfg, len(batches))
    step_schedule = schedule_interval(cfg.schedule) == "step"
    scaler = precision.scaler(device)
    kernels = fused.kernels if (cfg.l1 or cfg.l2) else []
    augments = [build_augment(cfg, num_classes=data.num_classes, seed=s.augment) for s in seeds]
    shuffles = [torch.Generator().manual_seed(s.order) for s in seeds]

    histories: list[list[EpochStats]] = [[] for _ in seeds]
    best = [Best() for _ in seeds]
    outcomes: list[Outcome | None] = [None] * k
    finals: list[dict[str, torch.Tensor] | None] = [None] * k  # state of a seed that stopped early
    stopped = [False] * k

    def active() -> list[int]:
        return [i for i in range(k) if outcomes[i] is None and not stopped[i]]

    x_train = data.inputs("train") if augments[0] is None else None
    y_train = data.y_train
    for epoch in range(1, cfg.epochs + 1):
        if not active():
            break
        fused.train(True)
        lr = optimizer.param_groups[0]["lr"]
        start, cpu_start = time.perf_counter(), time.process_time()
        loss_sum = torch.zeros(k, device=device)
        correct = torch.zeros(k, device=device, dtype=torch.long)
        perms = torch.stack([torch.randperm(len(y_train), generator=g) for g in shuffles]).to(device)
        for lo, hi in batches:
            idx = perms[:, lo:hi]
            if augments[0] is None:
                xb, target = x_train[idx], y_train[idx]
            else:  # each seed augments its own batch with its own generator
                pairs = [aug(data.train_batch(idx[i]), y_train[idx[i]]) for i, aug in enumerate(augments)]
                xb = torch.stack([data.finish(p[0]) for p in pairs])
                target = torch.stack([p[1] for p in pairs])
            with precision.autocast(device):
                logits = fused.forward(xb)  # (k, B, classes); the fused input is channels-last
            losses = per_model_losses(logits, target, cfg.label_smoothing)
            penalty = kernel_penalty(kernels, cfg.l1, cfg.l2)  # separable: each seed's own penalty
            optimizer.zero_grad(set_to_none=True)
            total = losses.sum() if penalty is None else losses.sum() + penalty
            if scaler is None:
                total.backward()
                if cfg.grad_clip > 0:
                    fused.clip_(cfg.grad_clip)
                optimizer.step()
            else:  # fp16 (one scale for the batch: a step skipped on overflow is skipped for every seed)
                scaler.scale(total).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    fused.clip_(cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            if step_schedule:
                schedule.step()
            loss_sum += losses.detach() * (hi - lo)
            labels = target if target.ndim == 2 else target.argmax(2)
            correct += (logits.detach().argmax(2) == labels).sum(1)
        images = batches[-1][1]
        train_losses = (loss_sum / images).tolist()  # the epoch's one host sync
        train_accuracies = (correct.float() / images).tolist()
        pass_seconds = (time.perf_counter() - start) / k  # each seed's share of the fused pass
        pass_cpu_seconds = (time.process_time() - cpu_start) / k
        if not step_schedule:
            schedule.step()
        val = _evaluate(fused, data.inputs("val"), data.labels("val"), data.num_classes, precision)
        seconds = (time.perf_counter() - start) / k
        for i in active():
            if not math.isfinite(train_losses[i]):
                outcomes[i] = Diverged(epoch, train_losses[i])
                continue
            stats = EpochStats(
                epoch=epoch, train_loss=train_losses[i], train_accuracy=train_accuracies[i],
                val_loss=val[i][0], val_accuracy=val[i][1], lr=lr, seconds=seconds,
                train_pass_seconds=pass_seconds, train_pass_cpu_seconds=pass_cpu_seconds, images=images,
            )
            histories[i].append(stats)
            value = stats.val_loss if cfg.monitor == "val_loss" else stats.val_accuracy
            best[i] = best[i].after(epoch, value, cfg.monitor, (lambda: fused.state_of(i)) if restore else None)
            if on_epoch is not None:
                try:
                    on_epoch(i, stats)
                except Exception as exc:  # e.g. optuna.TrialPruned: this seed ends here
                    outcomes[i] = exc
                    continue
            if _should_stop(cfg, best[i], histories[i]) and epoch < cfg.epochs:
                stopped[i] = True
                finals[i] = fused.state_of(i)

    results: list[Outcome] = []
    for i, seed in enumerate(seeds):
        if outcomes[i] is not None:
            results.append(outcomes[i])
            continue
        model, selected = models[i], len(histories[i])
        if restore and best[i].state is not None:
            model.load_state_dict(best[i].state)
            selected = best[i].epoch
        else:
            model.load_state_dict(finals[i] if finals[i] is not None else fused.state_of(i))
        results.append(
            _result(model, seed.init, selected, histories[i], stopped[i], k, data, n_params, flops, precision)
        )
    return results


def _result(model, seed, selected, history, stopped_early, k, data, n_params, flops, precision) -> FitResult:
    """A seed's FitResult: its selected weights evaluated on val and test by the very
    ``objectives.train._metrics.evaluate`` that ``fit`` uses."""
    channels_last = data.x_train.ndim == 4
    val_loss, val_acc, _, val_ok = evaluate(model, data.inputs("val"), data.labels("val"), data.num_classes,
                                            channels_last=channels_last, per_image=True, precision=precision)
    test_loss, test_acc, confusion, test_ok = evaluate(model, data.inputs("test"), data.labels("test"),
                                                       data.num_classes, channels_last=channels_last, per_image=True,
                                                       precision=precision)
    # per-image correctness, as fit stores it (objectives._per_image): the analysis counts the
    # evaluation set's noise for batched repeats too
    per_image = {"val_correct": pack_correct(val_ok.cpu().numpy(), data.labels("val").cpu().numpy()),
                 "test_correct": pack_correct(test_ok.cpu().numpy(), data.labels("test").cpu().numpy())}
    pass_seconds = sum(h.train_pass_seconds for h in history)
    return FitResult(
        seed=seed, history=history, best_epoch=selected, stopped_early=stopped_early,
        val_loss=val_loss, val_accuracy=val_acc, test_loss=test_loss, test_accuracy=test_acc,
        confusion=confusion.tolist(), params=n_params, flops=flops,
        train_seconds=sum(h.seconds for h in history),
        images_per_second=sum(h.images for h in history) / pass_seconds if pass_seconds > 0 else 0.0,
        extra={"batched_repeats": k, "precision": precision.name, **per_image}, model=model,
    )


# -- choosing between batched and sequential ----------------------------------------------------

_PROBES: dict[tuple, float] = {}


def probe_speedup(
    run: RunConfig, data: PreparedData, k: int, *, steps: int = PROBE_STEPS, build: ModelBuilder = build_for_data
) -> float:
    """Sequential time / batched time of ``steps`` optimizer steps of ``k`` models of ``run``
    (one untimed warm-up step each side), in the precision a fit would use; > 1 means batching is
    faster. Cached per process by architecture, batch size, k, device and input shape. The global
    RNG is left as it was."""
    key = (*_architecture_key(run, data, build), run.train.batch_size, run.train.optimizer, k)
    if key in _PROBES:
        return _PROBES[key]
    cfg, bs = run.train, min(run.train.batch_size, len(data.y_train))
    channels_last = data.x_train.ndim == 4
    x = data.inputs("train")[:bs]
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = data.y_train[:bs]
    cuda = [data.device.index if data.device.index is not None else torch.cuda.current_device()] \
        if data.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), training_threads(data.device):
        precision = fit_precision(run, data, build=build)
        models = _build(run, data, list(range(k)), channels_last, build)
        optimizers = [build_optimizer([p for p in m.parameters() if p.requires_grad], cfg) for m in models]

        def sequential() -> None:
            for model, opt in zip(models, optimizers):
                with precision.autocast(data.device):
                    loss = F.cross_entropy(model(x).float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        fused = FusedModels(_build(run, data, list(range(k)), channels_last, build), channels_last=channels_last)
        fused.train(True)
        fused_opt = build_optimizer(fused.trainable, cfg)
        xs = x.unsqueeze(0).expand(k, *x.shape)
        ys = y.unsqueeze(0).expand(k, -1)

        def batched() -> None:
            with precision.autocast(data.device):
                logits = fused.forward(xs)
            loss = per_model_losses(logits, ys).sum()
            fused_opt.zero_grad(set_to_none=True)
            loss.backward()
            fused_opt.step()

        seconds = []
        with precision.math_mode(data.device):
            for step in (sequential, batched):
                step()  # warm-up: allocator, kernel selection, lazy imports
                _sync(data.device)
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                _sync(data.device)
                seconds.append(time.perf_counter() - start)
    _PROBES[key] = seconds[0] / max(seconds[1], 1e-12)
    return _PROBES[key]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def choose_batched(
    run: RunConfig,
    data: PreparedData,
    k: int,
    mode: str,
    *,
    forward: Forward | None = None,
    build: ModelBuilder = build_for_data,
) -> tuple[bool, str]:
    """Whether to train ``k`` seeds of ``run`` batched under ``mode`` (auto | on | off), and why."""
    check_batch_mode(mode)
    if mode == "off":
        return False, "batch-repeats is off"
    if k < 2:
        return False, "a single seed"
    reason = batch_fallback_reason(run, data, forward=forward, build=build)
    if reason is not None:
        return False, reason
    if mode == "on":
        return True, "batch-repeats is on"
    speedup = probe_speedup(run, data, k, build=build)
    if speedup >= PROBE_MARGIN:
        return True, f"probe: batched {speedup:.2f}x faster"
    return False, f"probe: batched only {speedup:.2f}x as fast as sequential"


def fit_repeats(
    run: RunConfig,
    data: PreparedData,
    *,
    seeds: Sequence[int],
    mode: str = "auto",
    on_epoch: SeedCallback | None = None,
    build: ModelBuilder = build_for_data,
) -> tuple[list[Outcome], str]:
    """Train the seeds of ``run`` batched or one after another, as ``mode`` and the config allow.

    Returns one outcome per seed (a FitResult, or the exception that stopped that seed) and the
    reason for the choice made. Unlike :func:`objectives.train.fit`, a seed that fails does not stop
    the others in either path.
    """
    batched, why = choose_batched(run, data, len(seeds), mode, build=build)
    if batched:
        return fit_batched(run, data, seeds=seeds, on_epoch=on_epoch, build=build), why
    outcomes: list[Outcome] = []
    for index, seed in enumerate(seeds):
        callback = (lambda stats, index=index: on_epoch(index, stats)) if on_epoch else None
        try:
            outcomes.append(fit(run, data, seed=seed, on_epoch=callback, build=build))
        except Exception as exc:  # Diverged, TrialPruned...: this seed only
            outcomes.append(exc)
    return outcomes, why
