"""How the report writes numbers: the Jinja filters of :mod:`segrec.report`, also used to build its sentences.

Every formatter returns ``"n/a"`` for anything that is not a finite real number (None, NaN, a string).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["finite", "metric", "money", "num", "pct", "signed_pct"]


def finite(value: Any) -> bool:
    """A real, finite number (booleans are not numbers here)."""
    return isinstance(value, Real) and not isinstance(value, bool | np.bool_) and math.isfinite(value)


def num(value: Any, digits: int = 0) -> str:
    """``12,345`` (thousands separated, ``digits`` decimals)."""
    return f"{value:,.{digits}f}" if finite(value) else "n/a"


def money(value: Any) -> str:
    """Cents below 1,000, whole units above."""
    return num(value, 2 if finite(value) and abs(value) < 1000 else 0)


def pct(value: Any) -> str:
    """A share as ``12.3%``."""
    return f"{value:.1%}" if finite(value) else "n/a"


def signed_pct(value: Any) -> str:
    """A change as ``+218%``."""
    return f"{value:+.0%}" if finite(value) else "n/a"


def metric(value: Any) -> str:
    """A metric in [0, 1] with three decimals."""
    return f"{value:.3f}" if finite(value) else "n/a"
