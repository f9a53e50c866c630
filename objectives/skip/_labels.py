"""Seed 003's labelling: the conv layer at which an image produces one of the strongest activations.

For each conv layer the first ``F`` feature maps are scored; an image's score for a map is the mean
absolute value of that map's (post-ReLU) activation over height and width. Per map the ``T``
images with the highest score are *selected*; an image's label is the index of the layer where
some map selected it, the deeper layer when several did ("In case of repetition, the higher label
was chosen"). An image no map selected is given the deepest label, or is dropped (label ``-1``).

Labels are computed over the **training** split (the paper labels the images it then trains
CNN-2 and CNN-3 on). Images outside it (validation, test) are labelled by the same rule as if
each had joined the training pool on its own: a map selects the image when its score reaches
the map's ``T``-th highest training score. A zero score never selects (a dead ReLU map has no
strongest activations). This keeps one meaning of a label across splits (an
evaluation image never competes with the other evaluation images) and is what the ``oracle``
routing mode and the router's held-out accuracy use.

The steps are separate functions so that a test can feed hand-made scores. :func:`oversample`
balances the router's training labels (``skip_router_balance``, see :mod:`objectives.skip._pipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from objectives.train import autocast_for

SCORE_BATCH = 512  # images per forward pass when scoring feature maps


@torch.no_grad()
def map_scores(model: torch.nn.Module, x: torch.Tensor, maps: int) -> list[torch.Tensor]:
    """Per conv layer, an ``(N, maps)`` tensor: mean |activation| of each of its first ``maps`` maps."""
    was_training = model.training
    model.eval()
    parts: list[list[torch.Tensor]] = [[] for _ in range(model.num_exits)]
    with autocast_for(x.device):
        for i in range(0, len(x), SCORE_BATCH):
            _, acts = model(x[i : i + SCORE_BATCH], return_activations=True)
            for layer, act in enumerate(acts):
                parts[layer].append(act[:, :maps].float().abs().mean(dim=(2, 3)))
    model.train(was_training)
    return [torch.cat(p) if p else x.new_zeros((0, maps)) for p in parts]


def top_selection(scores: Sequence[torch.Tensor], top: int) -> torch.Tensor:
    """``(N, L)`` bools: image ``i`` is among the ``top`` highest scores of some map of layer ``j``.

    Equal scores are ranked by image index (a stable sort). A score of zero never selects: a map
    that is zero for an image has no activation there, so a dead ReLU map selects nobody instead
    of ``top`` arbitrary images.
    """
    n = scores[0].shape[0]
    selected = torch.zeros(n, len(scores), dtype=torch.bool, device=scores[0].device)
    for layer, s in enumerate(scores):
        ranked = torch.sort(s, dim=0, descending=True, stable=True)
        best, value = ranked.indices[:top], ranked.values[:top]  # (top, F)
        selected[best[value > 0], layer] = True
    return selected


def score_thresholds(scores: Sequence[torch.Tensor], top: int) -> list[torch.Tensor]:
    """Per layer, the ``top``-th highest score of each map (the weakest selected image's score)."""
    out = []
    for s in scores:
        ranked = torch.sort(s, dim=0, descending=True).values
        out.append(ranked[min(top, len(ranked)) - 1])
    return out


def threshold_selection(scores: Sequence[torch.Tensor], thresholds: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(N, L)`` bools: some map of layer ``j`` scores image ``i`` above zero and at least at
    its threshold (so, as in :func:`top_selection`, a dead map selects nobody)."""
    return torch.stack([((s >= t) & (s > 0)).any(dim=1) for s, t in zip(scores, thresholds)], dim=1)


def assign_labels(selected: torch.Tensor, *, tie: str = "deeper", unselected: str = "deepest") -> torch.Tensor:
    """One label per image from an ``(N, L)`` selection: the deeper (or shallower) selected layer;
    unselected images get ``L - 1`` (``unselected='deepest'``) or ``-1`` (``'drop'``)."""
    n, layers = selected.shape
    depth = torch.arange(layers, device=selected.device).expand(n, layers)
    if tie == "deeper":
        label = torch.where(selected, depth, -1).max(dim=1).values
    elif tie == "shallower":
        label = torch.where(selected, depth, layers).min(dim=1).values
        label[label == layers] = -1
    else:
        raise ValueError(f"unknown tie rule {tie!r}")
    if unselected == "deepest":
        label[label < 0] = layers - 1
    elif unselected != "drop":
        raise ValueError(f"unknown unselected rule {unselected!r}")
    return label


def oversample(labels: torch.Tensor, *, seed: int) -> torch.Tensor:
    """Indices into ``labels`` (its labels ``>= 0`` only) in which every label present occurs as
    often as the most frequent one.

    A label with ``c`` images, against ``m`` for the most frequent, gets all its images ``m // c``
    times plus ``m % c`` of them drawn without replacement (``torch.Generator`` seeded with
    ``seed``), so within a label no image is repeated more than once more than another. Written by
    hand: scikit-learn's ``resample`` draws with replacement (some images never, some many times),
    and imbalanced-learn is not a dependency. The indices are sorted (the trainer shuffles).
    """
    generator = torch.Generator().manual_seed(seed)
    host = labels.cpu()
    counts = torch.bincount(host[host >= 0])
    if len(counts) == 0:
        return torch.zeros(0, dtype=torch.long, device=labels.device)
    most = int(counts.max())
    parts = []
    for label, count in enumerate(counts.tolist()):
        if count == 0:
            continue
        members = torch.nonzero(host == label).flatten()
        full, rest = divmod(most, count)
        parts += [members.repeat(full), members[torch.randperm(count, generator=generator)[:rest]]]
    return torch.sort(torch.cat(parts)).values.to(labels.device)
