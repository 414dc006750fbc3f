"""Why each product is recommended: one short reason per row, from the signals that put it there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ...columns import Columns
from .signals import segment_of

if TYPE_CHECKING:
    from .model import HybridRecommender

__all__ = ["EXPLAIN_SIGNALS", "REASON_PEERS", "REASON_POPULAR", "REASON_REPEAT", "REASON_SEGMENT", "REASON_SIMILAR", "content_wins", "content_wins_at", "reason", "reasons"]

REASON_SIMILAR = "similar to {name}"
REASON_SEGMENT = "popular with {segment}"
REASON_PEERS = "people like you bought this"
REASON_REPEAT = "you bought this before"
REASON_POPULAR = "popular right now"


#: The signals a reason compares (discover weights): collaborative (LightFM, EASE) against content.
EXPLAIN_SIGNALS = ("cf", "item", "content", "profile")


def content_wins(weights: Mapping[str, float], z: Mapping[str, np.ndarray], items: np.ndarray) -> np.ndarray:
    """Whether the content terms (similar products, word profile) outweigh the collaborative ones (LightFM,
    EASE) in the discover blend, for each listed item: ``items`` (users x k, -1 padding) ranks the users whose
    z-scored blocks are the rows of ``z``. A signal without weight adds nothing (its block may be absent)."""
    rows = np.broadcast_to(np.arange(len(items))[:, None], items.shape)
    cells = np.maximum(items, 0)
    return content_wins_at(weights, {name: z[name][rows, cells] for name in EXPLAIN_SIGNALS if weights.get(name)})


def content_wins_at(weights: Mapping[str, float], z_at: Mapping[str, np.ndarray]) -> np.ndarray:
    """:func:`content_wins` from the z-scores at the listed items themselves (users x k per weighted signal)."""

    def term(name: str) -> np.ndarray | float:
        return weights[name] * z_at[name] if weights.get(name) else 0.0

    return np.asarray((term("content") + term("profile")) > (term("cf") + term("item")))


def reason(bought: bool, wins: bool, source: str | None, segment: str | None, favourite: bool) -> str:
    """The rule, in order: bought before; similar to the closest bought product when content won; a favourite
    of the customer's segment; otherwise people like them bought it."""
    if bought:
        return REASON_REPEAT
    if wins and source is not None:
        return REASON_SIMILAR.format(name=source)
    if segment is not None and favourite:
        return REASON_SEGMENT.format(segment=segment)
    return REASON_PEERS


def reasons(model: HybridRecommender, user_idx: np.ndarray, item_idx: np.ndarray, wins: np.ndarray) -> list[str]:
    """One reason per (user, item) row (:func:`reason`); ``wins``: :func:`content_wins` of each row, as the
    ranking computed it."""
    dataset = model.dataset_
    bought = np.asarray(dataset.purchases[user_idx, item_idx]).ravel() > 0
    source = closest_bought(model, user_idx, item_idx)
    segments = segment_of(dataset.user_attributes.iloc[user_idx])
    product_names = dataset.catalogue[Columns.ItemName].to_numpy()
    return [reason(bool(bought[row]), bool(wins[row]), product_names[source[row]] if source[row] >= 0 else None,
                   segments[row], int(item_idx[row]) in model.favourites_.get(segments[row], ()))
            for row in range(len(user_idx))]


def closest_bought(model: HybridRecommender, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    """For each row, the bought item most similar to the recommended one (-1 if none is a neighbour)."""
    history = sp.csr_matrix(model.dataset_.purchases[user_idx] > 0, dtype=np.float32)
    towards = model.content_.neighbours_.T.tocsr()[item_idx]  # row r: similarity of each item to item_idx[r]
    return _first_largest(sp.csr_matrix(history.multiply(towards)))


def _first_largest(overlap: sp.csr_matrix) -> np.ndarray:
    """Each row's column of its largest value (the lowest such column), -1 where no value is positive: what
    ``argmax(axis=1)`` where ``max(axis=1) > 0`` gives, vectorised (scipy's argmax loops over the rows in Python,
    a fifth of the reasons' time at 40,000 rows a chunk)."""
    overlap = overlap.copy()
    overlap.sum_duplicates()  # sorted columns, as scipy's argmax reads them
    out = np.full(overlap.shape[0], -1, np.int64)
    rows = np.flatnonzero(np.diff(overlap.indptr))
    if len(rows):
        starts = overlap.indptr[rows]
        largest = np.maximum.reduceat(overlap.data, starts)
        at_largest = overlap.data == np.repeat(largest, np.diff(overlap.indptr)[rows])
        first = np.minimum.reduceat(np.where(at_largest, np.arange(overlap.nnz), overlap.nnz), starts)
        positive = largest > 0
        out[rows[positive]] = overlap.indices[first[positive]]
    return out
