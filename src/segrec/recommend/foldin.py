"""Fold-in: a customer's answer recomputed from their history plus purchases the bundle has not seen, no retrain.

A fitted :class:`~segrec.recommend.HybridRecommender` scores users from fixed parts (LightFM factors, the EASE
item-item matrix ``B``, the content model's neighbours and shared words, the priors) applied to each user's
history row. :class:`FoldIn` applies the same parts, weights, learned ranker and MMR to a history given here
instead: the bundle's row plus new purchases for a known customer, new purchases alone for one the bundle has
never seen. What depends on the history is recomputed (EASE ``x @ B``, content neighbours with recency decay,
the word profile, category mix, repeat signal, "already bought"); what was learned per user stays: a known
customer keeps their trained LightFM vector and segment. A new customer has no LightFM term (``unknown_cf=
"mean"`` uses the mean of their products' item embeddings, as the hybrid's session cold start does: on the
generated shop it scored P@10 0.0510 against 0.0561 without, 98 new customers, ``benchmarks/foldin.py``) and
their segment terms fall back to shop-wide popularity, as for a customer without a segment.

With no new purchase the answer equals the hybrid's own ``recommend`` (the tests check it for every user), so
the fold-in is the served model, not an approximation of it, and ``benchmarks/foldin.py`` measures on held-out
purchases what it gains over the stale answer and how far it stays from a retrain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..columns import Columns
from ..features.interactions import Dataset, IdMap
from ._topk import top_k
from .base import mask_seen
from .content import PROFILE_PRIOR
from .hybrid import ALL_SIGNALS, SIGNALS, HybridRecommender
from .hybrid.explain import content_wins, reason
from .hybrid.mmr import rerank
from .hybrid.ranker import LOG_SIGNALS, RankerInputs
from .hybrid.signals import again_scores, raw_signals, segment_of, segment_scores, standardise
from .hybrid.tuning import weighted_sum
from .priors import HALF_LIFE_DAYS

__all__ = ["FoldIn", "Histories", "NewPurchase", "cold_ranking"]


@dataclass(frozen=True)
class NewPurchase:
    """Purchase lines of one product the bundle has not seen: ``lines`` rows, their ``quantity`` and
    ``spending`` sums (for the quantity and spending weightings), ``age_days`` since the latest of them."""

    item: int
    lines: int
    quantity: float
    spending: float
    age_days: float


@dataclass(frozen=True)
class Histories:
    """Purchase histories of a few customers over the bundle's items (one row each), as a :class:`Dataset` holds
    them; ``user_idx`` is each row's index in the bundle (-1: unknown to it)."""

    purchases: sp.csr_matrix
    interactions: sp.csr_matrix
    recency_days: sp.csr_matrix | None
    again: sp.csr_matrix  # recency-weighted purchase lines (the buy-again baseline's signal)
    user_idx: np.ndarray

    def __len__(self) -> int:
        return len(self.user_idx)


