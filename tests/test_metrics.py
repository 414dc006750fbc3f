"""Metrics: hand-computed values, agreement with LightFM's own evaluation, and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from segrec.columns import Columns
from segrec.evaluation import (
    auc_from_ranks,
    catalogue_coverage,
    intra_list_diversity,
    item_text_vectors,
    novelty,
    positive_ranks,
    reciprocal_rank_from_ranks,
    topk_metrics,
)
from segrec.recommend._topk import top_k


def _csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    data = [(r, c) for r, cols in enumerate(rows) for c in cols]
    r, c = (np.array(x, dtype=np.int64) for x in zip(*data, strict=True)) if data else (np.array([], int),) * 2
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rows), n_items))


def test_topk_metrics_by_hand() -> None:
    top = np.array([[3, 1, 2], [0, 4, -1], [1, 2, 3]])
    relevant = _csr([[1, 4], [0], []], 5)  # the third user has no test item: not evaluated
    m = topk_metrics(top, relevant)
    ndcg0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    np.testing.assert_allclose(m["precision@3"], [1 / 3, 1 / 3])
    np.testing.assert_allclose(m["recall@3"], [0.5, 1.0])
    np.testing.assert_allclose(m["ndcg@3"], [ndcg0, 1.0])
    np.testing.assert_allclose(m["map@3"], [0.5 / 2, 1.0])
    np.testing.assert_allclose(m["hit_rate@3"], [1.0, 1.0])


def test_auc_and_mrr_by_hand() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.3, 0.2]], np.float32)
    relevant, exclude = _csr([[1, 4]], 5), _csr([[3]], 5)
    ranks = positive_ranks(scores, relevant, exclude)
    np.testing.assert_array_equal(ranks.toarray()[0, [1, 4]], [0, 2])  # 0.2 is beaten by 0.9 and 0.5
    # item 1 beats both negatives (0, 2); item 4 beats item 0 only
    np.testing.assert_allclose(auc_from_ranks(ranks, np.diff(exclude.indptr)), [0.75])
    np.testing.assert_allclose(reciprocal_rank_from_ranks(ranks), [1.0])


def test_ties_count_against_the_test_item_like_lightfm() -> None:
    ranks = positive_ranks(np.zeros((1, 4), np.float32), _csr([[2]], 4))
    assert auc_from_ranks(ranks)[0] == 0.0
    assert reciprocal_rank_from_ranks(ranks)[0] == pytest.approx(1 / 4)


def test_beyond_accuracy_by_hand() -> None:
    top = np.array([[0, 1], [1, -1]])
    assert catalogue_coverage(top, 4) == 0.5
    np.testing.assert_allclose(novelty(top, np.array([2, 1, 4, 4]), n_users=4), [1.5, 2.0])
    catalogue = pd.DataFrame({Columns.ItemName: ["red wool scarf", "red wool scarf", "garden hose"]})
    vectors = item_text_vectors(catalogue)
    div = intra_list_diversity(np.array([[0, 1], [0, 2], [2, -1]]), vectors)
    np.testing.assert_allclose(div[:2], [0.0, 1.0], atol=1e-12)
    assert np.isnan(div[2])  # a single item has no pair


def _lightfm_case(seed: int = 0) -> tuple[object, sp.coo_matrix, sp.coo_matrix]:
    lightfm = pytest.importorskip("lightfm")
    rng = np.random.default_rng(seed)
    dense = rng.random((40, 30)) < 0.2
    test_mask = dense & (rng.random(dense.shape) < 0.3)
    train = sp.coo_matrix((dense & ~test_mask).astype(np.float32))
    test = sp.coo_matrix(test_mask.astype(np.float32))
    model = lightfm.LightFM(no_components=5, loss="warp", random_state=seed).fit(train, epochs=5, num_threads=1)
    return model, train, test


def _all_scores(model: object, n_users: int, n_items: int) -> np.ndarray:
    users = np.repeat(np.arange(n_users, dtype=np.int32), n_items)
    items = np.tile(np.arange(n_items, dtype=np.int32), n_users)
    return model.predict(users, items, num_threads=1).reshape(n_users, n_items)


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_lightfm_evaluation(seed: int) -> None:
    from lightfm.evaluation import auc_score, precision_at_k

    model, train, test = _lightfm_case(seed)
    scores = _all_scores(model, *train.shape)
    train_csr, test_csr = train.tocsr(), test.tocsr()
    masked = scores.copy()
    masked[train_csr.nonzero()] = -np.inf
    top, _ = top_k(masked, 5)
    ours = topk_metrics(top, test_csr)["precision@5"]
    theirs = precision_at_k(model, test_csr, train_interactions=train_csr, k=5, num_threads=1)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)

    ranks = positive_ranks(scores, test_csr, train_csr)
    ours_auc = auc_from_ranks(ranks, np.diff(train_csr.indptr))
    theirs_auc = auc_score(model, test_csr, train_interactions=train_csr, num_threads=1)
    np.testing.assert_allclose(ours_auc, theirs_auc, atol=1e-6)

    # without train interactions: every item is ranked (the original project's in-sample protocol)
    np.testing.assert_allclose(auc_from_ranks(positive_ranks(scores, train_csr)),
                               auc_score(model, train_csr, num_threads=1), atol=1e-6)
    top_all, _ = top_k(scores, 5)
    np.testing.assert_allclose(topk_metrics(top_all, train_csr)["precision@5"],
                               precision_at_k(model, train_csr, k=5, num_threads=1), atol=1e-6)


@st.composite
def _ranking_case(draw: st.DrawFn) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(2, 12))
    k = draw(st.integers(1, n_items))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scores = rng.random((n_users, n_items)).astype(np.float32)
    relevant = sp.csr_matrix((rng.random((n_users, n_items)) < draw(st.floats(0.05, 0.9))).astype(np.float32))
    top, _ = top_k(scores, k)
    return top, relevant, scores


@settings(max_examples=60, deadline=None)
@given(_ranking_case())
def test_metrics_lie_in_unit_interval(case: tuple[np.ndarray, sp.csr_matrix, np.ndarray]) -> None:
    top, relevant, scores = case
    values = [*topk_metrics(top, relevant).values()]
    ranks = positive_ranks(scores, relevant)
    values += [auc_from_ranks(ranks), reciprocal_rank_from_ranks(ranks)]
    for v in values:
        assert np.all((v >= 0) & (v <= 1 + 1e-12))


@settings(max_examples=60, deadline=None)
@given(_ranking_case())
def test_a_perfect_ranking_scores_one(case: tuple[np.ndarray, sp.csr_matrix, np.ndarray]) -> None:
    top, relevant, scores = case
    k = top.shape[1]
    perfect_scores = scores + 10 * relevant.toarray()  # every test item above every other item
    perfect_top, _ = top_k(perfect_scores, k)
    m = topk_metrics(perfect_top, relevant)
    n_rel = np.diff(relevant.indptr)[np.diff(relevant.indptr) > 0]
    for name in (f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}"):
        np.testing.assert_allclose(m[name], 1.0)
    np.testing.assert_allclose(m[f"precision@{k}"], np.minimum(n_rel, k) / k)
    ranks = positive_ranks(perfect_scores, relevant)
    np.testing.assert_allclose(reciprocal_rank_from_ranks(ranks), 1.0)
    has_negative = n_rel < relevant.shape[1]  # a user who bought everything has no negative: AUC 0.5
    np.testing.assert_allclose(auc_from_ranks(ranks)[has_negative], 1.0)


@settings(max_examples=40, deadline=None)
@given(_ranking_case(), st.randoms(use_true_random=False))
def test_permuting_users_leaves_averages_unchanged(case: tuple, rnd: object) -> None:
    top, relevant, scores = case
    perm = np.array(rnd.sample(range(top.shape[0]), top.shape[0]))
    before = {n: v.mean() if len(v) else 0.0 for n, v in topk_metrics(top, relevant).items()}
    after = {n: v.mean() if len(v) else 0.0 for n, v in topk_metrics(top[perm], relevant[perm]).items()}
    assert before == pytest.approx(after)
    auc = auc_from_ranks(positive_ranks(scores, relevant))
    auc_perm = auc_from_ranks(positive_ranks(scores[perm], relevant[perm]))
    assert (auc.mean() if len(auc) else 0.0) == pytest.approx(auc_perm.mean() if len(auc_perm) else 0.0)


def test_auc_stays_in_unit_interval_when_test_items_tie() -> None:
    scores = np.array([[-np.inf, -np.inf, -np.inf, 0.5, 0.2]], np.float32)  # e.g. a model masking purchases
    ranks = positive_ranks(scores, _csr([[0, 1, 2]], 5))
    assert auc_from_ranks(ranks)[0] == 0.0
