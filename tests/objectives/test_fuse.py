"""The fused model of seed-batched repeats (objectives/train/_fuse.py) on the CUDA path's layout.

The first GPU run crashed in ``fit_batched``: batch norm under vmap with channels-last inputs asked
a BatchedTensor ``is_contiguous(memory_format=channels_last)`` (cuDNN's backend choice does that on
CUDA), which vmap does not implement. These tests run, on the CPU, the very layout and batch-norm
call the GPU path makes (channels-last 4-D tensors into ``torch.batch_norm``), with cuDNN's
contiguity query emulated, so that crash cannot come back unseen.

Dropout: batched seeds draw other masks than their sequential runs, so they can only agree in
distribution. The test compares the distribution of a dropout-dependent statistic over many draws
(two-sample Kolmogorov-Smirnov test, scipy.stats.ks_2samp) and checks that the seeds' masks are
independent of each other; a negative control shows the test detects a wrong dropout.
"""

from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch import nn

from objectives import RunConfig
from objectives.train._trainer import fit
from objectives.data._prepare import prepare_data
from objectives.train._batched import fit_batched
from objectives.train._device import training_threads
from objectives.train._fuse import FusedModels, FusionError, fusion_problem
from searchspace import build_model

def _cudnn_like_batch_norm(seen: list):
    """``torch.batch_norm`` as CUDA runs it for fp32 / fp16 inputs: ``_batch_norm_impl_index`` picks
    cuDNN and first makes the input contiguous in its suggested memory format, which asks the
    tensor whether it is channels-last contiguous. ``seen`` collects (shape, channels_last?)."""
    real = torch.batch_norm

    def batch_norm(input, *args, **kwargs):
        if input.dim() == 4:
            last = input.is_contiguous(memory_format=torch.channels_last)  # a BatchedTensor raises NYI here
            seen.append((tuple(input.shape), last))
            if last:
                input = input.contiguous(memory_format=torch.channels_last)
        return real(input, *args, **kwargs)

    return batch_norm


def test_the_emulated_cudnn_batch_norm_reproduces_the_vmap_crash(monkeypatch):
    # the control: the emulation raises the GPU run's error under vmap, so the next test can fail
    monkeypatch.setattr(torch, "batch_norm", _cudnn_like_batch_norm([]))
    bn = nn.BatchNorm2d(4)
    x = torch.randn(3, 8, 5, 5, 4).permute(0, 1, 4, 2, 3)  # 3 models' batches, each channels-last
    with pytest.raises(RuntimeError, match="NYI: querying is_contiguous inside of vmap"):
        torch.func.vmap(lambda t: nn.functional.batch_norm(t, None, None, bn.weight, bn.bias, training=True))(x)


def test_batched_repeats_train_channels_last_through_the_cudnn_batch_norm_path(monkeypatch):
    seen: list = []
    monkeypatch.setattr(torch, "batch_norm", _cudnn_like_batch_norm(seen))

    def no_vmap(*args, **kwargs):
        raise AssertionError("the fused path must not use vmap")

    monkeypatch.setattr(torch.func, "vmap", no_vmap)
    monkeypatch.setattr(torch, "vmap", no_vmap)
    run = RunConfig.from_flat({"family": "seq", "dataset": "digits", "layers": "Conv-BN-PL-FCL-AL", "channels": 8,
                               "fc_units": 16, "epochs": 1, "early_stopping": False, "batch_size": 64})
    data = prepare_data(run.data)
    batched = fit_batched(run, data, seeds=[0, 1, 2])
    fused_calls = [(shape, last) for shape, last in seen if shape[1] == 3 * 8]
    assert fused_calls and all(last for _, last in fused_calls)  # channels-last, k*C channels, no vmap
    alone = fit(run, data, seed=1)
    assert batched[1].history[0].train_loss == pytest.approx(alone.history[0].train_loss, rel=1e-4)
    assert abs(batched[1].val_accuracy - alone.val_accuracy) <= 0.01


FAMILIES = {
    "seq BaseSeq": ("seq", {"channels": 4, "fc_units": 8}),
    "seq FCL-BN1d-Conv-UpSamp": ("seq", {"layers": "Conv-PL-FCL-BN-Conv-UpSamp-AL", "channels": 4, "fc_units": 8}),
    "fcl": ("fcl", {}),
    "cifar_resnet A": ("cifar_resnet", {"depth": 8, "widths": "4-8-16"}),
    "cifar_resnet B": ("cifar_resnet", {"depth": 8, "widths": "4-8-16", "shortcut": "B"}),
    "vgg bn": ("vgg", {"depth": 7, "width_base": 4, "bn": True, "fc_width": 8}),
    "baseline_cnn": ("baseline_cnn", {"base_width": 4, "bn": "after", "dropout": 0.1}),
}


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels-last"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_fuses_exactly(name, channels_last):
    family, kwargs = FAMILIES[name]
    torch.manual_seed(0)
    model = build_model(family, in_channels=3, num_classes=5, input_size=(16, 16), **kwargs)
    assert fusion_problem(model, torch.randn(3, 3, 16, 16), channels_last=channels_last) is None


