"""Routed forward passes, prediction and inference timing for the skip pipeline.

CNN-3 itself trains with ``objectives.train.fit(..., forward=routed_forward(routes))``: the
trainer hands each batch's image indices to that forward, which passes the images' exits to the
model, so the routed model trains with every option of the trainer (augmentation, schedules,
penalties, checkpoints) and there is one training loop in layerlab. Routes are this family's
business: the trainer knows only that a forward may read which images it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import torch
from torch import nn

from objectives.train import autocast_for

EVAL_BATCH = 1024  # images per forward pass when predicting or timing
TIMING_IMAGES = 1024  # test images timed: enough for a steady per-image figure, cheap on a CPU
TIMING_REPEATS = 5  # timed passes after one warm-up; the fastest is reported (least disturbed)


def routed_forward(routes: Mapping[str, torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The trainer's ``forward`` for ``skip_cnn``: ``routes`` maps ``train``/``val``/``test`` to one
    exit index per image of that split, and every forward pass becomes ``model(x, route=...)``.
    Under mixup/cutmix a mixed image keeps the route of its first image."""

    def forward(model: nn.Module, x: torch.Tensor, split: str, index: torch.Tensor | slice) -> torch.Tensor:
        return model(x, route=routes[split][index])

    return forward


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
