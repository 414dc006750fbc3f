"""Top-k selection: the fused factor product gives exactly the rankings of masking and ranking full scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from segrec.columns import Columns as C
from segrec.features.interactions import Dataset, IdMap
from segrec.recommend import _topk
from segrec.recommend._topk import (
    _group_size,
    _top_k_partition,
    reused_score_blocks,
    top_k,
    top_k_of_product,
)
from segrec.recommend.base import Recommender
from segrec.recommend.baselines import ALSRecommender


def _reference(left: np.ndarray, right: np.ndarray, k: int, exclude: sp.csr_matrix | None,
               chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The previous path: a chunk's full product, bought items set to -inf, then a partition of every row."""
    parts = []
    for start in range(0, len(left), chunk):
        scores = np.array(left[start : start + chunk] @ right.T, dtype=np.float32, copy=True)
        if exclude is not None:
            seen = exclude[start : start + chunk].tocoo()
            scores[seen.row, seen.col] = -np.inf
        parts.append(_top_k_partition(scores, k))
    return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])


@pytest.mark.parametrize("n_items", [3001, 4000, 150])
@pytest.mark.parametrize("k", [1, 10, 40])
@pytest.mark.parametrize("masked", [False, True], ids=["all", "bought-masked"])
def test_same_rankings_as_full_scores(n_items: int, k: int, masked: bool) -> None:
    rng = np.random.default_rng(n_items + k)
    left = rng.standard_normal((600, 18), dtype=np.float32)
    right = rng.standard_normal((n_items, 18), dtype=np.float32)
    exclude = sp.csr_matrix(rng.random((600, n_items)) < 0.01) if masked else None
    got = top_k_of_product(left, right, k, exclude=exclude, block_rows=256)
    want = _reference(left, right, k, exclude, chunk=256)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("n_items", [3607, 150])
