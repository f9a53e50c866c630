"""Per-image correctness of a trial on its validation and test images, stored compactly.

Why: the validation and test sets are finite, so two configs' accuracies differ partly by which
images happened to be drawn. With each trial's 0/1 correctness per image, the analysis can
resample images as well as seeds (``studies.analysis._stats.compare_paired``).

Format (a JSON user attribute, ``val_correct`` / ``test_correct``)::

    {"n": 337, "bits": "<base64 of numpy.packbits(correct)>", "labels": "<sha1 of the labels, 12 hex>"}

``bits`` costs 1/8 byte per image (4/3 of that in base64). Images line up across trials because
splits depend only on the data config and its ``split_seed``, never on the trial seed
(``objectives.data._splits``); configs that change the dataset, the split or the subset see other
images, and ``labels`` (with ``n``) lets the analysis notice that and fall back to seed-level
statistics for them. Numpy only: the analysis reads these without importing torch.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

PER_IMAGE_ATTRS = {"value": "val_correct", "test": "test_correct"}  # analysis metric -> user attribute


def pack_correct(correct: Any, labels: Any) -> dict[str, Any]:
    """``correct`` (0/1 per image) and the images' ``labels`` -> the stored attribute."""
    ok = np.asarray(correct, dtype=bool).ravel()
    y = np.ascontiguousarray(np.asarray(labels, dtype=np.int64).ravel())
    return {
        "n": int(ok.size),
        "bits": base64.b64encode(np.packbits(ok).tobytes()).decode("ascii"),
        "labels": hashlib.sha1(y.tobytes()).hexdigest()[:12],
    }


def unpack_correct(value: Any) -> tuple[np.ndarray, str] | None:
    """The 0/1 vector (uint8) and an alignment key (``n`` + labels hash); None when absent/malformed."""
    if not isinstance(value, Mapping) or "bits" not in value or "n" not in value:
        return None
    try:
        n = int(value["n"])
        bits = np.unpackbits(np.frombuffer(base64.b64decode(value["bits"]), dtype=np.uint8), count=n)
    except (ValueError, TypeError):
        return None
    if bits.size != n:
        return None
    return bits, f"{n}:{value.get('labels', '')}"
