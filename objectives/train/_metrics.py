"""Evaluation and model-cost metrics: loss, accuracy and confusion matrix; parameters; FLOPs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from objectives.train._device import autocast_for

EVAL_BATCH = 1024  # images per forward pass when evaluating (no gradients are kept)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    *,
    channels_last: bool = False,
    route: torch.Tensor | None = None,
    per_image: bool = False,
) -> tuple[float, float, torch.Tensor] | tuple[float, float, torch.Tensor, torch.Tensor]:
    """Mean loss, accuracy and confusion matrix (true x predicted) of ``model`` on (x, y).

    ``per_image=True`` adds a fourth element: the bool correctness of each image (CPU), which
    trials store (``objectives._per_image``) so the analysis can account for the finite eval set.

    ``route`` (one exit index per image) is passed on to models that route images, such as
    ``skip_cnn``: ``model(x, route=...)``.
    """
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    preds = []
    with autocast_for(x.device):
        for i in range(0, len(x), EVAL_BATCH):
            extra = {} if route is None else {"route": route[i : i + EVAL_BATCH]}
            logits = model(x[i : i + EVAL_BATCH].contiguous(memory_format=layout), **extra).float()
            loss_sum += F.cross_entropy(logits, y[i : i + EVAL_BATCH], reduction="sum")
            preds.append(logits.argmax(1))
    pred = torch.cat(preds) if preds else y.new_empty(0)
    confusion = torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    n = max(len(y), 1)
    out = float(loss_sum) / n, float((pred == y).sum()) / n, confusion.view(num_classes, num_classes).cpu()
    return (*out, (pred == y).cpu()) if per_image else out


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """FLOPs of one forward pass of one image of ``input_shape`` (C, H, W), in eval mode.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: matrix products and convolutions, a
    multiply-add counting as 2 FLOPs; element-wise work (activations, batch norm, pooling, bias
    adds) is not counted. So a ``Linear(i, o)`` costs ``2 * i * o`` and a convolution
    ``2 * C_out * (C_in / groups) * k_h * k_w * H_out * W_out``.
    """
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
