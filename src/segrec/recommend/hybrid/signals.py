"""The hybrid's signals: one (users x items) score block per source, z-scored per user before blending.

Discover mode blends :data:`SIGNALS`; buy-again mode adds :data:`REPEAT_SIGNALS`: ``repeat`` (how often and how
lately the user bought the product, decayed with a 60-day half-life) and ``again`` (the buy-again baseline's
own score: recency-weighted purchase lines of one's own products first, then the shop's best sellers), so the
blend can never do worse than the buy-again baseline on validation: that baseline is one of its parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...columns import Columns
from ...exceptions import InputError
from ...features.interactions import Dataset
from ..base import take_rows
from ..priors import segment_popularity

if TYPE_CHECKING:
    from .model import HybridRecommender

__all__ = ["ALL_SIGNALS", "REPEAT_SIGNALS", "SIGNALS", "TableRows", "again_scores", "category_model", "category_scores",
           "demographic_groups", "popularity_prior", "raw_signals", "repeat_signal", "segment_favourites",
           "segment_of", "segment_popularity", "segment_rows", "segment_scores", "standardise", "trend_prior"]

#: Blend inputs of both modes.
SIGNALS = ("cf", "item", "content", "profile", "category", "trend", "popularity", "segment", "peers")
#: Added in buy-again mode.
REPEAT_SIGNALS = ("repeat", "again")
ALL_SIGNALS = SIGNALS + REPEAT_SIGNALS


def standardise(scores: np.ndarray) -> np.ndarray:
    """Row-wise z-scores, so signals on different scales can be blended with fixed weights (-inf kept).

    The priors (trend, popularity) reach here as one row broadcast to every user: that row is standardised
    once and broadcast back (a read-only view). A block without -inf skips the masking passes; both shortcuts
    give the same numbers as the general path (they are the most expensive step of scoring at 10k products).
    """
    if scores.ndim == 2 and scores.shape[0] > 1 and scores.strides[0] == 0:
        return np.broadcast_to(standardise(scores[:1]), scores.shape)
    finite = np.isfinite(scores)
    if finite.all():
        mean = scores.sum(axis=1, keepdims=True) / np.maximum(scores.shape[1], 1)
        centred = scores - mean
        var = (centred ** 2).sum(axis=1, keepdims=True) / np.maximum(scores.shape[1], 1)
        centred /= np.sqrt(var) + 1e-9
        return centred.astype(np.float32)
    safe = np.where(finite, scores, 0.0)
    n = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = safe.sum(axis=1, keepdims=True) / n
    var = (np.where(finite, safe - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n
    out = (safe - mean) / (np.sqrt(var) + 1e-9)
    return np.where(finite, out, -np.inf).astype(np.float32)


def trend_prior(dataset: Dataset, days: float) -> np.ndarray:
    """log1p of each item's distinct buyers in the last ``days`` (all-time buyers when dates are unknown).

    Retail demand is seasonal: what sold in the last weeks predicts next month better than all-time sales.
    """
    if dataset.recency_days is None:
        buyers = dataset.item_popularity()
    else:
        recent = dataset.recency_days.copy()
        recent.data = (recent.data <= days + 1.0).astype(np.float32)
        buyers = np.asarray(recent.sum(axis=0)).ravel()
    return np.log1p(buyers).astype(np.float32)


def repeat_signal(dataset: Dataset, user_idx: np.ndarray, half_life_days: float) -> sp.csr_matrix:
    """How likely each user is to re-buy what they bought: log1p(lines) decayed by time since the last one."""
    counts = take_rows(dataset.purchases, user_idx).astype(np.float32)
    signal = counts.copy()
    signal.data = np.log1p(signal.data)
    if dataset.recency_days is not None:
        days = take_rows(dataset.recency_days, user_idx)
        decay = days.copy()
        decay.data = np.exp2(-(days.data - 1.0) / np.float32(half_life_days)).astype(np.float32)
        signal = signal.multiply(decay).tocsr()
    return sp.csr_matrix(signal, dtype=np.float32)


def segment_favourites(dataset: Dataset, top: int = 20, min_buyers: int = 3) -> dict[str, list[int]]:
    """Per segment, the items its members buy most over the shop average (lift x buyers, ties by index)."""
    attrs = dataset.user_attributes
    if Columns.Segment not in attrs or attrs[Columns.Segment].isna().all():
        return {}
    bought = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
    overall = np.asarray(bought.mean(axis=0)).ravel() + 1e-9
    labels = attrs[Columns.Segment].astype("string")
    out: dict[str, list[int]] = {}
    for label in sorted(labels.dropna().unique()):
        members = np.flatnonzero((labels == label).fillna(False).to_numpy())
        buyers = np.asarray(bought[members].sum(axis=0)).ravel()
        lift = buyers / len(members) / overall
        score = np.where(buyers >= min_buyers, lift * np.log1p(buyers), 0.0)
        order = np.lexsort((np.arange(len(score)), -score))[:top]
        out[str(label)] = [int(i) for i in order if score[i] > 0]
    return out


def segment_of(attributes: pd.DataFrame) -> list[str | None]:
    """Segment label of each row as text (None when unknown)."""
    if Columns.Segment not in attributes:
        return [None] * len(attributes)
    return [None if pd.isna(v) else str(v) for v in attributes[Columns.Segment]]


def demographic_groups(dataset: Dataset, n_groups: int = 5, seed: int | None = 42,
                       max_missing: float = 0.5) -> np.ndarray:
    """K-Means groups of the users' numeric demographics (age, log income; standardised, missing -> mean).

    Customers of a similar age and income tend to want similar products, whatever their purchase history says:
    popularity within these groups is a prior that needs no purchases. All -1 when no numeric attribute is
    known for at least ``1 - max_missing`` of the users (e.g. Online Retail).
    """
    from sklearn.cluster import KMeans  # late: only the hybrid's fit needs it

    attrs = dataset.user_attributes
    columns = []
    for column, transform in ((Columns.Age, np.asarray), (Columns.Income, np.log1p)):
        if column in attrs:
            values = pd.to_numeric(attrs[column], errors="coerce").to_numpy(np.float64)
            if np.isnan(values).mean() <= max_missing:
                values = transform(np.clip(values, 0.0, None))
                values = (values - np.nanmean(values)) / (np.nanstd(values) + 1e-9)
                columns.append(np.nan_to_num(values))
    if not columns or dataset.n_users < 2 * n_groups:
        return np.full(dataset.n_users, -1, np.int64)
    features = np.column_stack(columns)
    return KMeans(n_groups, n_init=4, random_state=seed).fit_predict(features).astype(np.int64)


def segment_scores(table: np.ndarray, codes: np.ndarray, popularity: np.ndarray, user_idx: np.ndarray) -> np.ndarray:
    """Rows of :func:`segment_popularity`'s table for ``user_idx``; the shop-wide ``popularity`` for the rest."""
    return segment_rows(table, codes, popularity, user_idx).dense()


