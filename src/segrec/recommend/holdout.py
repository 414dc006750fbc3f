"""Which events to hold out: the masks behind the evaluation's splits and the hybrid's internal validation.

A model tuned on a slice that is drawn differently from the task it is judged on learns the wrong thing (tuned
on "the last weeks", a blend leans on trend; judged on a random hold-out, trend is worth nothing). Defining the
three ways of holding out once, here, lets :mod:`segrec.evaluation.splits` and
:mod:`segrec.recommend.hybrid.validation` draw them identically:

- ``temporal``: everything from a date on (the next purchases);
- ``random``: a random share of each user's distinct products (all lines of a held pair);
- ``last-n``: each user's last ``n`` orders (baskets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import Columns
from ..exceptions import InputError

__all__ = ["PROTOCOLS", "infer_protocol", "last_orders_mask", "random_pairs_mask", "temporal_mask"]

#: The held-out protocols (how a test or validation set is drawn).
PROTOCOLS = ("temporal", "random", "last-n")


def temporal_mask(events: pd.DataFrame, cutoff: pd.Timestamp) -> np.ndarray:
    """Rows dated at or after ``cutoff``."""
    return (events[Columns.Date] >= cutoff).to_numpy()


def random_pairs_mask(events: pd.DataFrame, fraction: float, seed: int | None) -> np.ndarray:
    """Rows of a random ``fraction`` of each user's distinct products (every line of a held pair).

    Splitting (user, product) pairs rather than rows keeps a product bought twice by the same user from
    landing on both sides. Each user keeps at least one product; users with a single product hold none out.
    """
    if not 0.0 < fraction < 1.0:
        raise InputError(f"the held-out fraction must lie in (0, 1), got {fraction}")
    pairs = events[[Columns.User, Columns.Item]].astype(str).drop_duplicates()
    rng = np.random.default_rng(seed)
    pairs = pairs.assign(_key=rng.random(len(pairs)))
    rank = pairs.groupby(Columns.User)["_key"].rank(method="first").to_numpy() - 1
    size = pairs.groupby(Columns.User)[Columns.Item].transform("size").to_numpy()
    n_held = np.minimum(np.round(size * fraction), size - 1)
    held = pd.MultiIndex.from_frame(pairs.loc[rank < n_held, [Columns.User, Columns.Item]])
    return pair_index(events).isin(held)


def last_orders_mask(events: pd.DataFrame, n: int = 1) -> np.ndarray:
    """Rows of each user's last ``n`` orders; users with ``n`` orders or fewer hold none out.

    Orders are ``order_id`` when present, else one order per user and day, ordered by their first purchase
    time. Holding out whole baskets avoids putting half of one checkout on each side.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    user = events[Columns.User].astype(str)
    if Columns.Order in events and events[Columns.Order].notna().all():
        order = events[Columns.Order].astype(str)
    else:
        order = events[Columns.Date].dt.strftime("%Y-%m-%d")
    keys = pd.DataFrame({"u": user, "o": order, "t": events[Columns.Date]})
    first = keys.groupby(["u", "o"], sort=False)["t"].min().reset_index()
    first["r"] = first.sort_values(["t", "o"]).groupby("u").cumcount(ascending=False)
    first["size"] = first.groupby("u")["o"].transform("size")
    held = first.loc[(first["r"] < n) & (first["size"] > n)]
    return pd.MultiIndex.from_arrays([user, order]).isin(pd.MultiIndex.from_frame(held[["u", "o"]]))


def infer_protocol(train: pd.DataFrame, test: pd.DataFrame, tolerance: float = 0.01) -> tuple[str, str]:
    """How a split someone brings as two files was drawn, and why we think so: (protocol, reason).

    Test rows after every training date -> ``temporal``; each user's test rows after that user's own last
    training purchase -> ``last-n``; otherwise (or without dates) ``random``. ``tolerance`` is the share of test
    rows allowed to break the rule (a stray early row should not flip the verdict).
    """
    if Columns.Date not in train or Columns.Date not in test:
        return "random", "the files carry no dates"
    train_dates, test_dates = pd.to_datetime(train[Columns.Date]), pd.to_datetime(test[Columns.Date])
    if train_dates.isna().all() or test_dates.isna().all() or len(test) == 0:
        return "random", "the files carry no dates"
    if train_dates.nunique() <= 1 and test_dates.nunique() <= 1 and train_dates.max() == test_dates.max():
        return "random", "every date is the same"
    late = float((test_dates > train_dates.max()).mean())
    if late >= 1.0 - tolerance:
        return "temporal", f"{late:.0%} of the test rows are dated after the last training date"
    last = train_dates.groupby(train[Columns.User].astype(str)).max()
    own = test[Columns.User].astype(str).map(last)
    after = float((test_dates.to_numpy() > pd.to_datetime(own).to_numpy()).mean())
    if after >= 1.0 - tolerance:
        return "last-n", f"{after:.0%} of the test rows come after that customer's own last training purchase"
    return "random", (f"the test rows are neither after the training period ({late:.0%}) nor after each "
                      f"customer's own history ({after:.0%})")


def pair_index(events: pd.DataFrame) -> pd.MultiIndex:
    """(user, product) of each row, as text."""
    return pd.MultiIndex.from_arrays([events[Columns.User].astype(str), events[Columns.Item].astype(str)])