@pytest.mark.slow  # imports timm (seconds)
def test_timm_resnet_with_squeeze_excitation_fuses_exactly():
    model = build_model("resnet", in_channels=3, num_classes=5, input_size=(16, 16), widths="4-4-8-8", se=True,
                        stem="cifar", stem_width=4)
    assert fusion_problem(model, torch.randn(2, 3, 16, 16), channels_last=True) is None


class _ChannelCat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(8 * 8 * 8, 5)

    def forward(self, x):
        y = self.conv(x)
        return self.fc(torch.cat([y, -y], 1).flatten(1))


def test_a_forward_that_mixes_channels_or_an_unknown_layer_is_refused():
    x = torch.randn(2, 3, 8, 8)
    assert "mixes the models' channels" in fusion_problem(_ChannelCat(), x)
    problem = fusion_problem(nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4)), x)
    assert problem is not None and "GroupNorm" in problem
    with pytest.raises(FusionError, match="transposed"):
        FusedModels([nn.ConvTranspose2d(3, 3, 2)] * 2)


def test_seed_states_round_trip_and_clipping_is_per_seed():
    torch.manual_seed(0)
    models = [build_model("seq", in_channels=1, num_classes=3, input_size=(8, 8), channels=4, fc_units=6)
              for _ in range(3)]
    fused = FusedModels(models, channels_last=True)
    for i, model in enumerate(models):
        for name, tensor in model.state_dict().items():
            assert torch.equal(fused.state_of(i)[name], tensor)
    x = torch.randn(3, 5, 1, 8, 8)
    logits = fused.forward(x)
    logits[1].sum().mul(100).backward()  # only seed 1 gets (large) gradients
    before = [p.grad.clone() for p in fused.trainable]
    fused.clip_(1.0)
    norms = []
    for i in range(3):
        squares = 0.0
        for name, p in fused.module.named_parameters():
            g = p.grad.unflatten(0, (3, -1))[i] if p.grad.shape[0] == 3 * fused.shapes[name][0] else p.grad[i]
            squares += float(g.float().square().sum())
        norms.append(squares ** 0.5)
    assert norms[1] == pytest.approx(1.0, rel=1e-4) and norms[0] == norms[2] == 0.0
    assert any(not torch.equal(b, p.grad) for b, p in zip(before, fused.trainable))


def _dropout_statistics(draws: int, *, fused_copies: int = 0, eval_mode: bool = False) -> torch.Tensor:
    """Mean logit of one fixed model (BaseSeq with DropL 0.25, training mode) on 32 fixed digits,
    per dropout draw: sequential draws (``fused_copies=0``), or ``draws`` fused forwards of that many
    identical copies (one statistic per copy and draw, shape (draws, copies))."""
    torch.manual_seed(0)
    model = build_model("seq", in_channels=1, num_classes=10, input_size=(8, 8), channels=4, fc_units=16,
                        layers="Conv-PL-DropL-FCL-AL")
    x = prepare_data(RunConfig.from_flat({"family": "seq", "dataset": "digits"}).data).inputs("val")[:32]
    model.train(not eval_mode)
    out = []
    with torch.no_grad(), training_threads(torch.device("cpu")):  # 1 thread: tiny ops, shared cores
        if not fused_copies:
            for d in range(draws):
                torch.manual_seed(1_000 + d)
                out.append(model(x).mean())
            return torch.stack(out)
        fused = FusedModels([model] * fused_copies)
        fused.train(not eval_mode)
        for d in range(draws):
            torch.manual_seed(50_000 + d)
            out.append(fused.forward_shared(x).mean(dim=(1, 2)))
    return torch.stack(out)


def test_fused_dropout_agrees_in_distribution_and_draws_independent_masks_per_seed():
    sequential = _dropout_statistics(400).numpy()
    fused = _dropout_statistics(100, fused_copies=4)  # 400 statistics, 4 seeds per draw (p = 0.37 with these seeds)
    assert stats.ks_2samp(sequential, fused.flatten().numpy()).pvalue > 0.01
    r = stats.pearsonr(fused[:, 0].numpy(), fused[:, 1].numpy()).statistic
    assert abs(r) < 0.3  # seeds 0 and 1 of one fused draw: independent masks (shared masks give r = 1)
    wrong = _dropout_statistics(25, fused_copies=4, eval_mode=True)  # negative control: no dropout at all
    assert stats.ks_2samp(sequential, wrong.flatten().numpy()).pvalue < 1e-6


@pytest.mark.slow  # 20 one-epoch fits (measured ~6 s on 2 loaded cores)
def test_batched_dropout_training_matches_sequential_in_distribution():
    run = RunConfig.from_flat({"family": "seq", "dataset": "digits", "channels": 4, "fc_units": 16, "epochs": 1,
                               "early_stopping": False, "batch_size": 64})
    data = prepare_data(run.data)
    seeds = list(range(10))
    alone = [fit(run, data, seed=s).history[0].train_loss for s in seeds]
    batched = [o.history[0].train_loss for o in fit_batched(run, data, seeds=seeds, exact=False)]
    assert stats.mannwhitneyu(alone, batched).pvalue > 0.01
    assert batched != alone  # other masks, not the sequential ones
