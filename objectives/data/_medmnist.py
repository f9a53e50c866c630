"""The twelve MedMNIST 2D datasets through the ``medmnist`` package (v3 files); their entries
(what each shows, channels, classes, part sizes, which is refused) are ``objectives.catalog._medmnist``.

Files: ``<data>/medmnist/<flag>.npz`` for 28x28 and ``<flag>_<size>.npz`` for 64, 128 and 224
(``DataConfig.medmnist_size``), exactly as medmnist 3.x names and downloads them. Class names,
channel counts, sample counts, URLs and MD5s come from ``medmnist.INFO``.

Each .npz holds ``{train,val,test}_images`` (uint8, ``(N,H,W)`` or ``(N,H,W,3)``) and
``{train,val,test}_labels`` (``(N,1)``). We read it with ``numpy.load(allow_pickle=False)``; zip's
CRC-32 catches a corrupt member, a truncated archive does not open, and each split's count is
compared with ``medmnist.INFO`` so a partial file never loads. (We do not hash whole files on every
load: the 224-pixel files are gigabytes; the download itself is MD5-checked.)

Splits: MedMNIST ships official train/val/test splits (several are split by patient), so
``split="official"`` uses all three as published; ``val_size`` is not used for them. ``paper``
pools the three and splits like every other dataset.

``chestmnist`` is multi-label (14 findings, any number per image). layerlab trains single-label
softmax classifiers scored by accuracy, which would be the wrong model and the wrong metric for
it, so it is listed but refused. ``retinamnist`` is ordinal (5 grades); it is trained as 5-class
classification, as in MedMNIST's own accuracy benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from objectives.data._files import fetch, missing_error
from objectives.data._raw import LoadRequest, RawDataset
from searchspace.errors import DatasetError

PARTS = ("train", "val", "test")


def medmnist_file(root: Path, flag: str, size: int) -> Path:
    return root / "medmnist" / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")


def medmnist_present(flag: str, root: Path) -> bool:
    """The entry's file check: the default-size (28) file is here."""
    return medmnist_file(root, flag, 28).is_file()


def _info(flag: str) -> dict:
    from medmnist import INFO

    return INFO[flag]


def _read(path: Path, flag: str, size: int) -> dict[str, np.ndarray]:
    keys = [f"{part}_{kind}" for part in PARTS for kind in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            absent = [k for k in keys if k not in npz.files]
            if absent:
                raise DatasetError(f"{path} is not a MedMNIST file: it lacks {', '.join(absent)}")
            return {k: npz[k] for k in keys}
    except DatasetError:
        raise
    except Exception as exc:  # zip, zlib, npy-header and tokenizer errors: a damaged file raises many kinds
        reason = " ".join(str(exc).split())[:160]
        raise DatasetError(f"{path} is corrupt or truncated ({reason}); delete it and download again") from None


def _decode(path: Path, flag: str, size: int, arrays: dict[str, np.ndarray]):
    info = _info(flag)
    n_classes = len(info["label"])
    channels = int(info["n_channels"])
    out = {}
    for part in PARTS:
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        shape = (size, size) if channels == 1 else (size, size, channels)
        if images.dtype != np.uint8 or images.shape[1:] != shape:
            raise DatasetError(
                f"{path}: {part}_images are {images.dtype} {images.shape}; {flag} at size {size} "
                f"should be uint8 (N, {', '.join(map(str, shape))})"
            )
        expected = int(info["n_samples"][part])
        if len(images) != expected or labels.shape not in ((expected, 1), (expected,)):
            raise DatasetError(
                f"{path}: {part} holds {len(images)} images and labels {labels.shape}; medmnist's "
                f"{flag} has {expected} (truncated or wrong file); delete it and download again"
            )
        y = torch.from_numpy(labels.reshape(-1).astype(np.int64))
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            raise DatasetError(f"{path}: {part}_labels fall outside 0..{n_classes - 1}")
        x = torch.from_numpy(images)
        x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2)  # -> (N, C, H, W)
        out[part] = (x.contiguous(), y)
    return out


def load_medmnist(flag: str, request: LoadRequest) -> RawDataset:
    """Any of the twelve flags (the entries' loader)."""
    # A refused flag (chestmnist) never gets here: the registry refuses it from its entry first.
    size = request.size or 28  # load_dataset passes the entry's first size, 28
    path = medmnist_file(request.root, flag, size)
    info = _info(flag)
    if not path.is_file() and request.download:
        from torchvision.datasets.utils import download_url

        suffix = "" if size == 28 else f"_{size}"  # medmnist.INFO keys: url, url_64, MD5, MD5_64...
        fetch(
            flag,
            path.parent,
            lambda: download_url(
                info[f"url{suffix}"], root=str(path.parent), filename=path.name, md5=info[f"MD5{suffix}"]
            ),
        )
    if not path.is_file():
        raise missing_error(flag, path.parent, [path.name], request.root, "" if size == 28 else f" --size {size}")
    parts = _decode(path, flag, size, _read(path, flag, size))
    classes = tuple(info["label"][str(i)] for i in range(len(info["label"])))
    return RawDataset(
        name=flag,
        x=parts["train"][0],
        y=parts["train"][1],
        x_val=parts["val"][0],
        y_val=parts["val"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        classes=classes,
        meta={
            "source": f"medmnist {info['python_class']} ({info['task']})",
            "size": size,
            "license": info["license"],
            "files": str(path),
        },
    )
