"""A plain-data summary of a built model: parameter count, output shape and its layers in order."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from searchspace.families._registry import normalize_size


def _shape(output: object) -> list[Any]:
    """Shape of a tensor output; a list of shapes for tuple/list outputs (rare among leaves)."""
    if isinstance(output, torch.Tensor):
        return list(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape(o) for o in output]
    return []


def describe_model(
    model: nn.Module, *, in_channels: int, input_size: int | tuple[int, int]
) -> dict[str, Any]:
    """Run one zero image through ``model`` and record every leaf module as it executes.

    Returns ``{"params": trainable parameter count, "output_shape": [1, num_classes], "layers":
    [{"name", "type", "output_shape", "params"}, ...]}``, the layers in forward order (a module
    called twice appears twice). The model runs in eval mode under ``torch.no_grad()`` and every
    module gets its previous mode back; the hooks are removed afterwards, even if the forward fails.
    """
    height, width = normalize_size(input_size)
    layers: list[dict[str, Any]] = []
    handles = []

    def record(name: str):
        def hook(module: nn.Module, _inputs: object, output: object) -> None:
            layers.append(
                {
                    "name": name,
                    "type": type(module).__name__,
                    "output_shape": _shape(output),
                    "params": sum(p.numel() for p in module.parameters() if p.requires_grad),
                }
            )

        return hook

    for name, module in model.named_modules():
        if name and next(module.children(), None) is None:  # a leaf
            handles.append(module.register_forward_hook(record(name)))
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    modes = [(m, m.training) for m in model.modules()]  # restored one by one: they may differ
    try:
        model.eval()
        with torch.no_grad():
            output = model(torch.zeros(1, in_channels, height, width, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    return {
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "output_shape": _shape(output),
        "layers": layers,
    }
