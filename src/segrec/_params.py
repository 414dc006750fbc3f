"""Parameter rules declared as data, checked in ``fit`` (scikit-learn's ``_parameter_constraints`` habit):
one checker for the segmenter and every recommender, so a bad parameter gets the same kind of message whatever
the estimator.

>>> check_params({"k": 0}, {"k": is_int(1)}, "Model")
Traceback (most recent call last):
...
segrec.exceptions.InputError: Model: invalid k=0; see help(Model) for allowed values
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral, Real

from .exceptions import InputError

__all__ = ["Rule", "check_params", "is_int", "is_real", "one_of", "optional"]

#: A rule: True when a value is allowed.
Rule = Callable[[object], bool]


def check_params(params: Mapping[str, object], rules: Mapping[str, Rule], owner: str) -> None:
    """Raise :class:`InputError` naming the first parameter of ``params`` that its rule refuses."""
    for name, ok in rules.items():
        if not ok(params[name]):
            raise InputError(f"{owner}: invalid {name}={params[name]!r}; see help({owner}) for allowed values")


def is_int(lo: int, hi: int | None = None) -> Rule:
    """An integer (not a bool) in ``[lo, hi]``."""
    return lambda v: isinstance(v, Integral) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def is_real(lo: float | None = None, hi: float | None = None, *, closed: str = "both") -> Rule:
    """A real number (not a bool) between ``lo`` and ``hi``; ``closed`` is "both", "left", "right" or "neither"."""
    def ok(v: object) -> bool:
        if not isinstance(v, Real) or isinstance(v, bool) or v != v:  # NaN is refused
            return False
        above = lo is None or (v >= lo if closed in ("both", "left") else v > lo)
        below = hi is None or (v <= hi if closed in ("both", "right") else v < hi)
        return above and below
    return ok


def one_of(*values: object) -> Rule:
    """One of ``values``."""
    return lambda v: v in values


def optional(rule: Rule) -> Rule:
    """``None`` or what ``rule`` allows."""
    return lambda v: v is None or rule(v)