@dataclass(frozen=True)
class TableRows:
    """A (users x items) block whose every row is a row of a small ``table``: ``table[codes]``, kept unmade.

    The segment signals are so: a few distinct rows (one per segment, and the shop's), which the served scoring
    pass z-scores once per row of the table instead of once per user (:mod:`.scaled`)."""

    table: np.ndarray
    codes: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.codes), self.table.shape[1]

    def __getitem__(self, key: slice | tuple[slice, slice]) -> np.ndarray:
        """Rows, or (rows, columns), of the block as a dense array."""
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        return self.table[self.codes[rows], columns]

    def take(self, cells: np.ndarray) -> np.ndarray:
        """Each row's values at its ``cells`` (users x width item indices)."""
        return self.table[self.codes[:, None], cells]

    def dense(self) -> np.ndarray:
        return self.table[self.codes]


def segment_rows(table: np.ndarray, codes: np.ndarray, popularity: np.ndarray, user_idx: np.ndarray) -> TableRows:
    """:func:`segment_scores` kept as :class:`TableRows`: the table's rows and the shop's ``popularity`` as its
    last row, which users without a segment (code -1) read."""
    segment = codes[user_idx]
    rows = np.vstack([table, popularity[None, :]]).astype(np.float32)
    return TableRows(rows, np.where(segment >= 0, segment, len(table)))


def popularity_prior(dataset: Dataset) -> np.ndarray:
    """log1p of each item's distinct buyers over the whole training period."""
    return np.log1p(dataset.item_popularity()).astype(np.float32)


