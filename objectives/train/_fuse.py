"""k models of one architecture fused into one model k times wider (HFTA's horizontal fusion).

Seed-batched repeats train k models that differ only in their seed. Here they become one plain
``nn.Module`` whose every activation holds the k models side by side on the channel (feature)
axis, model i owning the i-th block of channels (Wang et al., HFTA, MLSys 2021):

- a convolution ``Conv(C_in, C_out, groups=g)`` becomes ``Conv(k*C_in, k*C_out, groups=k*g)``:
  one grouped convolution, model i's kernels in the i-th group;
- a batch norm over ``C`` channels becomes one over ``k*C``: batch norm is per channel, so model
  i's statistics, affine weights and running averages are its own block;
- a linear layer becomes :class:`FusedLinear`, one batched matrix product (``baddbmm``) over
  ``(k, out, in)`` weights; flattening a ``(B, k*C, H, W)`` map gives model i's features as the
  i-th contiguous block, in its own ``(C, H, W)`` order, so no reordering is needed;
- activations, pooling, dropout, spatial padding and upsampling act per element or per channel
  and are kept as they are; any other parameter-free module is applied to each model's block
  separately (:class:`PerSeed`); containers keep their own ``forward`` (residual additions work
  unchanged).

Why by hand, not ``torch.func.vmap`` over stacked state: vmap evaluates composite ops on a
``BatchedTensor``, and on CUDA the batch-norm backend choice (cuDNN) asks such a tensor whether it
is channels-last contiguous, which vmap does not implement ("NYI: querying is_contiguous inside of
vmap for memory_format other than torch.contiguous_format"): fp32 or fp16 batch norm under vmap
crashed on the first GPU run. A fused model is an ordinary module on ordinary 4-D tensors, so the
channels-last layout, cuDNN's batch norm and autocast work as in ``fit``, the CPU runs the very
same modules and layout the GPU does, and no op pays vmap's per-op dispatch.

Whether a model fuses exactly is checked, not assumed (:func:`fusion_problem`): the fused forward
of two differently perturbed copies must reproduce each copy's own forward. A ``forward`` that
mixes channels (a ``torch.cat`` on the channel axis, a reshape that names ``C``) fails that check
and the repeats train one by one.
"""

from __future__ import annotations

import copy
import math
import torch
from torch import nn

# Parameter-free modules that act per element, per channel or on the spatial axes only: they
# compute each model's block of a fused activation exactly as they compute it alone.
_PASS_THROUGH = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish,
    nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid,
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.dropout._DropoutNd, nn.Identity, nn.Upsample,
    nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd,
)
CHECK_TOLERANCE = 1e-4  # max |fused - alone| / (1 + max |alone|) of the fusion check's logits (float32)


class FusionError(ValueError):
    """A model that cannot be fused exactly (the message says which module and why)."""


