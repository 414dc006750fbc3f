"""Cold-start scoring for the hybrid: a session of products, demographics, both, or nothing at all.

Each source is z-scored over the catalogue and summed, so whatever is known contributes and nothing known
still leaves the trend prior. The reason of a recommended item names the strongest source for that item.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...columns import Columns
from ...exceptions import InputError, SegrecWarning
from .._topk import top_k
from .explain import REASON_PEERS, REASON_POPULAR, REASON_SEGMENT, REASON_SIMILAR
from .signals import standardise

if TYPE_CHECKING:
    from .model import HybridRecommender

# Weight of the trend prior when something personal is known (it breaks ties among personal scores).
PRIOR_WEIGHT = 0.3
SEGMENT_BONUS = 1.0  # z units added to a segment's favourite items


def cold_scores(
    model: HybridRecommender, attributes: dict[str, Any], session: np.ndarray
) -> tuple[np.ndarray, Callable[[int], str]]:
    """Scores over every item, and a function giving the reason for an item."""
    names = model.dataset_.catalogue[Columns.ItemName].to_numpy()
    n_items = model.dataset_.n_items
    trend = standardise(model.trend_[None, :])[0]
    content = np.zeros(n_items, np.float32)
    personal = np.zeros(n_items, np.float32)
    favourites: set[int] = set()
    segment = attributes.get(Columns.Segment)
    segment = None if segment is None or pd.isna(segment) else str(segment)

    if len(session):
        raw = model.content_.session_scores(session)
        if raw.any():
            content = standardise(raw[None, :])[0]
        d = model.cf_.no_components
        factors = model.cf_.item_factors_
        mean = factors[session, :d].mean(axis=0)
        personal += standardise((factors[:, :d] @ mean)[None, :])[0]
    if attributes:
        user = model.cf_.cold_user_factors(pd.DataFrame([attributes]))
        if user is not None:
            personal += standardise(user @ model.cf_.item_factors_.T)[0]
    if segment is not None and segment in model.favourites_:
        favourites = set(model.favourites_[segment])
        personal[list(favourites)] += SEGMENT_BONUS

    known = len(session) > 0 or bool(personal.any())
    scores = (content + personal + (PRIOR_WEIGHT if known else 1.0) * trend).astype(np.float32)
    sources = model.content_.neighbours_[session] if len(session) else None

    def reason(item: int) -> str:
        if sources is not None and content[item] > personal[item]:
            column = sources[:, item].toarray().ravel()
            if column.max() > 0:
                return REASON_SIMILAR.format(name=names[session[int(column.argmax())]])
        if item in favourites:
            return REASON_SEGMENT.format(segment=segment)
        return REASON_PEERS if known else REASON_POPULAR

    return scores, reason


def cold_frame(model: HybridRecommender, attributes: dict[str, Any] | None, product_ids: list[str] | None, k: int,
               exclude: list[str] | None) -> pd.DataFrame:
    """:meth:`HybridRecommender.recommend_cold`'s table: (rank, product_id, product_name, score, reason)."""
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    dataset = model.dataset_
    product_ids = [str(p) for p in (product_ids or [])]
    idx = dataset.item_index(product_ids) if product_ids else np.array([], np.int64)
    notes = []
    unknown = [p for p, i in zip(product_ids, idx, strict=True) if i < 0]
    if unknown:
        notes.append(f"ignored unknown product id(s): {', '.join(unknown[:5])}")
        warnings.warn(notes[-1], SegrecWarning, stacklevel=3)
    scores, reason = cold_scores(model, attributes or {}, idx[idx >= 0])
    excluded = dataset.item_index([str(p) for p in (product_ids if exclude is None else exclude)])
    scores[excluded[excluded >= 0]] = -np.inf
    items, values = top_k(scores[None, :], k)
    items, values = items[0][items[0] >= 0], values[0][items[0] >= 0]
    frame = pd.DataFrame({
        Columns.Rank: np.arange(1, len(items) + 1, dtype=np.int64),
        Columns.Item: dataset.items.to_external(items),
        Columns.ItemName: dataset.catalogue[Columns.ItemName].to_numpy()[items].astype(object),
        Columns.Score: values.astype(np.float64),
        Columns.Reason: [reason(int(i)) for i in items],
    })
    frame.attrs["notes"] = notes
    return frame
