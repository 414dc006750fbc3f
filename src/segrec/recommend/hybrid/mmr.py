"""Maximal marginal relevance: the last stage, trading a little relevance for lists that are not all alike."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .._topk import top_k

__all__ = ["rerank"]

#: Up to this many rows (the API's one customer) are re-ranked row by row from the CSR arrays: slicing the
#: sparse neighbour rows costs ~1 ms a step whatever the number of rows (~15 ms for one customer), this < 1 ms.
FEW_ROWS = 8


def rerank(pool: np.ndarray, relevance: np.ndarray, k: int, mmr_lambda: float,
           neighbours: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of each row's ``pool`` by MMR (plain top-k when ``mmr_lambda`` is 1).

    ``relevance`` is min-max scaled per row, ``neighbours`` (items x items, content similarity) gives the
    similarity to what is already listed; returns (items, relevance) padded with -1 / -inf.
    """
    if mmr_lambda >= 1.0:
        order, scores = top_k(relevance, k)
        return np.where(order >= 0, np.take_along_axis(pool, np.maximum(order, 0), axis=1), -1), scores
    n, width = pool.shape
    if n <= FEW_ROWS:
        return _rerank_rows(pool, relevance, k, np.float32(mmr_lambda), neighbours)
    finite = np.isfinite(relevance)
    lo = np.min(np.where(finite, relevance, np.inf), axis=1, keepdims=True)
    hi = np.max(np.where(finite, relevance, -np.inf), axis=1, keepdims=True)
    rel = np.where(finite, (relevance - lo) / np.maximum(hi - lo, 1e-9), -np.inf)
    max_sim = np.zeros((n, width), np.float32)
    items = np.full((n, k), -1, np.int64)
    scores = np.full((n, k), -np.inf, np.float32)
    rows = np.arange(n)
    similarity = _pool_similarity(pool, neighbours) if neighbours.has_canonical_format else None
    for step in range(min(k, width)):
        objective = mmr_lambda * rel - (1.0 - mmr_lambda) * max_sim
        pick = np.argmax(objective, axis=1)
        ok = np.isfinite(objective[rows, pick])
        chosen = pool[rows, pick]
        items[ok, step] = chosen[ok]
        scores[ok, step] = relevance[rows, pick][ok]
        rel[rows, pick] = -np.inf
        if similarity is not None:
            sims = similarity(np.maximum(chosen, 0))
        else:  # duplicate entries (which toarray sums): the dense way
            sims = np.take_along_axis(neighbours[np.maximum(chosen, 0)].toarray(), np.maximum(pool, 0), axis=1)
        max_sim = np.maximum(max_sim, sims)
    return items, scores


def _pool_similarity(pool: np.ndarray, neighbours: sp.csr_matrix) -> Callable[[np.ndarray], np.ndarray]:
    """A function from each row's chosen item to its similarity with each of that row's ``pool`` items (users x
    width, 0 where not neighbours), looked up from the chosen items' sparse rows.

    Densifying the chosen rows (users x every product) to read the pool's 200 columns was most of MMR's cost at
    10,000 products. Padding slots (-1) read 0: their relevance is -inf, so they are never picked whatever
    their similarity. Needs ``neighbours`` without duplicate entries (canonical).
    """
    n, width = pool.shape
    n_items = neighbours.shape[1]
    keys = (np.arange(n)[:, None] * n_items + pool).ravel()  # (row, item) as one sortable number
    slots = np.flatnonzero(pool.ravel() >= 0)
    slots = slots[np.argsort(keys[slots], kind="stable")]
    sorted_keys = keys[slots]

    def similarity(chosen: np.ndarray) -> np.ndarray:
        out = np.zeros(n * width, neighbours.dtype)
        if not len(sorted_keys):
            return out.reshape(n, width)
        rows = neighbours[chosen]
        wanted = np.repeat(np.arange(n), np.diff(rows.indptr)) * n_items + rows.indices
        at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
        hit = sorted_keys[at] == wanted
        out[slots[at[hit]]] = rows.data[hit]
        return out.reshape(n, width)

    return similarity


def _rerank_rows(pool: np.ndarray, relevance: np.ndarray, k: int, lam: np.float32,
                 neighbours: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rerank` one row at a time (the same arithmetic, in float32), reading neighbour rows straight
    from the CSR arrays into a dense scratch row."""
    out_items = np.full((len(pool), k), -1, np.int64)
    out_scores = np.full((len(pool), k), -np.inf, np.float32)
    dense = np.zeros(neighbours.shape[1], np.float32)
    for r, (candidates, values) in enumerate(zip(pool, relevance, strict=True)):
        finite = np.isfinite(values)
        if not finite.any():
            continue
        low, high = values[finite].min(), values[finite].max()
        unit = np.where(finite, (values - low) / max(high - low, np.float32(1e-9)), -np.inf)
        closest = np.zeros(len(candidates), np.float32)
        where = np.maximum(candidates, 0)
        for step in range(min(k, len(candidates))):
            gain = lam * unit - (np.float32(1.0) - lam) * closest
            best = int(np.argmax(gain))
            if not np.isfinite(gain[best]):
                break
            chosen = int(candidates[best])
            out_items[r, step], out_scores[r, step] = chosen, values[best]
            unit[best] = -np.inf
            start, end = neighbours.indptr[chosen], neighbours.indptr[chosen + 1]
            dense[neighbours.indices[start:end]] = neighbours.data[start:end]
            np.maximum(closest, dense[where], out=closest)
            dense[neighbours.indices[start:end]] = 0.0
    return out_items, out_scores
