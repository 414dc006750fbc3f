"""Maximal marginal relevance: the last stage, trading a little relevance for lists that are not all alike."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._topk import top_k

__all__ = ["rerank"]


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
    finite = np.isfinite(relevance)
    lo = np.min(np.where(finite, relevance, np.inf), axis=1, keepdims=True)
    hi = np.max(np.where(finite, relevance, -np.inf), axis=1, keepdims=True)
    rel = np.where(finite, (relevance - lo) / np.maximum(hi - lo, 1e-9), -np.inf)
    max_sim = np.zeros((n, width), np.float32)
    items = np.full((n, k), -1, np.int64)
    scores = np.full((n, k), -np.inf, np.float32)
    rows = np.arange(n)
    for step in range(min(k, width)):
        objective = mmr_lambda * rel - (1.0 - mmr_lambda) * max_sim
        pick = np.argmax(objective, axis=1)
        ok = np.isfinite(objective[rows, pick])
        chosen = pool[rows, pick]
        items[ok, step] = chosen[ok]
        scores[ok, step] = relevance[rows, pick][ok]
        rel[rows, pick] = -np.inf
        sims = neighbours[np.maximum(chosen, 0)].toarray()
        max_sim = np.maximum(max_sim, np.take_along_axis(sims, np.maximum(pool, 0), axis=1))
    return items, scores