class FusedLinear(nn.Module):
    """k ``nn.Linear(in, out)`` as one: input ``(..., k*in)``, output ``(..., k*out)``; model i reads
    and writes the i-th block. Weights ``(k, out, in)``, bias ``(k, out)``."""

    def __init__(self, k: int, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.k, self.in_features, self.out_features = k, in_features, out_features
        self.weight = nn.Parameter(torch.empty(k, out_features, in_features, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(k, out_features, device=device, dtype=dtype)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        xk = x.reshape(-1, self.k, self.in_features).transpose(0, 1)  # (k, N, in)
        w = self.weight.transpose(1, 2)  # (k, in, out)
        out = torch.bmm(xk, w) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), xk, w)
        return out.transpose(0, 1).reshape(*lead, self.k * self.out_features)

    def extra_repr(self) -> str:
        return (f"k={self.k}, in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class PerSeed(nn.Module):
    """A parameter-free module of unknown kind, applied to each model's block on its own: the k
    blocks of ``(B, k*C, ...)`` become a batch of ``k*B`` inputs ``(C, ...)`` and back."""

    def __init__(self, module: nn.Module, k: int) -> None:
        super().__init__()
        self.module, self.k = module, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, rest = x.shape[0], x.shape[2:]
        per = x.reshape(b, self.k, -1, *rest).transpose(0, 1).reshape(self.k * b, -1, *rest)
        y = self.module(per)
        return y.reshape(self.k, b, *y.shape[1:]).transpose(0, 1).reshape(b, -1, *y.shape[2:])


def _fused_leaf(module: nn.Module, k: int) -> nn.Module:
    """The fused counterpart of one leaf module (built on the meta device: weights are copied in
    later, and no initialisation draws from a generator); raises FusionError."""
    name = type(module).__name__
    meta = {"device": "meta"}
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.transposed:
            raise FusionError(f"{name} (a transposed convolution) is not fused")
        return type(module)(
            k * module.in_channels, k * module.out_channels, module.kernel_size, stride=module.stride,
            padding=module.padding, dilation=module.dilation, groups=k * module.groups, bias=module.bias is not None,
            padding_mode=module.padding_mode, **meta,
        )
    if type(module) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        return type(module)(k * module.num_features, eps=module.eps, momentum=module.momentum, affine=module.affine,
                            track_running_stats=module.track_running_stats, **meta)
    if type(module) is nn.Linear:
        return FusedLinear(k, module.in_features, module.out_features, bias=module.bias is not None, **meta)
    if type(module) is nn.Unflatten and module.dim == 1 and isinstance(module.unflattened_size, tuple):
        first, *rest = module.unflattened_size
        return nn.Unflatten(1, (k * first, *rest))
    if type(module) is nn.Flatten:
        plain = (module.start_dim, module.end_dim) == (1, -1)
        return copy.deepcopy(module) if plain else PerSeed(copy.deepcopy(module), k)
    own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
    if own:
        raise FusionError(f"{name} has parameters or buffers of a kind that is not fused")
    # copies: the fused model's train/eval switches must not reach the template's modules
    if isinstance(module, _PASS_THROUGH):
        return copy.deepcopy(module)
    return PerSeed(copy.deepcopy(module), k)


def _fuse_tree(module: nn.Module, k: int) -> nn.Module:
    """A copy of ``module`` with every leaf replaced by its fused counterpart (containers keep
    their own forward)."""
    children = list(module.named_children())
    if not children:
        return _fused_leaf(module, k)
    if list(module.parameters(recurse=False)) or [b for b in module.buffers(recurse=False)]:
        raise FusionError(f"{type(module).__name__} holds parameters of its own besides its sub-modules")
    out = copy.copy(module)  # shallow: a new _modules dict below, the template's submodules untouched
    out._modules = dict(module._modules)
    for name, child in children:
        out._modules[name] = _fuse_tree(child, k)
    return out


def seed_view(fused: torch.Tensor, shape: torch.Size, k: int) -> torch.Tensor:
    """``fused`` (a fused parameter, buffer or gradient) as ``(k, *shape)``: model i's tensor at [i]
    (a view; splitting the first axis is a view in any memory format)."""
    if tuple(fused.shape) == (k, *shape):
        return fused
    if len(shape) == 0:  # num_batches_tracked: one counter, the same for every model
        return fused.expand(k)
    return fused.unflatten(0, (k, shape[0]))


class FusedModels:
    """k models of one architecture (different weights) as one fused ``module``.

    ``forward(x)`` takes ``(k, B, ...)`` (each model its own batch) and ``forward_shared(x)``
    ``(B, ...)`` (one batch for all); both return logits ``(k, B, classes)``. Parameter and
    buffer names are those of the models; :meth:`state_of` gives model i's state dict.
    """

    def __init__(self, models: list[nn.Module], *, channels_last: bool = False) -> None:
        if not models:
            raise FusionError("nothing to fuse")
        self.k = k = len(models)
        template = models[0]
        device = next(iter(template.parameters()), torch.empty(0)).device
        self.shapes = {n: t.shape for n, t in template.state_dict().items()}
        module = _fuse_tree(template, k).to_empty(device=device)
        names = set(module.state_dict())
        if names != set(self.shapes):
            raise FusionError("the fused model's state does not match the model's (a module is fused twice?)")
        self.module = module.to(memory_format=torch.channels_last) if channels_last else module
        self.channels_last = channels_last
        self.load(models)
        self.kernels = [m.weight for m in self.module.modules()
                        if isinstance(m, (nn.modules.conv._ConvNd, FusedLinear)) and m.weight is not None]
        self.trainable = [p for p in self.module.parameters() if p.requires_grad]
        self._seed_shapes = {id(p): self.shapes[n] for n, p in self.module.named_parameters()}

    @torch.no_grad()
    def load(self, models: list[nn.Module]) -> None:
        """Copy the k models' weights and buffers into the fused module."""
        states = [m.state_dict() for m in models]
        for name, tensor in self.module.state_dict().items():
            if len(self.shapes[name]) == 0:
                tensor.copy_(states[0][name])  # a shared counter
            else:
                seed_view(tensor, self.shapes[name], self.k).copy_(torch.stack([s[name] for s in states]))

    def train(self, mode: bool = True) -> None:
        self.module.train(mode)

    def state_of(self, i: int) -> dict[str, torch.Tensor]:
        """Model i's state dict (detached copies)."""
        return {n: seed_view(t, self.shapes[n], self.k)[i].detach().clone()
                for n, t in self.module.state_dict().items()}

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``(k, B, C, ...)`` per-model batches as one fused input ``(B, k*C, ...)``, channels-last for
        image batches when the module is."""
        k, b = x.shape[:2]
        if self.channels_last and x.ndim == 5:  # (k, B, C, H, W) -> memory order B, H, W, k, C
            c, h, w = x.shape[2:]
            return x.permute(1, 3, 4, 0, 2).reshape(b, h, w, k * c).permute(0, 3, 1, 2)
        return x.transpose(0, 1).reshape(b, k * x.shape[2], *x.shape[3:])

    def shared_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """One batch ``(B, C, ...)`` given to every model, as a fused input ``(B, k*C, ...)``."""
        return self.inputs(x.unsqueeze(0).expand(self.k, *x.shape))

    def logits(self, fused: torch.Tensor) -> torch.Tensor:
        """Fused logits ``(B, k*classes)`` as ``(k, B, classes)`` (a view)."""
        b = fused.shape[0]
        return fused.reshape(b, self.k, -1).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.module(self.inputs(x)))

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.module(self.shared_inputs(x)))

    @torch.no_grad()
    def clip_(self, max_norm: float) -> None:
        """``nn.utils.clip_grad_norm_`` applied to each model's gradients on their own."""
        views = [seed_view(p.grad, self._seed_shapes[id(p)], self.k) for p in self.trainable if p.grad is not None]
        if not views:
            return
        squares = torch.stack([torch.linalg.vector_norm(v.float(), dim=tuple(range(1, v.ndim))).square()
                               if v.ndim > 1 else v.float().square() for v in views])  # (tensors, k)
        total = squares.sum(0).sqrt()
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for v in views:
            v.mul_(coef.view(-1, *([1] * (v.ndim - 1))).to(v.dtype))


def fusion_problem(model: nn.Module, sample: torch.Tensor, *, channels_last: bool = False) -> str | None:
    """Why ``model`` cannot be fused exactly, or None when it can.

    Builds the fused model of two copies, the second with every parameter and buffer perturbed,
    and compares its logits on ``sample`` (a small input batch on the model's device, evaluated in
    float32 eval mode) with each copy's own. A forward that mixes the models' channels, or a
    module kind that is not fused, gives a reason instead of a wrong result.
    """
    first = copy.deepcopy(model).float().eval()
    second = copy.deepcopy(first)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        for t in (*second.parameters(), *second.buffers()):
            if t.is_floating_point():
                noise = torch.rand(t.shape, generator=generator).to(t.device)
                t.add_(0.1 * (noise - 0.5) * (1 + t.abs()))  # running_var stays positive
    from objectives.train._precision import Precision

    try:
        fused = FusedModels([first, second], channels_last=channels_last)
        fused.train(False)
        # strict float32 (no TF32 on a GPU): the check compares summation orders, not precisions
        with torch.no_grad(), Precision("fp32").math_mode(sample.device):
            got = fused.forward_shared(sample.float())
            want = torch.stack([first(sample.float()), second(sample.float())])
    except FusionError as exc:
        return str(exc)
    except Exception as exc:  # a forward that breaks on the fused shapes (e.g. a channel pad or cat)
        return f"its forward does not run fused ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    if got.shape != want.shape:
        return f"its forward mixes the models' channels (fused logits {tuple(got.shape)}, expected {tuple(want.shape)})"
    error = float((got - want).abs().max()) / (1.0 + float(want.abs().max()))
    if not math.isfinite(error) or error > CHECK_TOLERANCE:
        return f"its forward mixes the models' channels (fused logits differ by {error:.2g})"
    return None

