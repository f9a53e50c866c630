"""Evaluation and model-cost metrics: loss, accuracy and confusion matrix; parameters; FLOPs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

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
    forward: Callable[[nn.Module, torch.Tensor, slice], torch.Tensor] | None = None,
    per_image: bool = False,
    precision=None,
) -> tuple[float, float, torch.Tensor] | tuple[float, float, torch.Tensor, torch.Tensor]:
    """Mean loss, accuracy and confusion matrix (true x predicted) of ``model`` on (x, y).

    ``per_image=True`` adds a fourth element: the bool correctness of each image (CPU), which
    trials store (``objectives._per_image``) so the analysis can account for the finite eval set.

    ``forward(model, images, index)`` replaces ``model(images)``; ``index`` is the slice of
    ``x`` the images are (how the skip pipeline passes each image's route to ``skip_cnn``).
    ``precision``: the fit's :class:`objectives.train._precision.Precision` (None: the device's
    default autocast, :func:`objectives.train.autocast_for`).
    """
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    preds = []
    with autocast_for(x.device) if precision is None else precision.autocast(x.device):
        for i in range(0, len(x), EVAL_BATCH):
            xb = x[i : i + EVAL_BATCH].contiguous(memory_format=layout)
            logits = (model(xb) if forward is None else forward(model, xb, slice(i, i + EVAL_BATCH))).float()
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


# Modules whose own parameters cost no matrix-product FLOPs (FlopCounterMode does not count
# element-wise work either); any other module with parameters of its own sends count_flops to the
# general FlopCounterMode path, so a new layer type can never be silently under-counted.
_NO_FLOP_MODULES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.PReLU, nn.Embedding)
_FLOP_CACHE: dict[tuple[str, tuple[int, ...]], int] = {}


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """FLOPs of one forward pass of one image of ``input_shape`` (C, H, W), in eval mode.

    Counted as ``torch.utils.flop_counter.FlopCounterMode`` counts them: matrix products and
    convolutions, a multiply-add counting as 2 FLOPs; element-wise work (activations, batch norm,
    pooling, bias adds) is not counted. So a ``Linear(i, o)`` costs ``2 * i * o`` and a convolution
    ``2 * C_out * (C_in / groups) * k_h * k_w * H_out * W_out``.

    Models built only of ``nn.Linear`` / ``nn.Conv*d`` (plus parameter-free and normalisation
    layers) are counted with forward hooks, which give the same number: FlopCounterMode's first use
    in a process imports ``torch._dynamo`` (seconds of CPU in every worker). Anything else falls back
    to FlopCounterMode. The count is cached per architecture (the model's ``repr``) and input shape.
    """
    key = (_architecture(model), tuple(int(d) for d in input_shape))
    if key not in _FLOP_CACHE:
        was_training = model.training
        model.eval()
        try:
            flops = _hooked_flops(model, input_shape, device)
            _FLOP_CACHE[key] = flops if flops is not None else _dispatch_flops(model, input_shape, device)
        finally:
            model.train(was_training)
    return _FLOP_CACHE[key]


def _architecture(model: nn.Module) -> str:
    """A key naming an architecture: its ``repr`` plus every module's plain public settings (a
    flag that changes ``forward`` but not the ``repr`` still changes the key)."""
    plain = (bool, int, float, str, tuple, type(None))
    settings = [
        (
            type(m).__qualname__,
            sorted((k, v) for k, v in vars(m).items() if not k.startswith("_") and isinstance(v, plain)),
        )
        for m in model.modules()
    ]
    return repr(model) + repr(settings)


def _hooked_flops(model: nn.Module, input_shape: tuple[int, ...], device) -> int | None:
    """FLOPs from forward hooks on Linear and convolution layers; None when the model has a layer
    with parameters of its own that these hooks cannot count."""
    counted = (nn.Linear, nn.modules.conv._ConvNd)
    for module in model.modules():
        if isinstance(module, counted) or isinstance(module, _NO_FLOP_MODULES):
            if isinstance(module, nn.modules.conv._ConvNd) and isinstance(module, nn.modules.conv._ConvTransposeNd):
                return None
            continue
        if any(True for _ in module.parameters(recurse=False)):
            return None
    total = [0]

    def linear(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        total[0] += 2 * module.in_features * output.numel()

    def conv(module: nn.modules.conv._ConvNd, _inputs, output: torch.Tensor) -> None:
        per_output = module.in_channels // module.groups
        for k in module.kernel_size:
            per_output *= k
        total[0] += 2 * per_output * output.numel()

    handles = [
        m.register_forward_hook(linear if isinstance(m, nn.Linear) else conv)
        for m in model.modules()
        if isinstance(m, counted)
    ]
    try:
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def _dispatch_flops(model: nn.Module, input_shape: tuple[int, ...], device) -> int:
    from torch.utils.flop_counter import FlopCounterMode  # imports torch._dynamo when first entered

    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, *input_shape, device=device))
    return int(counter.get_total_flops())
