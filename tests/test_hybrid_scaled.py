"""The served scoring pass (hybrid/scaled.py and the ranking built on it) gives the plain path's numbers exactly:
z-scores and blend to the bit, and the same lists, scores and reasons as whole z-scored blocks would."""

from __future__ import annotations

import numpy as np
import pytest

from recommend_helpers import fast_hybrid
from segrec.data.generate import generate_shop
from segrec.recommend import Dataset, HybridRecommender
from segrec.recommend._topk import top_k
from segrec.recommend.base import mask_seen
from segrec.recommend.hybrid.explain import EXPLAIN_SIGNALS, content_wins
from segrec.recommend.hybrid.mmr import rerank
from segrec.recommend.hybrid.scaled import COLUMNS, ROWS, scaled_blend
from segrec.recommend.hybrid.signals import (
    ALL_SIGNALS,
    SIGNALS,
    TableRows,
    raw_signals,
    segment_rows,
    segment_scores,
    standardise,
)
from segrec.recommend.hybrid.tuning import weighted_sum


def _blocks(n: int = 70, n_items: int = 3 * COLUMNS + 5, seed: int = 0) -> dict[str, np.ndarray]:
    """C- and F-ordered blocks on different scales, and a prior's row broadcast to every user."""
    rng = np.random.default_rng(seed)
    c = (rng.standard_normal((n, n_items)) * 3.7 + 11.0).astype(np.float32)
    f = np.asfortranarray(rng.gamma(0.3, 2.0, (n, n_items)).astype(np.float32))
    prior = np.broadcast_to(np.log1p(rng.integers(0, 50, n_items)).astype(np.float32), (n, n_items))
    tiny = np.asfortranarray(rng.random((n, n_items)).astype(np.float32) * np.float32(1e-4))
    table = rng.gamma(1.0, 5.0, (3, n_items)).astype(np.float32)
    segment = segment_rows(table, rng.integers(-1, 3, n + 5), prior[0], np.arange(3, n + 3))
    return {"cf": c, "profile": f, "trend": prior, "category": tiny, "content": c[::-1].copy(), "segment": segment}


def test_segment_rows_are_the_segment_scores() -> None:
    rng = np.random.default_rng(3)
    table, codes = rng.random((4, 30)).astype(np.float32), rng.integers(-1, 4, 50)
    popularity, users = rng.random(30).astype(np.float32) * 9, rng.permutation(50)[:20]
    rows = segment_rows(table, codes, popularity, users)
    np.testing.assert_array_equal(rows.dense(), segment_scores(table, codes, popularity, users))
    own = codes[users]  # each customer's segment row, the shop's popularity without a segment (-1)
    expected = np.where((own >= 0)[:, None], table[np.maximum(own, 0)], popularity[None, :])
    np.testing.assert_array_equal(segment_scores(table, codes, popularity, users), expected)
    assert segment_scores(table, codes, popularity, users).dtype == np.float32
    cells = rng.integers(0, 30, (20, 6))
    np.testing.assert_array_equal(rows.take(cells), np.take_along_axis(rows.dense(), cells, axis=1))


def _dense(block: np.ndarray | TableRows) -> np.ndarray:
    return block.dense() if isinstance(block, TableRows) else block


@pytest.mark.parametrize("weights", [{"cf": 1.0, "profile": 0.5, "trend": 0.25, "category": 2.0, "content": 0.1,
                                      "segment": 0.3},
                                     {"cf": 2.0}, {}], ids=["all", "one", "none"])
def test_scaled_blend_is_standardise_and_weighted_sum_to_the_bit(weights: dict[str, float]) -> None:
    raw = _blocks()
    assert raw["profile"].flags.f_contiguous and raw["cf"].flags.c_contiguous and ROWS < len(raw["cf"])
    shape = raw["cf"].shape
    z = {name: standardise(_dense(block)) for name, block in raw.items()}
    blend, scaled = scaled_blend(raw, weights, shape)
    np.testing.assert_array_equal(blend, weighted_sum(z, weights, shape))
    rng = np.random.default_rng(1)
    cells = rng.integers(0, shape[1], (shape[0], 17))
    everything = np.broadcast_to(np.arange(shape[1]), shape)
    for name, block in z.items():
        np.testing.assert_array_equal(scaled[name].at(cells), np.take_along_axis(block, cells, axis=1))
        np.testing.assert_array_equal(scaled[name].at(everything), block)


