"""Weight initialisation schemes, applied by name to any family.

``default`` keeps PyTorch's (and timm's) own initialisation. The others re-initialise the weight of
every convolution and linear layer and zero their biases; normalisation layers keep weight 1 and
bias 0. ``normal`` uses a standard deviation of 0.05, Keras' ``RandomNormal`` default, because the
seed papers that compare it (seed 002) were written in Keras.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

NORMAL_STD = 0.05


def _he_normal(w: torch.Tensor) -> None:
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")


def _he_uniform(w: torch.Tensor) -> None:
    nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")


INIT_SCHEMES: dict[str, Callable[[torch.Tensor], None] | None] = {
    "default": None,
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "xavier_normal": nn.init.xavier_normal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "normal": lambda w: nn.init.normal_(w, 0.0, NORMAL_STD),
    "zeros": nn.init.zeros_,
}

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)


@torch.no_grad()
def apply_init(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme`` (a key of :data:`INIT_SCHEMES`)."""
    fn = INIT_SCHEMES[scheme]
    if fn is None:
        return model
    for module in model.modules():
        if isinstance(module, _WEIGHTED):
            fn(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
