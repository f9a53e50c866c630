"""What a loader is asked for and what it returns, apart from the registry, so that the loader modules
(which the catalogue's entries name) do not import the registry that imports the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True, eq=False)
class RawDataset:
    """Decoded images and labels. ``x_val``/``x_test`` are None when there is no official split."""

    name: str
    x: torch.Tensor  # uint8 (N, C, H, W): the official training set, or everything
    y: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]
    x_test: torch.Tensor | None = None  # the official test set
    y_test: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # source, citation, license, notes
    x_val: torch.Tensor | None = None  # the official validation set (MedMNIST has one)
    y_val: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x.shape[1])

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.x.shape[2]), int(self.x.shape[3])

    def parts(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The official parts present: ``train`` always, ``val`` and ``test`` when shipped."""
        out = {"train": (self.x, self.y)}
        if self.x_val is not None:
            out["val"] = (self.x_val, self.y_val)
        if self.x_test is not None:
            out["test"] = (self.x_test, self.y_test)
        return out


@dataclass(frozen=True)
class LoadRequest:
    """What a loader is asked for."""

    root: Path  # the data directory; each dataset keeps its files in its own subfolder of it
    size: int | None = None  # image size for datasets published at several (MedMNIST); None = default
    download: bool = False  # may the loader fetch missing files from the internet?
