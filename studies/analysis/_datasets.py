"""Dataset characterisation and the best-model-per-dataset table (seed 000's Table 3 layout, which
the liu-medmnist preset asks for in its ``report`` key, see :mod:`studies._paper`).

The two entropies, precisely:

- **label entropy** (bits): Shannon entropy of the class distribution, H = -sum_k p_k log2 p_k,
  with p_k the fraction of images in class k. It is log2(K) for K balanced classes and lower the
  more imbalanced the dataset; ``label_entropy_normalized`` = H / log2(K) is 1 for balance.
- **mean image-intensity entropy** (bits): for each image, the Shannon entropy of its 256-bin
  grey-level histogram (bin = uint8 pixel value, p_v = fraction of the image's pixels with value
  v), averaged over images. Between 0 (a constant image) and 8 (all 256 levels equally often).
  RGB images are first converted to one grey channel with torchvision's
  ``v2.functional.rgb_to_grayscale`` (ITU-R 601-2 luma, 0.2989 R + 0.587 G + 0.114 B, the same
  conversion the colour augmentations use), rounded to the nearest level.

Both are computed over every image the dataset loader returns (official training set plus the
official test set when there is one). Seed 000's Table 3 has an "Entropy" column whose definition
the paper does not give; its values are often negative, which neither Shannon entropy above can
be, so these numbers are not meant to reproduce that column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch
from scipy import stats

from searchspace.errors import LayerlabError
from studies.analysis._collect import AnalysisError, StudyTable, collect

CHUNK = 4096  # images per histogram batch (bounds memory on 224x224 datasets)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, H*W) grey levels (601-2 luma for 3 channels)."""
    if x.shape[1] == 1:
        return x[:, 0].reshape(len(x), -1)
    if x.shape[1] != 3:
        raise ValueError(f"cannot convert {x.shape[1]}-channel images to grey levels")
    # Imported here: torchvision.transforms.v2 imports torch._dynamo (seconds at start-up).
    from torchvision.transforms.v2.functional import rgb_to_grayscale

    # On float input, so the level is rounded; on uint8 torchvision truncates instead.
    grey = rgb_to_grayscale(x.float())
    return grey.round_().clamp_(0, 255).to(torch.uint8).reshape(len(x), -1)


def intensity_entropies(x: torch.Tensor) -> np.ndarray:
    """Shannon entropy (bits) of each image's 256-bin grey-level histogram."""
    out = []
    for start in range(0, len(x), CHUNK):
        grey = _grey(x[start : start + CHUNK]).long()
        n = len(grey)
        offsets = torch.arange(n).unsqueeze(1) * 256
        counts = torch.bincount((grey + offsets).flatten(), minlength=256 * n).view(n, 256).numpy()
        out.append(stats.entropy(counts, base=2, axis=1))
    return np.concatenate(out) if out else np.empty(0)


def label_entropy(counts: Sequence[int]) -> float:
    """Shannon entropy (bits) of a class distribution given its counts."""
    counts = np.asarray(counts, dtype=float)
    return float(stats.entropy(counts, base=2)) if counts.sum() > 0 else float("nan")


