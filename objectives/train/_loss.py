"""The training loss: cross-entropy (hard or soft targets) plus Keras-style kernel penalties.

Seed 002 regularises with Keras ``kernel_regularizer``s: ``l1(a)`` adds ``a * sum(|w|)`` and
``l2(b)`` adds ``b * sum(w ** 2)`` (no 1/2 factor) to the loss, for the kernel of every Conv and
Dense layer and nothing else (no biases, no batch-norm scales). :func:`kernel_weights` picks the
same tensors in a torch model: the ``weight`` of every convolution and linear layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KERNEL_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


def kernel_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors of every conv / linear layer of ``model`` (biases and norms excluded)."""
    return [m.weight for m in model.modules() if isinstance(m, KERNEL_LAYERS) and m.weight is not None]


def kernel_penalty(kernels: list[torch.Tensor], l1: float, l2: float) -> torch.Tensor | None:
    """``l1 * sum|w| + l2 * sum(w^2)`` over ``kernels``, or None when both are 0."""
    if not kernels or (l1 == 0 and l2 == 0):
        return None
    total = None
    if l1:
        # torch._foreach_norm computes every tensor's norm in one multi-tensor kernel. The public
        # torch.nn.utils.get_total_norm wraps the same call but runs under torch.no_grad (it is
        # meant for gradient clipping), so its result would drop the penalty from the backward
        # pass; the gradient check in tests/objectives/test_train_optim.py would fail with it.
        total = l1 * torch.stack(torch._foreach_norm(kernels, 1)).sum()
    if l2:
        squares = l2 * torch.stack(torch._foreach_norm(kernels, 2)).square().sum()
        total = squares if total is None else total + squares
    return total


def classification_loss(
    logits: torch.Tensor, target: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy; ``target`` holds class indices ``(B,)`` or probabilities ``(B, C)``
    (what MixUp / CutMix produce). Computed in float32 even under autocast."""
    return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
