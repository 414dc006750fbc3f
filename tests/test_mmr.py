"""MMR re-ranking (recommend.hybrid.mmr): the row-by-row path the API takes for one customer and the batched
path take the same decisions, and MMR with lambda 1 is a plain top-k."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from segrec.recommend._topk import top_k
from segrec.recommend.hybrid import mmr


def _case(seed: int, n: int, n_items: int, width: int) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    pool = np.stack([rng.permutation(n_items)[:width] for _ in range(n)]).astype(np.int64)
    pool[rng.random(pool.shape) < 0.05] = -1  # padding, as a short candidate list has
    relevance = rng.normal(size=pool.shape).astype(np.float32)
    relevance[pool < 0] = -np.inf
    relevance[rng.random(pool.shape) < 0.05] = -np.inf
    sims = sp.random(n_items, n_items, density=0.2, random_state=seed, dtype=np.float32, format="csr")
    return pool, relevance, sims


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), lam=st.sampled_from([0.3, 0.7, 0.95]), k=st.integers(1, 12))
def test_row_by_row_and_batched_mmr_agree(seed: int, lam: float, k: int) -> None:
    pool, relevance, sims = _case(seed, mmr.FEW_ROWS + 5, 40, 15)
    batched = mmr.rerank(pool, relevance, k, lam, sims)  # more rows than FEW_ROWS: the vectorised path
    rows = mmr._rerank_rows(pool, relevance, k, np.float32(lam), sims)
    np.testing.assert_array_equal(batched[0], rows[0])
    np.testing.assert_array_equal(batched[1], rows[1])
    one = mmr.rerank(pool[:1], relevance[:1], k, lam, sims)  # one customer: the row path, via rerank
    np.testing.assert_array_equal(one[0], batched[0][:1])


def test_lambda_one_is_plain_top_k() -> None:
    pool, relevance, sims = _case(3, 4, 30, 12)
    items, scores = mmr.rerank(pool, relevance, 5, 1.0, sims)
    order, expected = top_k(relevance, 5)
    np.testing.assert_array_equal(scores, expected)
    np.testing.assert_array_equal(items, np.where(order >= 0, np.take_along_axis(pool, np.maximum(order, 0), 1), -1))
