"""Priors shared by the baselines and the hybrid: popularity within a group of users, recency-weighted counts.

They live below both so that neither model module imports the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..columns import Columns
from ..features.interactions import Dataset

__all__ = ["HALF_LIFE_DAYS", "recency_weights", "segment_popularity"]

#: Half-life of a purchase line in the buy-again scores (the buy-again baseline's default, and the hybrid's).
HALF_LIFE_DAYS = 90.0


def segment_popularity(dataset: Dataset, codes: np.ndarray | None = None,
                       min_segment_users: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Share of buyers of each item within each segment, and each user's segment row (-1: none or too small).

    Segments are ``user_attributes["segment"]`` unless ``codes`` (one integer per user, -1 for none) is given.
    Returned as (segments x items float32, users int64); users without a usable segment are scored with the
    shop-wide share by :func:`segment_scores`.
    """
    if codes is None:
        codes = np.full(dataset.n_users, -1, np.int64)
        attrs = dataset.user_attributes
        if Columns.Segment in attrs and not attrs[Columns.Segment].isna().all():
            codes = pd.factorize(attrs[Columns.Segment].astype("string"))[0].astype(np.int64)
    codes = np.array(codes, dtype=np.int64, copy=True)
    sizes = np.bincount(codes[codes >= 0], minlength=max(int(codes.max()) + 1, 0))
    large = codes >= 0
    large[large] = sizes[codes[large]] >= min_segment_users
    codes[~large] = -1
    bought = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
    users = np.flatnonzero(large)
    members = sp.csr_matrix((np.ones(len(users), np.float32), (codes[users], users)), shape=(len(sizes), dataset.n_users))
    counts = np.maximum(np.asarray(members.sum(axis=1)), 1.0)
    return np.asarray((members @ bought).toarray() / counts, dtype=np.float32), codes


def recency_weights(dataset: Dataset, half_life_days: float, events: pd.DataFrame | None = None) -> sp.csr_matrix:
    """Sum over a (user, product)'s purchase lines of ``0.5 ** (age / half-life)``, age from the last purchase.

    With the training ``events`` every line counts with its own age; without them (a Dataset holds one date per
    pair, the last) every line gets the age of the pair's last purchase, and without dates each line weighs 1.
    """
    shape = (dataset.n_users, dataset.n_items)
    if events is not None and Columns.Date in events and events[Columns.Date].notna().any():
        rows = dataset.user_index(events[Columns.User].to_numpy())
        cols = dataset.item_index(events[Columns.Item].to_numpy())
        dates = pd.to_datetime(events[Columns.Date])
        age_days = ((dates.max() - dates).dt.total_seconds() / 86400.0).fillna(0.0).to_numpy()
        known = (rows >= 0) & (cols >= 0)
        weights = np.power(0.5, age_days[known] / half_life_days).astype(np.float32)
        matrix = sp.csr_matrix((weights, (rows[known], cols[known])), shape=shape)
        matrix.sum_duplicates()
        return matrix
    counts = dataset.purchases.astype(np.float32).tocsr(copy=True)
    recency = dataset.recency_days
    if recency is not None and recency.nnz == counts.nnz and np.array_equal(recency.indices, counts.indices):
        counts.data = counts.data * np.power(0.5, (recency.data - 1.0) / half_life_days).astype(np.float32)
    return counts
