"""Train/test splits of an event frame, each reporting what it did.

A held-out estimate is only honest when the test set could not have been seen in training and when what was
thrown away is said. Every split returns a :class:`Split` whose ``description`` records the method, its
parameters and the row, user and product counts, including the test rows dropped because their user or
product never occurs in train (a recommender cannot rank a product it has never heard of; cold start is
judged separately).

Splits work on canonical events (see :mod:`segrec.columns`) and keep every column, so models that use
product text or demographics see the same frame they would in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..columns import Columns
from ..exceptions import InputError
from ..recommend.holdout import last_orders_mask, pair_index, random_pairs_mask

__all__ = ["Split", "default_cutoff", "explicit_split", "last_n_split", "random_split", "temporal_split"]


@dataclass(frozen=True)
class Split:
    """Train and test events plus a JSON-ready description of how they were made."""

    train: pd.DataFrame
    test: pd.DataFrame
    description: dict[str, Any] = field(default_factory=dict)


def random_split(events: pd.DataFrame, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Hold out ``test_fraction`` of each user's distinct products (all their purchase lines).

    Splitting (user, product) pairs rather than rows keeps a product bought twice by the same user from
    landing on both sides, so per user train and test products are disjoint. Each user keeps at least one
    product in train; users with a single product contribute no test rows.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    _require(events, (Columns.User, Columns.Item))
    in_test = random_pairs_mask(events, test_fraction, seed)
    return _finish(events[~in_test], events[in_test],
                   {"method": "random", "test_fraction": test_fraction, "seed": seed})


def temporal_split(events: pd.DataFrame, cutoff: str | pd.Timestamp) -> Split:
    """Train on purchases before ``cutoff``, test on those at or after it (users and products known in train).

    This is the protocol closest to production: the model only knows the past, and is judged on what
    customers bought next.
    """
    _require(events, (Columns.User, Columns.Item, Columns.Date))
    try:
        cut = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cutoff {cutoff!r} is not a date; use YYYY-MM-DD") from exc
    before = events[Columns.Date] < cut
    if not before.any() or before.all():
        lo, hi = events[Columns.Date].min(), events[Columns.Date].max()
        raise InputError(f"cutoff {cut.date()} leaves an empty train or test set; the data span {lo} to {hi}")
    return _finish(events[before], events[~before], {"method": "temporal", "cutoff": str(cut.date())})


def default_cutoff(events: pd.DataFrame, months: int = 2) -> pd.Timestamp:
    """First day of the last ``months`` calendar months of the data (2011-11-01 for Online Retail)."""
    _require(events, (Columns.Date,))
    last = pd.Timestamp(events[Columns.Date].max())
    return (last.to_period("M") - (months - 1)).to_timestamp()


def last_n_split(events: pd.DataFrame, n: int = 1) -> Split:
    """Hold out each user's last ``n`` orders (baskets); users with ``n`` orders or fewer stay in train.

    Orders are ``order_id`` when present, else one order per user and day, and are ordered by their first
    purchase time. Splitting whole baskets avoids putting half of one checkout on each side.
    """
    _require(events, (Columns.User, Columns.Item, Columns.Date))
    in_test = last_orders_mask(events, n)
    return _finish(events[~in_test], events[in_test], {"method": "last-n", "n": n})


def explicit_split(train: pd.DataFrame, test: pd.DataFrame, *, train_source: str = "", test_source: str = "") -> Split:
    """A split the user brings (two files); test rows with unknown users or products are dropped and counted."""
    for name, frame in (("train", train), ("test", test)):
        _require(frame, (Columns.User, Columns.Item), name)
    return _finish(train, test, {"method": "explicit", "train_source": train_source, "test_source": test_source})


def _finish(train: pd.DataFrame, test: pd.DataFrame, description: dict[str, Any]) -> Split:
    """Drop cold test rows and count everything."""
    if train.empty:
        raise InputError("the split leaves no training events")
    known_user = test[Columns.User].astype(str).isin(set(train[Columns.User].astype(str)))
    known_item = test[Columns.Item].astype(str).isin(set(train[Columns.Item].astype(str)))
    warm = test[known_user & known_item]
    repeat = pair_index(warm).isin(pair_index(train))
    description = {
        **description,
        "train_rows": len(train),
        "test_rows": len(warm),
        "train_users": int(train[Columns.User].nunique()),
        "train_products": int(train[Columns.Item].nunique()),
        "test_users": int(warm[Columns.User].nunique()),
        "test_products": int(warm[Columns.Item].nunique()),
        "dropped_cold_rows": int(len(test) - len(warm)),
        "dropped_cold_user_rows": int((~known_user).sum()),
        "dropped_cold_product_rows": int((known_user & ~known_item).sum()),
        "test_repeat_rows": int(repeat.sum()),
    }
    return Split(train.reset_index(drop=True), warm.reset_index(drop=True), description)


def _require(events: pd.DataFrame, columns: tuple[str, ...], name: str = "events") -> None:
    missing = [c for c in columns if c not in events]
    if missing:
        raise InputError(f"{name} lack column(s) {missing} needed by the split")