def category_model(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's category code, its share of its category's buyers, and the shop-wide category shares.

    With :func:`category_scores` this is a two-step model of a fresh purchase: which category (the user's own
    mix, smoothed towards the shop's) then which product in it (its share of the category's buyers).
    """
    codes = pd.factorize(dataset.catalogue[Columns.Category].astype(str))[0].astype(np.int64)
    buyers = dataset.item_popularity().astype(np.float64) + 0.1
    per_category = np.bincount(codes, weights=buyers)
    share = (buyers / per_category[codes]).astype(np.float32)
    return codes, share, (per_category / per_category.sum()).astype(np.float32)


def category_scores(dataset: Dataset, user_idx: np.ndarray, codes: np.ndarray, share: np.ndarray,
                    prior: np.ndarray, prior_weight: float = 2.0) -> np.ndarray:
    """P(category | user) x P(item | category): the user's distinct products per category plus
    ``prior_weight`` pseudo-purchases spread as the shop's categories, times the item's share in its category."""
    # distinct products bought per (user, category), counted with numpy: whole numbers, so the same float32
    # values as the sparse product with a one-hot matrix that this replaced (built per call: ~0.4 ms a fold-in)
    history = take_rows(dataset.purchases, user_idx)
    n, bought = history.shape[0], history.data > 0
    users = np.repeat(np.arange(n), np.diff(history.indptr))[bought]
    counts = np.bincount(users * len(prior) + codes[history.indices[bought]], minlength=n * len(prior))
    counts = counts.reshape(n, len(prior)).astype(np.float32) + prior_weight * prior[None, :]
    mix = counts / counts.sum(axis=1, keepdims=True)
    out = mix[:, codes]
    out *= share[None, :]  # in place: one (users x items) block, not three
    return out.astype(np.float32, copy=False)


def again_scores(again: sp.csr_matrix, share: np.ndarray, user_idx: np.ndarray) -> np.ndarray:
    """The buy-again baseline's scores: 1 + recency-weighted lines for one's own products, else the product's
    share of buyers (in [0, 1], so own products always come first)."""
    out = np.tile(share.astype(np.float32), (len(user_idx), 1))
    own = take_rows(again, user_idx).tocoo()
    out[own.row, own.col] = 1.0 + own.data
    return out


def raw_signals(model: HybridRecommender, dataset: Dataset, user_idx: np.ndarray, names: Iterable[str],
                again: sp.csr_matrix | None = None, *, tables: bool = False) -> dict[str, np.ndarray]:
    """The named signals for a chunk of users on their own scales (dense, n x n_items, float32).

    Histories come from ``dataset`` (the whole training data, or its validation cut), the fitted parts from
    ``model``; ``again`` holds the recency-weighted lines of ``dataset`` (default: the model's own). With
    ``tables``, the segment signals come as :class:`TableRows` (for :func:`.scaled.scaled_blend`).
    """
    rows_of = segment_rows if tables else segment_scores
    n, n_items = len(user_idx), dataset.n_items
    content = model._content_for(dataset)
    out = {}
    for name in names:
        if name == "cf":
            raw = model.cf_._score(user_idx)
        elif name == "item":
            history = sp.csr_matrix(take_rows(dataset.purchases, user_idx) > 0, dtype=np.float32)
            raw = (history @ model.item_item_).toarray()
        elif name == "content":
            raw = content._score(user_idx)
        elif name == "profile":
            raw = content.profile_scores(user_idx)
        elif name == "trend":
            raw = np.broadcast_to(model.trend_, (n, n_items))
        elif name == "popularity":
            raw = np.broadcast_to(model.popularity_, (n, n_items))
        elif name == "peers":
            raw = rows_of(model.peer_popularity_, model.user_peers_, np.expm1(model.popularity_), user_idx)
        elif name == "category":
            raw = category_scores(dataset, user_idx, model.item_category_, model.category_share_,
                                  model.category_prior_)
        elif name == "segment":
            raw = rows_of(model.segment_popularity_, model.user_segment_, np.expm1(model.popularity_), user_idx)
        elif name == "repeat":
            raw = repeat_signal(dataset, user_idx, model.repeat_half_life_days).toarray()
        elif name == "again":
            share = np.expm1(model.popularity_) / max(dataset.n_users, 1)
            raw = again_scores(model.again_ if again is None else again, share, user_idx)
        else:
            raise InputError(f"unknown signal {name!r}; choose from {', '.join(ALL_SIGNALS)}")
        out[name] = raw if isinstance(raw, TableRows) else np.asarray(raw, dtype=np.float32)
    return out
