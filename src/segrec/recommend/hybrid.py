"""The hybrid recommender: named stages from candidates to an explained, diversified top-k.

Stages (LensKit's candidate selector -> scorer -> ranker -> re-ranker):

1. **candidates**: LightFM WARP scores plus EASE item-item scores (both z-scored per user), plus the repeat
   signal in buy-again mode; the top ``pool_size`` survive (bought items removed in discover mode);
2. **content**: TF-IDF similarity of each candidate to the user's (recency-weighted) history, read from the
   content model's neighbour matrix, which is indexed in the dataset's item order;
3. **blend**: ``w_cf * z(lightfm) + w_item * z(ease) + w_content * z(content) + w_trend * z(trend)
   [+ w_repeat * repeat]``;
4. **re-rank**: maximal marginal relevance with content similarity (``mmr_lambda`` = 1 turns it off);
5. **explain**: each row gets a reason (see :meth:`HybridRecommender.recommend`).

Weights were tuned on a validation split that never sees the test month: Online Retail events before
2011-10-01 for training, October 2011 for validation (k=10, bought items excluded, P@10 over users with a
validation purchase). Alone: EASE 0.0764, trend (7-day buyers) ~0.056, LightFM 0.054, content 0.045. Grid
w_cf in {0, .15, .3}, w_content in {0, .15, .3, .5}, w_trend in {0 ... 1.3}, trend window 7/14/30 days, w_item
= 1: w_cf .15, w_content .15, w_trend 1.0 on a 7-day window gave 0.0811 (best cell 0.0809-0.0811; the flat
optimum favours the simpler weights). On the test cut (2011-11-01) these defaults give P@10 0.0873 and NDCG@10
0.0965 against EASE alone 0.0778 / 0.0869. The trend weight is large because the shop is seasonal (a
Christmas gift shop); ``w_repeat`` 3.0 was set by hand for buy-again mode, not tuned.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from ..columns import Columns
from ..exceptions import InputError, SegrecWarning
from ._item_item import ease_weights
from ._signals import repeat_signal, segment_favourites, segment_of, standardise, trend_prior
from ._topk import top_k
from .base import Recommender, mask_seen
from .collaborative import LightFMRecommender
from .content import ContentRecommender
from .data import Dataset

__all__ = ["HybridRecommender"]

REASON_SIMILAR = "similar to {name}"
REASON_SEGMENT = "popular with {segment}"
REASON_PEERS = "people like you bought this"
REASON_REPEAT = "you bought this before"
REASON_POPULAR = "popular right now"

_SCALARS = (
    "pool_size", "ease_lambda", "ease_max_items", "ease_keep", "w_cf", "w_item", "w_content", "w_trend",
    "trend_days", "w_repeat", "repeat_half_life_days", "mmr_lambda", "random_state", "num_threads",
)


class HybridRecommender(Recommender):
    """LightFM + EASE candidates, TF-IDF content, trend and repeat priors, MMR re-ranking, reasons, cold start.

    Parameters
    ----------
    collaborative, content : estimators or None
        Prototypes of the parts (cloned in ``fit``); None builds the defaults (LightFM WARP with user side
        features, 64 components, early stopping; TF-IDF words + character n-grams).
    pool_size : int
        Candidates kept after stage 1.
    ease_lambda : float or None
        EASE regularisation (None: no item-item scorer); ``ease_max_items`` and ``ease_keep`` bound its cost.
    w_cf, w_item, w_content, w_trend, w_repeat : float
        Blend weights (signals are z-scored per user first; ``w_repeat`` only applies with
        ``filter_seen=False``).
    trend_days, repeat_half_life_days : float
        Window of the trend prior; half-life of the repeat signal.
    mmr_lambda : float in (0, 1]
        MMR trade-off: 1 ranks by relevance only; lower values demote items similar to ones already listed.
    """

    def __init__(
        self,
        *,
        collaborative: LightFMRecommender | None = None,
        content: ContentRecommender | None = None,
        pool_size: int = 200,
        ease_lambda: float | None = 300.0,
        ease_max_items: int = 6000,
        ease_keep: int = 500,
        w_cf: float = 0.15,
        w_item: float = 1.0,
        w_content: float = 0.15,
        w_trend: float = 1.0,
        trend_days: float = 7.0,
        w_repeat: float = 3.0,
        repeat_half_life_days: float = 60.0,
        mmr_lambda: float = 1.0,
        random_state: int | None = 42,
        num_threads: int | None = None,
    ) -> None:
        self.collaborative = collaborative
        self.content = content
        self.pool_size = pool_size
        self.ease_lambda = ease_lambda
        self.ease_max_items = ease_max_items
        self.ease_keep = ease_keep
        self.w_cf = w_cf
        self.w_item = w_item
        self.w_content = w_content
        self.w_trend = w_trend
        self.trend_days = trend_days
        self.w_repeat = w_repeat
        self.repeat_half_life_days = repeat_half_life_days
        self.mmr_lambda = mmr_lambda
        self.random_state = random_state
        self.num_threads = num_threads

    epoch_callback: Callable[[int, float | None], None] | None = None  # progress hook, not a parameter

    # ------------------------------------------------------------------------------------------ fitting
    def _fit(self, dataset: Dataset) -> None:
        if not 0.0 < self.mmr_lambda <= 1.0:
            raise InputError(f"mmr_lambda must lie in (0, 1], got {self.mmr_lambda}")
        if self.pool_size < 1:
            raise InputError(f"pool_size must be >= 1, got {self.pool_size}")
        cf = clone(self.collaborative) if self.collaborative is not None else LightFMRecommender(
            use_item_features=False, epochs=15, random_state=self.random_state, num_threads=self.num_threads)
        cf.epoch_callback = self.epoch_callback
        self.cf_ = cf.fit(dataset)
        self.content_ = (clone(self.content) if self.content is not None else ContentRecommender()).fit(dataset)
        binary = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
        self.item_item_ = (ease_weights(binary, self.ease_lambda, max_items=self.ease_max_items, keep=self.ease_keep)
                           if self.ease_lambda is not None else sp.csr_matrix(binary.shape[1:] * 2, dtype=np.float32))
        self.trend_ = trend_prior(dataset, self.trend_days)
        self.favourites_ = segment_favourites(dataset)

    # ------------------------------------------------------------------------------------------- stages
    def _signals(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        """Stage inputs for a chunk of users, each z-scored per user (dense, n x n_items)."""
        history = sp.csr_matrix(self.dataset_.purchases[user_idx] > 0, dtype=np.float32)
        n = len(user_idx)
        return {
            "cf": standardise(self.cf_._score(user_idx)),
            "item": standardise((history @ self.item_item_).toarray()),
            "content": standardise(self.content_._score(user_idx)),
            "trend": standardise(np.broadcast_to(self.trend_, (n, len(self.trend_)))),
        }

    def _stages(self, user_idx: np.ndarray, filter_seen: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pool (n, pool) and full candidate and blended scores (n, n_items)."""
        s = self._signals(user_idx)
        candidate = self.w_cf * s["cf"] + self.w_item * s["item"]
        if filter_seen:
            mask_seen(candidate, self.dataset_, user_idx)
        else:  # buy-again: re-ordering is a large share of retail demand
            repeat = repeat_signal(self.dataset_, user_idx, self.repeat_half_life_days)
            peak = np.asarray(repeat.max(axis=1).toarray()).ravel()
            scale = sp.diags(np.where(peak > 0, self.w_repeat / np.maximum(peak, 1e-9), 0.0).astype(np.float32))
            candidate += (scale @ repeat).toarray()
        pool, _ = top_k(candidate, min(self.pool_size, candidate.shape[1]))
        blended = candidate + self.w_content * s["content"] + self.w_trend * s["trend"]
        return pool, candidate, blended

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """Blended scores on the candidate pool; every other item below the pool, in candidate order."""
        pool, candidate, blended = self._stages(user_idx, filter_seen=True)
        out = np.where(np.isfinite(candidate), candidate, np.nan).astype(np.float32)
        pool_scores = np.take_along_axis(blended, np.maximum(pool, 0), axis=1)
        pool_scores[pool < 0] = np.inf
        floor = np.min(pool_scores, axis=1, keepdims=True)
        floor = np.where(np.isfinite(floor), floor, 0.0)
        top = np.nanmax(np.where(np.isfinite(out), out, np.nan), axis=1, keepdims=True)
        out = out - np.nan_to_num(top, nan=0.0) + floor - 1.0  # shift the rest below the pool
        rows = np.repeat(np.arange(len(user_idx)), pool.shape[1]).reshape(pool.shape)
        valid = pool >= 0
        out[rows[valid], pool[valid]] = np.take_along_axis(blended, np.maximum(pool, 0), axis=1)[valid]
        # bought items were masked out of the candidates: give them their blended score again (for AUC)
        return np.where(np.isnan(out), blended, out).astype(np.float32)

    def _recommend_chunk(self, user_idx: np.ndarray, k: int, filter_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        pool, _, blended = self._stages(user_idx, filter_seen)
        relevance = np.take_along_axis(blended, np.maximum(pool, 0), axis=1)
        relevance[pool < 0] = -np.inf
        return self._rerank(pool, relevance, k)

    def _rerank(self, pool: np.ndarray, relevance: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Maximal marginal relevance over the pool (plain top-k when ``mmr_lambda`` is 1)."""
        if self.mmr_lambda >= 1.0:
            order, scores = top_k(relevance, k)
            return np.where(order >= 0, np.take_along_axis(pool, np.maximum(order, 0), axis=1), -1), scores
        n, width = pool.shape
        finite = np.isfinite(relevance)
        lo = np.min(np.where(finite, relevance, np.inf), axis=1, keepdims=True)
        hi = np.max(np.where(finite, relevance, -np.inf), axis=1, keepdims=True)
        rel = np.where(finite, (relevance - lo) / np.maximum(hi - lo, 1e-9), -np.inf)
        max_sim = np.zeros((n, width), np.float32)
        items = np.full((n, k), -1, np.int64)
        scores = np.full((n, k), -np.inf, np.float32)
        rows = np.arange(n)
        sims_matrix = self.content_.neighbours_
        for step in range(min(k, width)):
            objective = self.mmr_lambda * rel - (1.0 - self.mmr_lambda) * max_sim
            pick = np.argmax(objective, axis=1)
            ok = np.isfinite(objective[rows, pick])
            chosen = pool[rows, pick]
            items[ok, step] = chosen[ok]
            scores[ok, step] = relevance[rows, pick][ok]
            rel[rows, pick] = -np.inf
            sims = sims_matrix[np.maximum(chosen, 0)].toarray()
            max_sim = np.maximum(max_sim, np.take_along_axis(sims, np.maximum(pool, 0), axis=1))
        return items, scores

    # ---------------------------------------------------------------------------------------- explained
    def recommend(
        self,
        user_ids: Iterable[object],
        k: int = 10,
        *,
        filter_seen: bool = True,
        on_unknown: Literal["raise", "skip"] = "raise",
    ) -> pd.DataFrame:
        """Top-k per user with names and reasons: (user_id, rank, product_id, product_name, score, reason).

        Reasons: "you bought this before" (buy-again mode), "similar to <a product the user bought>" when the
        content term outweighs the collaborative ones, "popular with <segment>" when the item is among the
        user's segment's favourites, otherwise "people like you bought this".
        """
        frame = super().recommend(user_ids, k, filter_seen=filter_seen, on_unknown=on_unknown)
        names = self.dataset_.catalogue[Columns.ItemName].to_numpy()
        item_idx = self.dataset_.item_index(frame[Columns.Item])
        user_idx = self.dataset_.user_index(frame[Columns.User])
        frame[Columns.ItemName] = names[item_idx].astype(object)
        frame[Columns.Reason] = self._reasons(user_idx, item_idx) if len(frame) else []
        return frame[list(Columns.Recommendations)]

    def _reasons(self, user_idx: np.ndarray, item_idx: np.ndarray) -> list[str]:
        """One reason per (user, item) row; signals recomputed per distinct user."""
        users, inverse = np.unique(user_idx, return_inverse=True)
        s = self._signals(users)
        collaborative = self.w_cf * s["cf"][inverse, item_idx] + self.w_item * s["item"][inverse, item_idx]
        content = self.w_content * s["content"][inverse, item_idx]
        bought = np.asarray(self.dataset_.purchases[user_idx, item_idx]).ravel() > 0
        source = self._closest_bought(user_idx, item_idx)
        segments = segment_of(self.dataset_.user_attributes.iloc[user_idx])
        names = self.dataset_.catalogue[Columns.ItemName].to_numpy()
        reasons = []
        for row in range(len(user_idx)):
            segment = segments[row]
            if bought[row]:
                reasons.append(REASON_REPEAT)
            elif content[row] > collaborative[row] and source[row] >= 0:
                reasons.append(REASON_SIMILAR.format(name=names[source[row]]))
            elif segment is not None and int(item_idx[row]) in self.favourites_.get(segment, ()):
                reasons.append(REASON_SEGMENT.format(segment=segment))
            else:
                reasons.append(REASON_PEERS)
        return reasons

    def _closest_bought(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """For each row, the bought item most similar to the recommended one (-1 if none is a neighbour)."""
        history = sp.csr_matrix(self.dataset_.purchases[user_idx] > 0, dtype=np.float32)
        towards = self.content_.neighbours_.T.tocsr()[item_idx]  # row r: similarity of each item to item_idx[r]
        overlap = sp.csr_matrix(history.multiply(towards))
        best = np.asarray(overlap.argmax(axis=1)).ravel()
        has = np.asarray(overlap.max(axis=1).toarray()).ravel() > 0
        return np.where(has, best, -1)

    # --------------------------------------------------------------------------------------- cold start
    def recommend_cold(
        self,
        *,
        attributes: dict[str, Any] | None = None,
        product_ids: list[str] | None = None,
        k: int = 10,
        exclude: list[str] | None = None,
    ) -> pd.DataFrame:
        """Recommendations for someone the model has not seen; never fails for lack of information.

        ``product_ids`` (a session) -> content neighbours plus the mean item embedding's neighbours;
        ``attributes`` (demographics, optionally ``segment``) -> LightFM from side features alone plus the
        segment's favourites; both add up; nothing -> the trend/popularity prior. Unknown product ids are
        ignored with a :class:`~segrec.exceptions.SegrecWarning` (also listed in ``frame.attrs["notes"]``).
        Returns (rank, product_id, product_name, score, reason); ``exclude`` defaults to ``product_ids``.
        """
        self.check_fitted()
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        from ._cold import cold_scores  # late: keeps this module about the warm path

        product_ids = [str(p) for p in (product_ids or [])]
        idx = self.dataset_.item_index(product_ids) if product_ids else np.array([], np.int64)
        notes = []
        unknown = [p for p, i in zip(product_ids, idx, strict=True) if i < 0]
        if unknown:
            notes.append(f"ignored unknown product id(s): {', '.join(unknown[:5])}")
            warnings.warn(notes[-1], SegrecWarning, stacklevel=2)
        scores, reasons = cold_scores(self, attributes or {}, idx[idx >= 0])
        excluded = self.dataset_.item_index([str(p) for p in (product_ids if exclude is None else exclude)])
        scores[excluded[excluded >= 0]] = -np.inf
        items, values = top_k(scores[None, :], k)
        items, values = items[0][items[0] >= 0], values[0][items[0] >= 0]
        frame = pd.DataFrame({
            Columns.Rank: np.arange(1, len(items) + 1, dtype=np.int64),
            Columns.Item: self.dataset_.items.to_external(items),
            Columns.ItemName: self.dataset_.catalogue[Columns.ItemName].to_numpy()[items].astype(object),
            Columns.Score: values.astype(np.float64),
            Columns.Reason: [reasons(int(i)) for i in items],
        })
        frame.attrs["notes"] = notes
        return frame

    def similar_products(self, product_id: object, k: int = 10) -> pd.DataFrame:
        """Content neighbours of a product (works for new products that only have text)."""
        self.check_fitted()
        return self.content_.similar_products(product_id, k)

    # -------------------------------------------------------------------------------------------- state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON config (parameters, parts, favourites) and arrays (parts prefixed ``cf__`` / ``content__``)."""
        self.check_fitted()
        cf_config, cf_arrays = self.cf_.get_state()
        ct_config, ct_arrays = self.content_.get_state()
        config = {
            "class": type(self).__name__,
            "params": {name: getattr(self, name) for name in _SCALARS},
            "parts": {"cf": cf_config, "content": ct_config},
            "favourites": self.favourites_,
        }
        ii = self.item_item_
        arrays = {f"cf__{n}": a for n, a in cf_arrays.items()} | {f"content__{n}": a for n, a in ct_arrays.items()}
        arrays |= {"item_item_data": ii.data, "item_item_indices": ii.indices, "item_item_indptr": ii.indptr,
                   "trend": self.trend_}
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], dataset: Dataset) -> Self:
        if config.get("class") != cls.__name__:
            raise TypeError(f"state of a {config.get('class')!r} cannot be loaded into {cls.__name__}")
        model = cls(**config["params"])
        parts = config["parts"]
        model.cf_ = LightFMRecommender.from_state(parts["cf"], _prefixed(arrays, "cf__"), dataset)
        model.content_ = ContentRecommender.from_state(parts["content"], _prefixed(arrays, "content__"), dataset)
        n = dataset.n_items
        model.item_item_ = sp.csr_matrix(
            (arrays["item_item_data"], arrays["item_item_indices"], arrays["item_item_indptr"]), shape=(n, n))
        model.trend_ = np.asarray(arrays["trend"], dtype=np.float32)
        model.favourites_ = {str(s): [int(i) for i in v] for s, v in config["favourites"].items()}
        model.dataset_ = dataset
        return model


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
