"""Every known customer's top-K, computed once per bundle load so that a request is a lookup.

Why: a bundle is immutable, so a customer's recommendations cannot change until the next reload, and the
hybrid's per-request cost (~3 ms of scoring plus ~7 ms of reasons and ~8 ms of DataFrame building for one
user, measured on the 5,000 x 1,000 demo) would cap one core at ~50 requests/s, while the same work batched
over all customers takes ~4 s per mode at load. The cache holds the model's own ``recommend()`` output for
``k = K`` (default 20); both the hybrid's top-k and its MMR re-ranking are greedy, so the top-k for any
``k <= K`` is a prefix of the top-K and the cached answer is exactly the live one (the tests check this).
Larger ``k`` is computed live. Reasons are stored as codes into a small vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..columns import Columns
from ..recommend.base import Recommender
from .schemas import RecommendedItem

CHUNK_USERS = 1000  # bounds the memory of one recommend() call while building


@dataclass(frozen=True, eq=False)
class TopK:
    """Top-``k`` item indices, scores and reason codes per user index for one mode (padding: -1)."""

    k: int
    items: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray
    vocabulary: tuple[str, ...]

    @classmethod
    def build(cls, recommender: Recommender, k: int, *, filter_seen: bool) -> TopK:
        dataset = recommender.dataset_
        shape = (dataset.n_users, k)
        items, scores, reasons = np.full(shape, -1, np.int32), np.zeros(shape, np.float32), np.zeros(shape, np.int32)
        codes: dict[str, int] = {"": 0}
        for start in range(0, dataset.n_users, CHUNK_USERS):
            frame = recommender.recommend(dataset.users.external_ids[start:start + CHUNK_USERS], k,
                                          filter_seen=filter_seen)
            rows = dataset.user_index(frame[Columns.User])
            ranks = frame[Columns.Rank].to_numpy() - 1
            items[rows, ranks] = dataset.item_index(frame[Columns.Item])
            scores[rows, ranks] = frame[Columns.Score].to_numpy()
            if Columns.Reason in frame:
                reasons[rows, ranks] = [codes.setdefault(str(r), len(codes)) for r in frame[Columns.Reason]]
        return cls(k, items, scores, reasons, tuple(codes))

    def answer(self, user: int, k: int, item_ids: list[str], item_names: list[str]) -> list[RecommendedItem]:
        """The first ``k`` (<= ``self.k``) recommendations of user index ``user``, as the live path gives them."""
        out = []
        for rank in range(min(k, self.k)):
            item, score = int(self.items[user, rank]), float(self.scores[user, rank])
            if item < 0:
                break
            if math.isfinite(score):  # model_construct: these values were validated when the cache was built
                out.append(RecommendedItem.model_construct(
                    rank=rank + 1, product_id=item_ids[item], product_name=item_names[item], score=score,
                    reason=self.vocabulary[self.reasons[user, rank]]))
        return out
