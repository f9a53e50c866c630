"""Plain JSON of any result (a report's data, a comparison, an aggregate, a status): what every
``--json`` prints and the report stores.

Light on purpose: numpy and pandas values are recognised only when those packages are already
imported (a value of theirs cannot exist otherwise), so dumping a status imports neither.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any


def to_json(value: Any, **kwargs: Any) -> str:
    """``value`` as plain JSON text; ``kwargs`` go to :func:`json.dumps` (``indent=2``). A value
    JSON has no form for (a path, a timestamp) is written as its text."""
    kwargs.setdefault("default", str)
    return json.dumps(jsonable(value), **kwargs)


def jsonable(value: Any) -> Any:
    """Plain JSON: NaN/inf -> None, numpy scalars -> Python numbers, frames -> records."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return jsonable(value.to_dict(orient="records"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.ndarray):
            return jsonable(value.tolist())
        if isinstance(value, np.floating):
            value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