class FoldIn:
    """Score and rank histories with a fitted hybrid's parts (see the module notes)."""

    def __init__(self, model: HybridRecommender, *, unknown_cf: Literal["mean", "none"] = "none") -> None:
        model.check_fitted()
        self.model = model
        self.dataset = model.dataset_
        self.unknown_cf = unknown_cf
        content = model.content_
        bought = sp.csr_matrix(self.dataset.purchases > 0, dtype=np.float32)
        # the word rates of the whole shop, as ContentRecommender.word_lifts uses them for a bundle user
        self.word_rate = np.asarray((bought @ content.profile_words_).sum(axis=0)).ravel() / max(bought.nnz, 1)
        self.words_l1 = normalize(content.profile_words_, norm="l1")
        self.segment_labels = segment_of(self.dataset.user_attributes)
        self._row_ids: dict[int, IdMap] = {}
        self.item_names = self.dataset.catalogue[Columns.ItemName].to_numpy()
        for matrix in (self.dataset.interactions, self.dataset.recency_days, model.again_):
            if matrix is not None:
                matrix.sort_indices()  # _row_values searches each row's indices
        self.favourites = {s: set(items) for s, items in model.favourites_.items()}
        self.neighbours_to = content.neighbours_.T.tocsr()  # row i: the items i is a neighbour of
        self.neighbours_to.sort_indices()

    # ------------------------------------------------------------------------------------------ histories
    def histories(self, rows: Sequence[tuple[int, Sequence[NewPurchase]]]) -> Histories:
        """Each (bundle user index or -1, new purchases) as one history row: the bundle's row merged with them
        (lines added, weights recomputed with the dataset's weighting, recency the most recent of the two)."""
        dataset, n_items = self.dataset, self.dataset.n_items
        data: dict[str, list[np.ndarray]] = {"lines": [], "weights": [], "days": [], "again": []}
        indices, indptr = [], [0]
        for user, new in rows:
            merged: dict[int, list[float]] = {}
            if user >= 0:
                start, end = dataset.purchases.indptr[user], dataset.purchases.indptr[user + 1]
                items = dataset.purchases.indices[start:end]
                weights = _row_values(dataset.interactions, user, items)
                days = (_row_values(dataset.recency_days, user, items)
                        if dataset.recency_days is not None else np.ones(len(items), np.float32))
                again = _row_values(self.model.again_, user, items)
                for item, lines, weight, day, recent in zip(items, dataset.purchases.data[start:end], weights, days,
                                                            again, strict=True):
                    merged[int(item)] = [float(lines), float(weight), float(day), float(recent)]
            for p in new:
                lines, weight, day, recent = merged.get(p.item, [0.0, 0.0, np.inf, 0.0])
                raw = {"quantity": p.quantity, "spending": p.spending}.get(
                    dataset.weighting.removeprefix("log_"), float(p.lines))
                merged[p.item] = [lines + p.lines, _add_weight(dataset.weighting, weight, raw),
                                  min(day, p.age_days + 1.0), recent + p.lines * 0.5 ** (p.age_days / HALF_LIFE_DAYS)]
            order = sorted(merged)
            indices.append(np.asarray(order, np.int32))
            values = np.asarray([merged[i] for i in order], np.float32).reshape(-1, 4)
            for j, name in enumerate(("lines", "weights", "days", "again")):
                data[name].append(values[:, j])
            indptr.append(indptr[-1] + len(order))
        shape = (len(rows), n_items)
        cat = np.concatenate(indices) if indices else np.zeros(0, np.int32)

        def csr(name: str) -> sp.csr_matrix:
            values = np.concatenate(data[name]) if data[name] else np.zeros(0, np.float32)
            return sp.csr_matrix((values, cat, np.asarray(indptr)), shape=shape)

        return Histories(csr("lines"), csr("weights"), csr("days") if dataset.recency_days is not None else None,
                         csr("again"), np.asarray([user for user, _ in rows], np.int64))

    def _as_dataset(self, h: Histories) -> Dataset:
        """The histories as a dataset of their own (row i = user i), for the parts that read histories."""
        users = self._row_ids.get(len(h))
        if users is None:  # building an IdMap (a pandas index) costs more than the rest: once per size
            users = self._row_ids[len(h)] = IdMap(np.arange(len(h)).astype(str))
        return replace(self.dataset, users=users, purchases=h.purchases, interactions=h.interactions,
                       recency_days=h.recency_days)

    # ---------------------------------------------------------------------------------------------- signals
    def _raw(self, h: Histories, rows: Dataset, names: Sequence[str], lifts: np.ndarray) -> dict[str, np.ndarray]:
        """The hybrid's signals for the histories: those read from a history through the hybrid's own
        ``raw_signals`` on them, those learned per customer (LightFM vector, segment, peers) from the bundle, and
        the word profile against the whole shop's word rates."""
        model, n, n_items = self.model, len(h), self.dataset.n_items
        everyone = np.arange(n)
        known = h.user_idx >= 0
        pure = [name for name in names if name not in _PER_CUSTOMER]
        out = raw_signals(model, rows, everyone, pure) if pure else {}
        pop = np.expm1(model.popularity_)
        for name in names:
            if name == "cf":
                raw = np.zeros((n, n_items), np.float32)
                if known.any():
                    raw[known] = model.cf_.score(h.user_idx[known])
                if (~known).any() and self.unknown_cf == "mean":
                    raw[~known] = self._cf_from_items(sp.csr_matrix(h.purchases[~known] > 0, dtype=np.float32))
            elif name == "again":  # shares of the whole shop's buyers, not of these few rows'
                raw = again_scores(h.again, pop / max(self.dataset.n_users, 1), everyone)
            elif name == "profile":
                raw = self._profile(lifts)
            elif name in ("segment", "peers"):
                table, codes = ((model.segment_popularity_, model.user_segment_) if name == "segment"
                                else (model.peer_popularity_, model.user_peers_))
                raw = segment_scores(table, np.where(known, codes[np.maximum(h.user_idx, 0)], -1), pop, everyone)
            else:
                continue
            out[name] = np.asarray(raw, dtype=np.float32)
        return out

    def _cf_from_items(self, binary: sp.csr_matrix) -> np.ndarray:
        """LightFM scores of users known only by their products: the mean item embedding as the user vector."""
        cf = self.model.cf_
        d = cf.no_components
        counts = np.maximum(np.asarray(binary.sum(axis=1)), 1.0)
        mean = np.asarray(binary @ cf.item_factors_[:, :d]) / counts
        user = np.hstack([mean, np.zeros((len(mean), 1)), np.ones((len(mean), 1))]).astype(np.float32)
        return user @ cf.item_factors_.T

    def _lifts(self, binary: sp.csr_matrix) -> np.ndarray:
        counts = (binary @ self.model.content_.profile_words_).toarray()
        expected = np.asarray(binary.sum(axis=1)) * self.word_rate[None, :]
        return np.log((counts + PROFILE_PRIOR) / (expected + PROFILE_PRIOR)).astype(np.float32)

    def _profile(self, lifts: np.ndarray) -> np.ndarray:
        if self.words_l1.shape[1] == 0:
            return np.zeros((lifts.shape[0], self.dataset.n_items), np.float32)
        return np.asarray(self.words_l1 @ lifts.T).T.astype(np.float32)

    # ---------------------------------------------------------------------------------------------- ranking
    def recommend(self, h: Histories, k: int, *, discover: bool = True, allowed: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """Top-``k`` item indices, scores and reasons per history row, as the hybrid ranks them; ``allowed``
        (bool per item) keeps the others out of the candidate pool (business rules). Padding: -1 / -inf."""
        model, n, n_items = self.model, len(h), self.dataset.n_items
        rows = self._as_dataset(h)
        ranked = discover and model.ranker_ is not None
        weights = model.weights_ if discover else model.weights_again_
        wanted = {name for name in (SIGNALS if discover else ALL_SIGNALS) if weights.get(name, 0.0)}
        wanted |= set(SIGNALS) if ranked else set()
        wanted |= {"cf", "item", "content", *(("profile",) if model.weights_.get("profile") else ())}  # reasons
        lifts = self._lifts(sp.csr_matrix(h.purchases > 0, dtype=np.float32))
        raw = self._raw(h, rows, [s for s in ALL_SIGNALS if s in wanted], lifts)
        z = {name: standardise(block) for name, block in raw.items()}
        blended = weighted_sum({s: z[s] for s in (SIGNALS if discover else ALL_SIGNALS) if s in z}, weights,
                                 (n, n_items))
        if discover:
            mask_seen(blended, rows, np.arange(n))
        if allowed is not None:
            blended[:, ~allowed] = -np.inf
        width = max(k, min(model.pool_size, n_items))
        pool, relevance = top_k(blended, width)
        if ranked:
            inputs = RankerInputs(z={s: z[s] for s in SIGNALS}, raw={s: raw[s] for s in LOG_SIGNALS},
                                  history=np.log1p(np.diff(h.purchases.indptr)).astype(np.float32),
                                  lifts=lifts,
                                  words=model.content_.profile_words_, terms=list(model.content_.profile_terms_))
            relevance = np.where(pool >= 0, model.ranker_.score(inputs, pool), -np.inf).astype(np.float32)
        items, values = rerank(pool, relevance, k, model.mmr_lambda, model.content_.neighbours_)
        return items, values, self._reasons(h, z, items)

    def _reasons(self, h: Histories, z: dict[str, np.ndarray], items: np.ndarray) -> list[list[str]]:
        """The hybrid's reason rule (:func:`~segrec.recommend.hybrid.explain.reason`) on these histories."""
        names = self.item_names
        towards = self.neighbours_to
        wins = content_wins(self.model.weights_, z, items)
        out = []
        for row in range(len(h)):
            user = int(h.user_idx[row])
            segment = self.segment_labels[user] if user >= 0 else None
            start, end = h.purchases.indptr[row], h.purchases.indptr[row + 1]
            bought = np.zeros(self.dataset.n_items, bool)
            bought[h.purchases.indices[start:end][h.purchases.data[start:end] > 0]] = True
            reasons = []
            for rank, item in enumerate(items[row]):
                if item < 0:
                    break
                lo, hi = towards.indptr[item], towards.indptr[item + 1]
                sources, sims = towards.indices[lo:hi], towards.data[lo:hi]
                keep = bought[sources] & (sims > 0)
                source = names[sources[keep][np.argmax(sims[keep])]] if keep.any() else None
                reasons.append(reason(bool(bought[item]), bool(wins[row, rank]), source, segment,
                                      int(item) in self.favourites.get(segment, ())))
            out.append(reasons)
        return out


_PER_CUSTOMER = ("cf", "profile", "segment", "peers", "again")  # signals the fold-in computes itself (see FoldIn._raw)


def cold_ranking(model: HybridRecommender, attributes: dict | None, session: np.ndarray, k: int,
                 allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The hybrid's cold start (demographics and/or a session of products) with only ``allowed`` items: what
    ``recommend_cold`` returns when no rule bites (session products left out, as there), but never fewer than
    ``k`` items while ``k`` pass the rules."""
    from .hybrid.cold import cold_scores  # late, as in the hybrid: keeps this module about the warm path

    scores, reason = cold_scores(model, attributes or {}, session)
    scores = np.array(scores, dtype=np.float32, copy=True)
    scores[session] = -np.inf
    if allowed is not None:
        scores[~allowed] = -np.inf
    items, values = top_k(scores[None, :], k)
    keep = items[0] >= 0
    items, values = items[0][keep], values[0][keep]
    return items, values, [reason(int(i)) for i in items]


def _row_values(matrix: sp.csr_matrix, row: int, items: np.ndarray) -> np.ndarray:
    """``matrix[row, items]`` (``items`` sorted) as a dense float32 vector, read from the CSR arrays: scipy's
    fancy indexing costs ~1 ms a call, a search in the row's sorted indices microseconds."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    indices = matrix.indices[start:end]
    if len(indices) == len(items) and np.array_equal(indices, items):
        return np.asarray(matrix.data[start:end], np.float32)
    position = np.minimum(np.searchsorted(indices, items), max(len(indices) - 1, 0))
    found = (position < len(indices)) & (indices[position] == items) if len(indices) else np.zeros(len(items), bool)
    return np.where(found, matrix.data[start:end][position] if len(indices) else 0.0, 0.0).astype(np.float32)


def _add_weight(weighting: str, old: float, raw: float) -> float:
    """A pair's interaction weight after ``raw`` more (lines, units or money, as the weighting counts)."""
    if weighting == "binary":
        return 1.0
    if weighting.startswith("log_"):
        return max(float(np.log1p(np.expm1(old) + raw)), 1e-3)
    return max(old + raw, 1e-3)
