"""File checks shared by the on-disk loaders: missing files, downloads, integrity.

Every failure here is a :class:`DatasetError` with one line that names the dataset or the file, the
path, and what to do. A dataset is either loaded whole and checked, or not at all: a truncated or
corrupt file never yields a partial dataset.
"""

from __future__ import annotations

import gzip
import math
import shutil
import struct
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

from searchspace.errors import DatasetError


def how_to_get(name: str, root: Path, options: str = "") -> str:
    return (
        f"run `python cli.py data download {name}{options} --data-dir {root}` while online "
        f"(or set LAYERLAB_DOWNLOAD=1), or copy the files there yourself"
    )


def missing_error(name: str, where: Path, files: Iterable[str], root: Path, options: str = "") -> DatasetError:
    shown = ", ".join(files)
    return DatasetError(f"dataset {name!r} is not in {where} (missing {shown}); {how_to_get(name, root, options)}")


def fetch(name: str, where: Path, download: Callable[[], object]) -> None:
    """Run a library's download into ``where``; any failure becomes one line."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        download()
    except Exception as exc:  # network, HTTP, checksum: the libraries raise many types
        # whole words only: a cut mid-word ("Tried http://.../, g") reads as a garbled message
        reason = textwrap.shorten(" ".join(str(exc).split()), width=200, placeholder=" ...") or type(exc).__name__
        raise DatasetError(
            f"could not download dataset {name!r} into {where} (offline?): {reason}; "
            f"retry online or copy the files there yourself"
        ) from None


def gunzip(source: Path, target: Path) -> None:
    """Decompress ``source`` (.gz) to ``target``; a truncated archive names itself, leaves nothing."""
    partial = target.with_name(target.name + ".partial")
    try:
        with gzip.open(source, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except (OSError, EOFError) as exc:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"{source} is corrupt or truncated ({exc}); delete it and download again") from None
    partial.replace(target)


def check_md5(path: Path, md5: str, name: str) -> None:
    from torchvision.datasets.utils import check_md5 as _md5

    if not _md5(str(path), md5):
        raise DatasetError(
            f"{path} is corrupt or truncated: its MD5 differs from the published checksum of {name!r}; "
            f"delete it and download again"
        )


def read_idx_header(path: Path, ndim: int) -> tuple[int, ...]:
    """Validate an IDX file of uint8 (LeCun's MNIST format) against its own header.

    The header is ``0x00 0x00 0x08 ndim`` then ``ndim`` big-endian uint32 sizes; the payload must
    be exactly the product of the sizes in bytes. torchvision parses these files without checking
    the length, so a truncated file would otherwise fail later with an unhelpful reshape error.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
    if len(head) < 4 + 4 * ndim or head[:3] != b"\x00\x00\x08" or head[3] != ndim:
        raise DatasetError(
            f"{path} is not a {ndim}-dimensional uint8 IDX file (bad header); delete it and download again"
        )
    dims = struct.unpack(f">{ndim}I", head[4:])
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        raise DatasetError(
            f"{path} is truncated or corrupt: {size} bytes where its IDX header {dims} promises {expected}; "
            f"delete it and download again"
        )
    return dims
