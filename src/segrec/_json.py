"""Plain JSON values from what numpy and pandas hand back, for every report segrec writes as JSON."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["to_jsonable"]


def to_jsonable(value: object) -> object:
    """``value`` with numpy scalars as Python numbers, NaN/inf and ``pd.NA`` as None, and dict keys as str.

    Dicts, lists and tuples are converted recursively (tuples become lists); anything else is returned as is.

    Examples
    --------
    >>> to_jsonable({1: [np.int64(2), np.float64("nan"), (pd.NA, 1.5)]})
    {'1': [2, None, [None, 1.5]]}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value
