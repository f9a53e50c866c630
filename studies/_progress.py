"""Progress bars for the long steps outside training (checking data, queueing a big grid, the
report's resampling): tqdm on a terminal's stderr only, so logs, pipes and tests stay clean, and
``--no-progress`` hides them everywhere."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def terminal_bar(items: Iterable[T], *, enabled: bool, desc: str, unit: str = "it", total: int | None = None,
                 **kwargs: Any) -> Iterable[T]:
    """``items``, wrapped in a tqdm bar when ``enabled`` and stderr is a terminal. The bar clears
    itself when done (``leave=False``): it reports a wait, not a result."""
    if not enabled or not sys.stderr.isatty():
        return items
    return tqdm(items, desc=desc, unit=unit, total=total, leave=False, dynamic_ncols=True, **kwargs)
