"""What ``python cli.py data list`` and ``data describe`` print, as plain data.

:func:`describe_dataset` returns a JSON-serialisable dict with these keys:

- ``name``, ``description``, ``source``: the registry entry and the loader's provenance;
- ``embedded``: True when the data ship inside an installed package (works offline);
- ``data_dir``: the data directory looked in; ``files``: the files read (on-disk datasets);
- ``num_classes``, ``classes``: class count and names (index = label);
- ``channels``, ``image_size`` ``[H, W]``: as stored, before any image operation;
- ``official``: image counts of the parts the dataset ships (``train``, and ``val``/``test`` when
  it has them);
- ``split``, ``split_sizes``: the split asked for (``official`` or ``paper``, default fractions)
  and the resulting ``train``/``val``/``test`` counts;
- ``class_balance``: per split (``train``, ``val``, ``test``) a mapping class name -> count;
- ``subset``: for ``<dataset>:<pair>:<n>`` names, what was sampled (base, pair, per class, seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from objectives.data._config import DataConfig
from objectives.data._registry import dataset_info, get_dataset, list_datasets, load_dataset, resolve_data_dir
from objectives.data._splits import split_indices
from objectives.data._subsets import GRAMMAR


def dataset_table(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per registered dataset: name, description, kind, present, refused."""
    root = resolve_data_dir(data_dir)
    rows = []
    for name in list_datasets():
        info = dataset_info(name)
        present = info.embedded or (info.present is not None and bool(info.present(root)))
        rows.append({
            "name": name,
            "description": info.description,
            "kind": "embedded" if info.embedded else "on-disk",
            "present": present,
            "refused": info.refused,
        })  # fmt: skip
    return rows


SUBSET_HELP = f"seed 000 subsets of mnist, fashion_mnist, cifar10, mnist5k: {GRAMMAR}"


def format_dataset_table(rows: list[dict[str, Any]], data_dir: str | Path | None = None) -> str:
    """What ``data list`` prints for :func:`dataset_table`'s ``rows``: the data directory looked
    in, one line per dataset (present, missing or refused), and the subset grammar."""
    lines = [f"data directory: {resolve_data_dir(data_dir)}"]
    for row in rows:
        state = "refused" if row["refused"] else ("present" if row["present"] else "missing")
        lines.append(f"{row['name']:<15} {row['kind']:<9} {state:<8} {row['description']}")
    lines.append(SUBSET_HELP)
    return "\n".join(lines)


def _split_labels(raw, cfg: DataConfig) -> dict[str, torch.Tensor]:
    parts = raw.parts()
    split = split_indices(raw, cfg)
    pooled = torch.cat([parts[p][1] for p in split.pool.split("+")])
    return {
        "train": pooled[split.train],
        "val": pooled[split.val] if split.val is not None else parts["val"][1],
        "test": pooled[split.test] if split.test is not None else parts["test"][1],
    }


def describe_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    split: str = "official",
    size: int | None = None,
    download: bool | None = None,
) -> dict[str, Any]:
    """Classes, image shape, official part sizes, split sizes and class balance of ``name``."""
    info = get_dataset(name)
    cfg = DataConfig(dataset=name, split=split)
    cfg.validate()
    root = resolve_data_dir(data_dir)
    raw = load_dataset(name, root, size=size, download=download)
    labels = _split_labels(raw, cfg)
    out: dict[str, Any] = {
        "name": name,
        "description": info.description,
        "source": raw.meta.get("source", ""),
        "embedded": info.embedded,
        "data_dir": str(root),
        "files": raw.meta.get("files"),
        "num_classes": raw.num_classes,
        "classes": list(raw.classes),
        "channels": raw.in_channels,
        "image_size": list(raw.input_size),
        "official": {part: int(len(y)) for part, (_, y) in raw.parts().items()},
        "split": split,
        "split_sizes": {part: int(len(y)) for part, y in labels.items()},
        "class_balance": {
            part: dict(zip(raw.classes, np.bincount(y.numpy(), minlength=raw.num_classes).tolist()))
            for part, y in labels.items()
        },
    }
    if "subset" in raw.meta:
        out["subset"] = raw.meta["subset"]
    return out