def test_scaled_blend_takes_the_general_path_for_a_block_with_minus_inf() -> None:
    raw = _blocks()
    raw["cf"][3, 5] = -np.inf
    raw["profile"][7, 2] = -np.inf
    weights = {"cf": 1.0, "profile": 0.5}
    blend, scaled = scaled_blend(raw, weights, raw["cf"].shape)
    z = {name: standardise(_dense(block)) for name, block in raw.items()}
    np.testing.assert_array_equal(blend, weighted_sum(z, weights, raw["cf"].shape))
    np.testing.assert_array_equal(scaled["cf"].at(np.array([[5, 6]] * len(blend))), z["cf"][:, 5:7])


def _plain_rank(model: HybridRecommender, user_idx: np.ndarray, k: int,
                filter_seen: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ranking as it was written before the scoring pass: every signal z-scored whole, the ranker fed
    whole blocks, the reasons reading the whole blocks (items, scores, content wins)."""
    dataset, n_items = model.dataset_, model.dataset_.n_items
    width = max(k, min(model.pool_size, n_items))
    if filter_seen and model.ranker_ is not None:
        raw = raw_signals(model, dataset, user_idx, SIGNALS)
        inputs = model._ranker_inputs(dataset, user_idx, raw)
        z = inputs.z
        blended = weighted_sum(z, model.weights_, (len(user_idx), n_items))
        mask_seen(blended, dataset, user_idx)
        pool, _ = top_k(blended, width)
        relevance = np.where(pool >= 0, model.ranker_.score(inputs, pool), -np.inf).astype(np.float32)
    else:
        weights = model.weights_ if filter_seen else model.weights_again_
        names = [n for n in (SIGNALS if filter_seen else ALL_SIGNALS) if weights.get(n)]
        z = {n: standardise(b) for n, b in raw_signals(model, dataset, user_idx, names).items()}
        blended = weighted_sum(z, weights, (len(user_idx), n_items))
        if filter_seen:
            mask_seen(blended, dataset, user_idx)
        pool, relevance = top_k(blended, width)
    items, scores = rerank(pool, relevance, k, model.mmr_lambda, model.content_.neighbours_)
    missing = [n for n in EXPLAIN_SIGNALS if model.weights_.get(n) and n not in z]
    z = {**z, **{n: standardise(b) for n, b in raw_signals(model, dataset, user_idx, missing).items()}}
    return items, scores, np.broadcast_to(content_wins(model.weights_, z, items), items.shape)


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return Dataset.from_events(generate_shop(customers=2000, products=300, months=12, seed=3).events)


@pytest.mark.parametrize("rank", [True, False], ids=["ranker", "blend"])
def test_served_ranking_is_the_plain_rankings_exactly(shop: Dataset, rank: bool) -> None:
    model = fast_hybrid(rank=rank).fit(shop)
    assert (model.ranker_ is not None) == rank  # this shop keeps the ranker when it may
    users = np.arange(700)  # more than one sweep of ROWS, fewer than a chunk
    for filter_seen in (True, False):
        items, scores, wins = model._rank_chunk(users, 10, filter_seen, explain=True)
        expected = _plain_rank(model, users, 10, filter_seen)
        np.testing.assert_array_equal(items, expected[0])
        np.testing.assert_array_equal(scores, expected[1])
        np.testing.assert_array_equal(np.broadcast_to(wins, items.shape), expected[2])
    assert (items >= 0).all() and np.broadcast_to(wins, items.shape).any()


def _dense_rerank(pool: np.ndarray, relevance: np.ndarray, k: int, lam: float, neighbours) -> tuple[np.ndarray, np.ndarray]:
    """MMR as first written: each step densifies the chosen items' neighbour rows and reads the pool's columns."""
    finite = np.isfinite(relevance)
    lo = np.min(np.where(finite, relevance, np.inf), axis=1, keepdims=True)
    hi = np.max(np.where(finite, relevance, -np.inf), axis=1, keepdims=True)
    rel = np.where(finite, (relevance - lo) / np.maximum(hi - lo, 1e-9), -np.inf)
    n, width = pool.shape
    max_sim = np.zeros((n, width), np.float32)
    items, scores = np.full((n, k), -1, np.int64), np.full((n, k), -np.inf, np.float32)
    rows = np.arange(n)
    for step in range(min(k, width)):
        objective = lam * rel - (1.0 - lam) * max_sim
        pick = np.argmax(objective, axis=1)
        ok = np.isfinite(objective[rows, pick])
        chosen = pool[rows, pick]
        items[ok, step], scores[ok, step] = chosen[ok], relevance[rows, pick][ok]
        rel[rows, pick] = -np.inf
        sims = neighbours[np.maximum(chosen, 0)].toarray()
        max_sim = np.maximum(max_sim, np.take_along_axis(sims, np.maximum(pool, 0), axis=1))
    return items, scores


def test_mmr_reads_the_pools_similarities_as_the_dense_rows_gave_them() -> None:
    import scipy.sparse as sp

    from segrec.recommend.hybrid.mmr import FEW_ROWS

    rng = np.random.default_rng(4)
    n, n_items, width = 3 * FEW_ROWS + 1, 60, 25
    dense = np.where(rng.random((n_items, n_items)) < 0.2, rng.random((n_items, n_items)), 0.0).astype(np.float32)
    neighbours = sp.csr_matrix(dense)
    pool = np.stack([rng.permutation(n_items)[:width] for _ in range(n)])
    pool[:4, -6:] = -1  # padding, as a short pool gives
    relevance = np.where(pool >= 0, rng.standard_normal(pool.shape), -np.inf).astype(np.float32)
    relevance[5, :] = 1.0  # ties everywhere: MMR alone orders them
    # the same similarities with each entry stored as two halves (not canonical: toarray sums them)
    doubled = sp.csr_matrix((np.repeat(neighbours.data / 2, 2), np.repeat(neighbours.indices, 2),
                             neighbours.indptr * 2), shape=neighbours.shape)
    assert not doubled.has_canonical_format
    assert neighbours.has_canonical_format
    for matrix in (neighbours, doubled):
        for lam in (0.5, 0.95):
            expected = _dense_rerank(pool, relevance, 10, lam, matrix)
            got = rerank(pool, relevance, 10, lam, matrix)
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])


def test_write_recommendations_chunks_side_by_side_write_the_one_at_a_time_file(tmp_path) -> None:
    """Chunks' pieces recommended on two threads (the last, small chunk alone) give the same file, row for row,
    as one chunk at a time; more than one BLAS thread in a piece's products would round some scores differently."""
    import pandas as pd

    from segrec.engines.local.train import write_recommendations
    from segrec.recommend.base import DEFAULT_CHUNK

    dataset = Dataset.from_events(generate_shop(customers=2400, products=200, months=6, seed=5).events)
    model = fast_hybrid().fit(dataset)
    done = []
    paths = {threads: tmp_path / f"threads{threads}.parquet" for threads in (1, 2)}
    for threads, path in paths.items():
        rows = write_recommendations(model, path, 5, chunk_size=DEFAULT_CHUNK + 1, threads=threads,
                                     progress=lambda stop, total: done.append(stop))
        assert rows == 5 * dataset.n_users
    assert done == [DEFAULT_CHUNK + 1, 2 * DEFAULT_CHUNK + 2, dataset.n_users] * 2
    together, alone = (pd.read_parquet(path) for path in paths.values())
    pd.testing.assert_frame_equal(together, alone)
    assert list(together["user_id"].unique()) == list(dataset.users.external_ids)


def test_closest_bought_is_scipys_argmax_of_the_overlap(shop: Dataset) -> None:
    """The vectorised choice of the bought product a recommendation is closest to (ties: the lower column,
    nothing when no bought product is a neighbour) against scipy's argmax/max it replaces."""
    import scipy.sparse as sp

    from segrec.recommend.hybrid.explain import _first_largest, closest_bought

    model = fast_hybrid(tune=False).fit(shop)
    rng = np.random.default_rng(6)
    user_idx, item_idx = rng.integers(0, shop.n_users, 3000), rng.integers(0, shop.n_items, 3000)
    history = sp.csr_matrix(shop.purchases[user_idx] > 0, dtype=np.float32)
    towards = model.content_.neighbours_.T.tocsr()[item_idx]
    overlap = sp.csr_matrix(history.multiply(towards))
    expected = np.where(np.asarray(overlap.max(axis=1).toarray()).ravel() > 0,
                        np.asarray(overlap.argmax(axis=1)).ravel(), -1)
    got = closest_bought(model, user_idx, item_idx)
    np.testing.assert_array_equal(got, expected)
    assert (got >= 0).sum() > 100 and (got < 0).sum() > 0
    # ties (the lower column wins), explicit zeros and negatives (no choice), unsorted and duplicate entries
    rows = [np.array([0, 0.5, 0, 0.5]), np.zeros(4), np.array([0.2, 0, 0.7, 0.7]), np.array([-1.0, 0, 0, 0])]
    overlap = sp.csr_matrix(np.array(rows, np.float32))
    messy = sp.csr_matrix((np.array([0.3, 0.3, 0.6, 0.0], np.float32), np.array([3, 1, 1, 2]), np.array([0, 3, 4])),
                          shape=(2, 4))
    for matrix in (overlap, messy):
        expected = np.where(np.asarray(matrix.max(axis=1).toarray()).ravel() > 0,
                            np.asarray(matrix.argmax(axis=1)).ravel(), -1)
        np.testing.assert_array_equal(_first_largest(matrix), expected)
    np.testing.assert_array_equal(_first_largest(overlap), [1, -1, 2, -1])
    np.testing.assert_array_equal(_first_largest(messy), [1, -1])
