"""Interactions and id mappings: the one sparse view of purchases that every recommender trains on.

Models work on integer indices; people work on product and customer ids. :class:`IdMap` keeps the two apart and
stable (ids are sorted, so the same events always give the same indices), and :class:`Dataset` holds the
user x item matrix with configurable weights, the catalogue aligned to item indices, and per-user attributes
that side features and cold start are built from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..columns import Columns
from ..exceptions import InputError

Weighting = Literal["binary", "count", "log_count", "quantity", "log_quantity", "spending", "log_spending"]
WEIGHTINGS: tuple[str, ...] = Weighting.__args__  # type: ignore[attr-defined]

# Per-user attributes kept for side features and cold start (demographics and the segment when known).
USER_ATTRIBUTES = (Columns.Age, Columns.Gender, Columns.Location, Columns.Income)
CATALOGUE_COLUMNS = (Columns.Item, Columns.ItemName, Columns.Category, Columns.Description, Columns.Price)


@dataclass(frozen=True)
class IdMap:
    """Bidirectional map between external ids (strings) and contiguous internal indices."""

    external_ids: np.ndarray
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.external_ids, dtype=object)
        index = pd.Index(ids)
        if not index.is_unique:
            raise InputError("IdMap ids must be unique")
        object.__setattr__(self, "external_ids", ids)
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_values(cls, values: Iterable[object]) -> IdMap:
        """Map the distinct values, sorted, so the mapping does not depend on row order."""
        return cls(np.sort(pd.unique(_as_str(values))))

    def __len__(self) -> int:
        return len(self.external_ids)

    def to_internal(self, ids: Iterable[object]) -> np.ndarray:
        """Indices of ``ids``; -1 for ids not in the map."""
        return self._index.get_indexer(pd.Index(_as_str(ids))).astype(np.int64)

    def to_external(self, idx: np.ndarray) -> np.ndarray:
        """Ids at internal indices ``idx`` (which must be valid)."""
        return self.external_ids[np.asarray(idx, dtype=np.int64)]


def _as_str(values: Iterable[object]) -> np.ndarray:
    """Ids as an object array of ``str`` (ids are compared as text everywhere)."""
    if not isinstance(values, np.ndarray | pd.Series | pd.Index):
        values = list(values)
    return pd.Series(np.asarray(values, dtype=object), dtype=object).astype(str).to_numpy(dtype=object)


def _weights(frame: pd.DataFrame, weighting: str) -> pd.Series:
    """Per-row contribution to the (user, item) cell before aggregation."""
    if weighting in ("binary", "count", "log_count"):
        return pd.Series(1.0, index=frame.index)
    if weighting in ("quantity", "log_quantity"):
        return frame[Columns.Quantity].astype("float64").fillna(1.0) if Columns.Quantity in frame else (
            pd.Series(1.0, index=frame.index))
    if Columns.Spending not in frame or frame[Columns.Spending].isna().all():
        raise InputError(f"weighting {weighting!r} needs the {Columns.Spending!r} column; use 'log_count'")
    return frame[Columns.Spending].astype("float64").fillna(0.0).clip(lower=0.0)


@dataclass(frozen=True)
class Dataset:
    """User x item interactions plus what is known about users and items, aligned to internal indices.

    Attributes
    ----------
    users, items : IdMap
    interactions : csr_matrix, float32, shape (n_users, n_items)
        Weighted interactions (see ``weighting`` in :meth:`from_events`); the training signal.
    purchases : csr_matrix, float32, shape (n_users, n_items)
        Raw number of purchase lines per cell; what "already bought" and "buy again" are judged on.
    catalogue : DataFrame
        One row per item index: product id, name, category, description, median price.
    user_attributes : DataFrame
        One row per user index: age, gender, location, income (last known) and segment when given.
    recency_days : csr_matrix or None, float32, same pattern as ``purchases``
        Days from each (user, item)'s last purchase to the last event of the dataset, plus one (so that a
        purchase on the last day is stored, not an implicit zero). ``None`` when events carry no dates or the
        dataset was rebuilt from arrays without it; models must then fall back to ``purchases``.
    """

    users: IdMap
    items: IdMap
    interactions: sp.csr_matrix
    purchases: sp.csr_matrix
    catalogue: pd.DataFrame
    user_attributes: pd.DataFrame
    weighting: str = "log_count"
    recency_days: sp.csr_matrix | None = None

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        *,
        weighting: Weighting = "log_count",
        click_weight: float = 0.0,
        segments: pd.Series | None = None,
        catalogue: pd.DataFrame | None = None,
        like: Dataset | None = None,
    ) -> Dataset:
        """Build the dataset from a canonical event frame.

        ``weighting`` turns the purchase lines of a (user, item) pair into one number: ``binary`` (1),
        ``count`` (number of lines), ``quantity`` or ``spending`` (sums), each optionally ``log_``-scaled
        (``log1p``), which damps bulk buyers so that one wholesale order does not dominate a user's profile.
        ``click_weight`` > 0 adds ``click_weight * log1p(clicks)`` as a weaker browsing signal.
        ``segments`` (user id -> segment) is kept as a user attribute for side features.
        ``catalogue`` may list products never bought (a new product with text), so content-based cold start
        can reach them; by default the catalogue is built from the events.
        ``like`` reuses another dataset's id maps, catalogue, user attributes and weighting (events with ids it
        does not know are dropped): a part of a dataset's events (e.g. a validation cut) then has the same
        indices as the whole, so scores computed on one line up with the other.
        """
        if weighting not in WEIGHTINGS:
            raise InputError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
        missing = [c for c in (Columns.User, Columns.Item) if c not in events]
        if missing:
            raise InputError(f"events lack column(s) {missing}")
        if events.empty:
            raise InputError("cannot build a dataset from zero events")

        if like is not None:
            users, items, cat, weighting = like.users, like.items, like.catalogue, like.weighting
            rows = users.to_internal(events[Columns.User].to_numpy())
            cols = items.to_internal(events[Columns.Item].to_numpy())
            known = (rows >= 0) & (cols >= 0)
            events, rows, cols = events[known], rows[known], cols[known]
        else:
            cat = _catalogue(events, catalogue)
            users = IdMap.from_values(events[Columns.User])
            items = IdMap.from_values(cat[Columns.Item])
            cat = cat.set_index(Columns.Item).loc[items.external_ids].reset_index()
            rows = users.to_internal(events[Columns.User].to_numpy())
            cols = items.to_internal(events[Columns.Item].to_numpy())
        shape = (len(users), len(items))
        counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        counts.sum_duplicates()
        raw = sp.csr_matrix((_weights(events, weighting).to_numpy(np.float32), (rows, cols)), shape=shape)
        raw.sum_duplicates()
        if weighting == "binary":
            raw.data[:] = 1.0
        elif weighting.startswith("log_"):
            raw.data = np.log1p(raw.data)
        if click_weight > 0 and Columns.Clicks in events:
            clicks = events[Columns.Clicks].astype("float64").fillna(0.0).to_numpy(np.float32)
            extra = sp.csr_matrix((clicks, (rows, cols)), shape=shape)
            extra.sum_duplicates()
            extra.data = click_weight * np.log1p(extra.data)
            raw = raw + extra
        raw.eliminate_zeros()
        # a purchase always counts, even with zero spending: keep the pattern of `counts`
        interactions = counts.copy()
        interactions.data[:] = 0.0
        interactions = (interactions + raw).tocsr()
        interactions.data = np.maximum(interactions.data, 1e-3).astype(np.float32)
        interactions.sort_indices()
        counts.sort_indices()
        return cls(
            users=users,
            items=items,
            interactions=interactions,
            purchases=counts,
            catalogue=cat,
            user_attributes=like.user_attributes if like is not None else _user_attributes(events, users, segments),
            weighting=weighting,
            recency_days=_recency_days(events, rows, cols, shape),
        )

    def user_index(self, user_ids: Iterable[object]) -> np.ndarray:
        return self.users.to_internal(user_ids)

    def item_index(self, item_ids: Iterable[object]) -> np.ndarray:
        return self.items.to_internal(item_ids)

    def item_popularity(self) -> np.ndarray:
        """Number of distinct buyers per item."""
        return np.asarray((self.purchases > 0).sum(axis=0)).ravel()


def _recency_days(events: pd.DataFrame, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix | None:
    """Days since each pair's last purchase (+1), so recency-aware models need not keep the raw events."""
    if Columns.Date not in events or events[Columns.Date].isna().all():
        return None
    dates = pd.to_datetime(events[Columns.Date])
    age = ((dates.max() - dates).dt.total_seconds() / 86400.0).fillna(np.inf).to_numpy()
    # keep the smallest age per cell: sort descending so that the last write of a duplicate wins
    order = np.argsort(-age, kind="stable")
    frame = pd.DataFrame({"r": rows[order], "c": cols[order], "a": age[order]}).drop_duplicates(["r", "c"], keep="last")
    finite = np.isfinite(frame["a"].to_numpy())
    frame = frame[finite]
    out = sp.csr_matrix(
        (frame["a"].to_numpy(np.float32) + 1.0, (frame["r"].to_numpy(), frame["c"].to_numpy())), shape=shape
    )
    out.sort_indices()
    return out