def dataset_statistics(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Size, channels, class balance, label entropy and mean image-intensity entropy of a dataset
    (loaded through ``objectives.load_dataset``; a missing dataset raises its own error)."""
    from objectives import load_dataset

    raw = load_dataset(name, data_dir)
    parts = [raw.x] + ([raw.x_test] if raw.x_test is not None else [])
    labels = torch.cat([raw.y] + ([raw.y_test] if raw.y_test is not None else []))
    counts = torch.bincount(labels, minlength=raw.num_classes).numpy()
    ent = np.concatenate([intensity_entropies(p) for p in parts])
    k = raw.num_classes
    h = label_entropy(counts)
    present = counts[counts > 0]
    return {
        "dataset": name,
        "images": int(len(labels)),
        "train_images": int(len(raw.y)),
        "test_images": int(len(raw.y_test)) if raw.y_test is not None else 0,
        "channels": raw.in_channels,
        "height": raw.input_size[0],
        "width": raw.input_size[1],
        "num_classes": k,
        "class_counts": {str(c): int(n) for c, n in zip(raw.classes, counts)},
        "class_fractions": {str(c): float(n / counts.sum()) for c, n in zip(raw.classes, counts)},
        "imbalance_ratio": float(present.max() / present.min()) if len(present) else float("nan"),
        "label_entropy_bits": h,
        "label_entropy_max_bits": float(np.log2(k)) if k > 1 else 0.0,
        "label_entropy_normalized": h / float(np.log2(k)) if k > 1 else float("nan"),
        "intensity_entropy_bits_mean": float(ent.mean()),
        "intensity_entropy_bits_std": float(ent.std(ddof=1)) if len(ent) > 1 else float("nan"),
    }


LOAD_POLICIES = ("embedded", "all", "none")


def describe_datasets(
    names: Sequence[str], data_dir: str | Path | None = None, *, load: str = "all"
) -> dict[str, dict[str, Any]]:
    """:func:`dataset_statistics` for each name; one that cannot be loaded gets ``{"error": why}``.

    ``load="embedded"`` only loads datasets that ship inside installed packages (digits,
    mnist5k): a report should not start downloading CIFAR-10 or MedMNIST behind a user's back.
    """
    if load not in LOAD_POLICIES:
        raise AnalysisError(f"unknown dataset load policy {load!r}; valid: {', '.join(LOAD_POLICIES)}")
    from objectives.interface import get_dataset

    out: dict[str, dict[str, Any]] = {}
    for name in names if load != "none" else ():
        try:
            if load == "embedded" and not get_dataset(name).embedded:
                out[name] = {"dataset": name,
                             "error": "not loaded: not embedded (use --datasets all to load it; that may download it)"}
                continue
            out[name] = dataset_statistics(name, data_dir)
        except (LayerlabError, OSError, RuntimeError, ValueError, ImportError) as exc:
            out[name] = {"dataset": name, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return out


# -- per-trial config values ---------------------------------------------------------------------


def config_value(table: StudyTable, group: str, key: str) -> Any:
    """A config key of a group: the stored config, else the Optuna parameter, else the spec's
    variant options or fixed value (None when nothing says)."""
    config = table.config_of(group)
    if config is not None and key in config:
        return config[key]
    params = table.params_of(group)
    if key in params:
        return params[key]
    spec = table.spec
    if spec is not None:
        from searchspace import Variants

        for dim in spec.space:
            if isinstance(dim, Variants) and dim.name in params:
                option = dim.options.get(params[dim.name], {})
                if key in option:
                    return option[key]
            elif not dim.is_param and dim.config_key == key:
                return getattr(dim, "value", None)
    return None


def study_datasets(study: optuna.Study | StudyTable) -> list[str]:
    """Datasets the completed trials trained on, in first-seen order."""
    table = collect(study)
    names = [config_value(table, g, "dataset") for g in table.groups]
    return [str(n) for n in dict.fromkeys(names) if n is not None]


def best_per_dataset(
    study: optuna.Study | StudyTable,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    group_key: str | None = None,
    label_param: str | None = None,
    datasets: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Per dataset, the best config (mean of the objective, i.e. validation) within each group of
    ``group_key`` values, with test accuracy beside it; entropies from ``datasets`` (the output of
    :func:`describe_datasets`) when given. ``groups``, ``group_key`` and ``label_param`` default to
    the ``best_per_dataset`` layout of the study's preset (:mod:`studies._paper`), e.g. seed 000's
    Table 3 for liu-medmnist."""
    from studies._presets import paper_report

    table = collect(study)
    layout = paper_report(table.spec).get("best_per_dataset")
    if groups is None and layout is None:
        raise AnalysisError("no groups for a best-per-dataset table: pass groups=, or use a preset whose report key "
                            "has a best_per_dataset layout (e.g. liu-medmnist)")
    groups = groups if groups is not None else layout.groups
    group_key = group_key or (layout.group_key if layout else "family")
    label_param = label_param or (layout.label_param if layout else "model")
    rows: dict[str, dict[str, Any]] = {}
    for group in table.groups:
        dataset = config_value(table, group, "dataset")
        member = config_value(table, group, group_key)
        name = next((g for g, values in groups.items() if member in values), None)
        if dataset is None or name is None:
            continue
        params = table.params_of(group)
        label = str(params[label_param]) if label_param in params else table.label_of(group)
        val, test = table.values(group), table.values(group, "test")
        row = rows.setdefault(str(dataset), {"dataset": str(dataset)})
        mean = float(np.mean(val))
        current = row.get(f"{name} val")
        better = current is None or (mean > current if table.maximize else mean < current)
        if better:
            row[f"{name} best"] = label
            row[f"{name} val"] = mean
            row[f"{name} test"] = float(np.nanmean(test)) if np.isfinite(test).any() else float("nan")
            row[f"{name} n"] = len(val)
    frame = pd.DataFrame(list(rows.values()))
    if frame.empty:
        return frame
    info = datasets or {}
    frame["label entropy (bits)"] = [info.get(d, {}).get("label_entropy_bits") for d in frame["dataset"]]
    frame["mean intensity entropy (bits)"] = [
        info.get(d, {}).get("intensity_entropy_bits_mean") for d in frame["dataset"]
    ]
    frame["dataset note"] = [
        info.get(d, {}).get("error", "") if d in info else "not characterised" for d in frame["dataset"]
    ]
    return frame


def selection_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`best_per_dataset`'s frame with display names that say which column selects (the
    validation accuracy) and which is only reported beside it (the test accuracy, seed 000's
    Table 3 metric)."""
    names = {}
    for column in frame.columns:
        if column.endswith(" val"):
            names[column] = column[: -len(" val")] + " val acc (selects)"
        elif column.endswith(" test"):
            names[column] = column[: -len(" test")] + " test acc (reported, not used to select)"
    return frame.rename(columns=names)
