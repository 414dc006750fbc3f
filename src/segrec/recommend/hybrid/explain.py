"""Why each product is recommended: one short reason per row, from the signals that put it there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ...columns import Columns
from .signals import raw_signals, segment_of, standardise

if TYPE_CHECKING:
    from .model import HybridRecommender

__all__ = ["REASON_PEERS", "REASON_POPULAR", "REASON_REPEAT", "REASON_SEGMENT", "REASON_SIMILAR", "reasons"]

REASON_SIMILAR = "similar to {name}"
REASON_SEGMENT = "popular with {segment}"
REASON_PEERS = "people like you bought this"
REASON_REPEAT = "you bought this before"
REASON_POPULAR = "popular right now"


def reasons(model: HybridRecommender, user_idx: np.ndarray, item_idx: np.ndarray) -> list[str]:
    """One reason per (user, item) row; signals recomputed per distinct user.

    "you bought this before" for a bought product; "similar to <a product the user bought>" when the content
    terms outweigh the collaborative ones (discover weights); "popular with <segment>" when the product is
    among the user's segment's favourites; otherwise "people like you bought this".
    """
    dataset = model.dataset_
    users, inverse = np.unique(user_idx, return_inverse=True)
    w = model.weights_
    names = ("cf", "item", "content", *(("profile",) if w.get("profile") else ()))
    s = {n: standardise(b) for n, b in raw_signals(model, dataset, users, names).items()}
    collaborative = w["cf"] * s["cf"][inverse, item_idx] + w["item"] * s["item"][inverse, item_idx]
    content = w["content"] * s["content"][inverse, item_idx]
    if w.get("profile"):  # the user's text profile: explained by the closest bought product too
        content = content + w["profile"] * s["profile"][inverse, item_idx]
    bought = np.asarray(dataset.purchases[user_idx, item_idx]).ravel() > 0
    source = closest_bought(model, user_idx, item_idx)
    segments = segment_of(dataset.user_attributes.iloc[user_idx])
    product_names = dataset.catalogue[Columns.ItemName].to_numpy()
    out = []
    for row in range(len(user_idx)):
        segment = segments[row]
        if bought[row]:
            out.append(REASON_REPEAT)
        elif content[row] > collaborative[row] and source[row] >= 0:
            out.append(REASON_SIMILAR.format(name=product_names[source[row]]))
        elif segment is not None and int(item_idx[row]) in model.favourites_.get(segment, ()):
            out.append(REASON_SEGMENT.format(segment=segment))
        else:
            out.append(REASON_PEERS)
    return out


def closest_bought(model: HybridRecommender, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    """For each row, the bought item most similar to the recommended one (-1 if none is a neighbour)."""
    history = sp.csr_matrix(model.dataset_.purchases[user_idx] > 0, dtype=np.float32)
    towards = model.content_.neighbours_.T.tocsr()[item_idx]  # row r: similarity of each item to item_idx[r]
    overlap = sp.csr_matrix(history.multiply(towards))
    best = np.asarray(overlap.argmax(axis=1)).ravel()
    has = np.asarray(overlap.max(axis=1).toarray()).ravel() > 0
    return np.where(has, best, -1)