def _catalogue(events: pd.DataFrame, extra: pd.DataFrame | None) -> pd.DataFrame:
    """One row per product: the most frequent name/category/description and the median price."""
    frame = events if extra is None else pd.concat([events, extra], ignore_index=True)
    cat = pd.DataFrame({Columns.Item: frame[Columns.Item].astype(str)})
    for column in (Columns.ItemName, Columns.Category, Columns.Description):
        cat[column] = frame[column].astype("string") if column in frame else pd.NA
    cat[Columns.Price] = frame[Columns.Price].astype("float64") if Columns.Price in frame else np.nan
    grouped = cat.groupby(Columns.Item, sort=True)
    text = pd.DataFrame({column: _modes(cat[Columns.Item], cat[column])
                         for column in (Columns.ItemName, Columns.Category, Columns.Description)})
    out = text.join(grouped[Columns.Price].median(), how="right").reset_index()
    out[Columns.ItemName] = out[Columns.ItemName].fillna(out[Columns.Item]).astype(str)
    out[Columns.Category] = out[Columns.Category].fillna("unknown").astype(str)
    out[Columns.Description] = out[Columns.Description].fillna("").astype(str)
    return out[list(CATALOGUE_COLUMNS)]


def _modes(keys: pd.Series, values: pd.Series) -> pd.Series:
    """The most frequent non-missing value per key (ties: the value seen first), in one pass over the rows.

    A per-group ``value_counts`` costs a pandas call per product: 30 CPU seconds for 10,000 products."""
    frame = pd.DataFrame({"k": keys.to_numpy(), "v": values.to_numpy(), "i": np.arange(len(keys))}).dropna(subset=["v"])
    if frame.empty:
        return pd.Series(dtype="string")
    counts = frame.groupby(["k", "v"], sort=False).agg(n=("i", "size"), first=("i", "min")).reset_index()
    best = counts.sort_values(["k", "n", "first"], ascending=[True, False, True]).drop_duplicates("k")
    return pd.Series(best["v"].to_numpy(), index=pd.Index(best["k"].to_numpy(), name=Columns.Item), dtype="string")


def _user_attributes(events: pd.DataFrame, users: IdMap, segments: pd.Series | None) -> pd.DataFrame:
    """Last known demographics per user (events sorted by date when there is one)."""
    present = [c for c in USER_ATTRIBUTES if c in events]
    frame = events
    if Columns.Date in events:
        frame = events.sort_values(Columns.Date, kind="stable")
    attrs = frame.assign(**{Columns.User: frame[Columns.User].astype(str)}).groupby(Columns.User)[present].last()
    return complete_user_attributes(attrs.reindex(users.external_ids), segments)


def complete_user_attributes(attrs: pd.DataFrame, segments: pd.Series | None) -> pd.DataFrame:
    """Add absent demographic columns as missing and the segment label; ``attrs`` is indexed by user id (str).

    Shared by the local and Spark engines so both give bundles the same attribute table.
    """
    for column in USER_ATTRIBUTES:
        if column not in attrs:
            attrs[column] = pd.NA
    if segments is not None:
        seg = pd.Series(segments.to_numpy(), index=segments.index.astype(str))
        attrs[Columns.Segment] = seg.reindex(attrs.index).to_numpy()
    attrs.index.name = Columns.User
    return attrs.reset_index(drop=True)