def test_a_bias_is_added_as_plus_would(n_items: int) -> None:
    rng = np.random.default_rng(n_items)
    left = rng.standard_normal((500, 16), dtype=np.float32)
    right = rng.standard_normal((n_items, 16), dtype=np.float32)
    bias = rng.standard_normal(n_items, dtype=np.float32)
    exclude = sp.csr_matrix(rng.random((500, n_items)) < 0.01)
    scores = left @ right.T + bias[None, :]
    seen = exclude.tocoo()
    scores[seen.row, seen.col] = -np.inf
    got = top_k_of_product(left, right, 10, exclude=exclude, block_rows=500, bias=bias)
    want = top_k(scores, 10)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_the_fast_path_is_taken_for_a_real_catalogue() -> None:
    assert _group_size(10_000, 11) == 20  # the scoring benchmark's shape
    assert _group_size(150, 11) is None  # too few items: plain top_k


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    levels=st.integers(1, 6),
    k=st.integers(1, 12),
    density=st.sampled_from([0.0, 0.3, 0.97, 1.0]),
    special=st.sampled_from(["none", "nan", "inf", "-inf", "-0"]),
)
def test_ties_masks_and_odd_values_match_top_k(seed: int, levels: int, k: int, density: float,
                                               special: str) -> None:
    """Few distinct scores (ties everywhere, also at the k-th place), rows almost or wholly masked, NaN, inf
    and signed zeros: every row still comes out as ``top_k`` ranks it."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 64 * (k + 1) + 7
    left = rng.integers(-levels, levels + 1, (n_users, 3)).astype(np.float32)
    right = rng.integers(-1, 2, (n_items, 3)).astype(np.float32)
    if special == "nan":
        right[rng.integers(0, n_items)] = np.nan
    elif special == "inf":
        left[0] = np.inf
    elif special == "-inf":
        right[:, 0] = -np.inf
        left[:, 0] = np.abs(left[:, 0]) + 1
    elif special == "-0":
        left[:] = 0.0
        right[::2] = -1.0  # 0 * -1 = -0.0 beside 0 * 1 = 0.0
    exclude = sp.csr_matrix(rng.random((n_users, n_items)) < density) if density else None
    with np.errstate(invalid="ignore"):
        got = top_k_of_product(left, right, k, exclude=exclude, block_rows=16)
        want = _reference(left, right, k, exclude, chunk=16)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    levels=st.integers(1, 6),
    k=st.integers(1, 12),
    width=st.integers(1, 3),
    special=st.sampled_from(["none", "nan", "inf", "-inf", "-0", "float64"]),
)
def test_top_k_of_wide_rows_is_the_partition_of_every_row(seed: int, levels: int, k: int, width: int,
                                                          special: str) -> None:
    """top_k takes the group-maxima path on wide float32 rows (a padded copy unless the width fits the groups):
    the same indices and values as partitioning every row, ties at the k-th place, NaN, inf and -0.0 included
    (float64 rows are partitioned)."""
    rng = np.random.default_rng(seed)
    n_cols = 64 * (k + 1) * width + int(rng.integers(0, 13))
    scores = rng.integers(-levels, levels + 1, (30, n_cols)).astype(np.float32)
    if special == "nan":
        scores[rng.random(scores.shape) < 0.01] = np.nan
    elif special == "inf":
        scores[rng.random(scores.shape) < 0.01] = np.inf
    elif special == "-inf":
        scores[rng.random(scores.shape) < 0.5] = -np.inf
    elif special == "-0":
        scores[scores == 0] = -0.0
    elif special == "float64":
        scores = scores.astype(np.float64) / 3
    got, want = top_k(scores, k), _top_k_partition(scores, k)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def _random_dataset(n_users: int, n_items: int, per_user: int = 12) -> Dataset:
    """Who bought what at random (Dataset.from_events builds a catalogue this test does not need)."""
    rng = np.random.default_rng(1)
    rows = np.repeat(np.arange(n_users), per_user)
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, rng.integers(0, n_items, len(rows)))),
                           shape=(n_users, n_items))
    counts.sum_duplicates()
    ids = lambda prefix, n: np.array([f"{prefix}{i}" for i in range(n)], dtype=object)  # noqa: E731
    return Dataset(users=IdMap(ids("U", n_users)), items=IdMap(ids("P", n_items)), interactions=counts,
                   purchases=counts, catalogue=pd.DataFrame({C.Item: ids("P", n_items)}),
                   user_attributes=pd.DataFrame(index=range(n_users)))


class _PreviousPath(ALSRecommender):
    """ALS ranked as before the fused path: full scores, bought items masked, top_k."""

    _recommend_chunk = Recommender._recommend_chunk


def test_factor_models_rank_as_before() -> None:
    """ALS (and LightFM, through the same mixin) via recommend_idx: identical items and scores to the previous
    full-score path, on one thread and on two, discover and buy-again."""
    dataset = _random_dataset(300, 800)
    model = ALSRecommender(factors=8, iterations=2).fit(dataset)
    previous = _PreviousPath(factors=8, iterations=2)
    previous.user_factors_, previous.item_factors_ = model.user_factors_, model.item_factors_
    previous.dataset_ = dataset
    assert _group_size(dataset.n_items, 6) is not None  # k=5: the fused selection, not plain top_k
    users = np.arange(dataset.n_users)
    for filter_seen in (True, False):
        for n_jobs in (1, 2):
            got = model.recommend_idx(users, 5, filter_seen=filter_seen, chunk_size=64, n_jobs=n_jobs)
            want = previous.recommend_idx(users, 5, filter_seen=filter_seen, chunk_size=64, n_jobs=n_jobs)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
    assert getattr(_topk._scratch, "block", None) is None  # n_jobs=1 ran in this thread: its block is released


def test_a_reused_scores_block_ranks_as_a_fresh_one() -> None:
    """Calls of different shapes (more and fewer rows, padded and unpadded widths, masks) share one scores block
    inside reused_score_blocks() and rank as fresh blocks do; the block is released when the with ends."""
    rng = np.random.default_rng(7)
    shapes = [(300, 4000, 10), (40, 3001, 5), (300, 4000, 10), (7, 900, 3), (128, 3001, 10)]
    calls = []
    for n, n_items, k in shapes:
        left = rng.standard_normal((n, 12), dtype=np.float32)
        right = rng.standard_normal((n_items, 12), dtype=np.float32)
        calls.append((left, right, k, sp.csr_matrix(rng.random((n, n_items)) < 0.02)))
    fresh = [top_k_of_product(*call[:3], exclude=call[3], block_rows=64) for call in calls]
    with reused_score_blocks():
        reused = [top_k_of_product(*call[:3], exclude=call[3], block_rows=64) for call in calls]
        assert _topk._scratch.block is not None
    assert _topk._scratch.block is None
    for (idx, vals), (want_idx, want_vals) in zip(reused, fresh, strict=True):
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(vals, want_vals)
