"""The hybrid's learned second stage: fitting, the folded linear score, the keep-or-drop guard, state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommend_helpers import fast_hybrid, round_trip, with_forced_ranker
from segrec.columns import Columns as C
from segrec.data.generate import generate_shop
from segrec.recommend import Dataset, HybridRecommender
from segrec.recommend._topk import top_k
from segrec.recommend.hybrid.ranker import RankerInputs, _rows, fit_ranker, sample_pool
from segrec.recommend.hybrid.tuning import ranking_objective


def _taste_case(n_users: int = 300, n_items: int = 40, seed: int = 0) -> tuple[RankerInputs, sp.csr_matrix]:
    """Users buy the items carrying their favourite of two words; a z-scored 'popularity' signal is noise,
    a filler word is on every item."""
    rng = np.random.default_rng(seed)
    words = np.zeros((n_items, 3), np.float32)
    words[np.arange(n_items) % 2 == 0, 0] = 1.0
    words[np.arange(n_items) % 2 == 1, 1] = 1.0
    words[:, 2] = 1.0
    likes = rng.integers(0, 2, n_users)
    lifts = np.where(np.arange(2)[None, :] == likes[:, None], 1.0, -1.0).astype(np.float32)
    lifts = np.hstack([lifts + rng.normal(0, 0.3, lifts.shape), rng.normal(0, 1, (n_users, 1))]).astype(np.float32)
    noise = rng.normal(size=(n_users, n_items)).astype(np.float32)
    inputs = RankerInputs(z={"popularity": noise}, raw={}, history=np.ones(n_users, np.float32), lifts=lifts,
                          words=sp.csr_matrix(words), terms=["red", "blue", "the"])
    bought = (words[None, :, :2] * (np.arange(2)[None, :] == likes[:, None])[:, None, :]).sum(axis=2) > 0
    bought &= rng.random((n_users, n_items)) < 0.3
    bought[np.arange(n_users), likes] = True  # everyone has a target
    return inputs, sp.csr_matrix(bought.astype(np.float32))


def test_ranker_learns_which_words_carry_a_taste() -> None:
    inputs, targets = _taste_case()
    pool = np.tile(np.arange(targets.shape[1]), (targets.shape[0], 1))
    ranker = fit_ranker(inputs, *sample_pool(pool, targets, seed=0))
    coef = dict(zip(ranker.names, ranker.coef, strict=True))
    assert coef["word:red"] > 0 and coef["word:blue"] > 0
    assert abs(coef["word:the"]) < 0.2 * coef["word:red"] and abs(coef["z:popularity"]) < 0.2 * coef["word:red"]
    objective = ranking_objective(targets)
    learned = objective(ranker.score(inputs))
    assert learned > 1.5 * objective(inputs.z["popularity"]) and learned > 3 * objective(-ranker.score(inputs))


def test_ranker_score_is_the_linear_model_of_its_features() -> None:
    """The folded scoring (weighted dense blocks + lifts @ words) equals the features times the coefficients."""
    inputs, targets = _taste_case(n_users=50, n_items=12)
    inputs = RankerInputs({**inputs.z, "cf": inputs.z["popularity"] ** 2}, {"category": np.abs(inputs.z["popularity"])},
                          np.linspace(0, 3, 50).astype(np.float32), inputs.lifts, inputs.words, inputs.terms)
    pool = np.tile(np.arange(12), (50, 1))
    ranker = fit_ranker(inputs, *sample_pool(pool, targets, seed=1))
    rows, items = np.repeat(np.arange(50), 12), np.tile(np.arange(12), 50)
    expected = (_rows(inputs, rows, items).astype(np.float64) @ ranker.coef).reshape(50, 12)
    np.testing.assert_allclose(ranker.score(inputs), expected, rtol=1e-4, atol=1e-4)
    # scoring only a pool (what the hybrid ranks) gives the same values at the pool's cells
    rng = np.random.default_rng(2)
    some = np.stack([rng.permutation(12)[:5] for _ in range(50)])
    np.testing.assert_allclose(ranker.score(inputs, some), np.take_along_axis(expected, some, axis=1),
                               rtol=1e-4, atol=1e-4)


def test_sample_pool_keeps_every_target_and_some_others() -> None:
    targets = sp.csr_matrix(np.eye(3, 300, dtype=np.float32))
    pool = np.tile(np.arange(300), (3, 1))
    rows, items, labels = sample_pool(pool, targets, seed=0)
    assert labels.sum() == 3 and set(zip(rows[labels], items[labels], strict=True)) == {(0, 0), (1, 1), (2, 2)}
    assert 20 < (~labels).sum() / 3 < 60  # ~NEGATIVES per user
    again = sample_pool(pool, targets, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((rows, items, labels), again, strict=True))


@pytest.fixture(scope="module")
def shop() -> Dataset:
    """Large enough for the guard to keep the ranker (individual tastes over product lines); ~3 s."""
    return Dataset.from_events(generate_shop(customers=2000, products=300, months=12, seed=3).events)


@pytest.fixture(scope="module")
def ranked(shop: Dataset) -> HybridRecommender:
    return fast_hybrid(mmr_lambda=1.0).fit(shop)


def test_ranker_is_kept_when_it_beats_the_blend_on_held_out_users(ranked: HybridRecommender) -> None:
    report = ranked.tuning_["discover"]["ranker"]
    assert ranked.ranker_ is not None and report["kept"]
    assert report["objective_ranker"] > report["objective_blend"]
    assert any(name.startswith("word:") for name in ranked.ranker_.names)


def test_ranker_is_dropped_when_it_does_not_help() -> None:
    small = Dataset.from_events(generate_shop(customers=400, products=60, months=3, seed=11).events)
    model = fast_hybrid().fit(small)
    assert model.ranker_ is None and not model.tuning_["discover"]["ranker"]["kept"]
    assert fast_hybrid(rank=False).fit(small).tuning_["discover"].get("ranker") is None


def test_discover_reorders_the_blends_pool_and_buy_again_is_the_blend(ranked: HybridRecommender,
                                                                       shop: Dataset) -> None:
    users = np.arange(200)
    items, _ = ranked.recommend_idx(users, k=10)
    blend = ranked._blend(users, discover=True)[0]
    blend[shop.purchases[users].nonzero()] = -np.inf
    pool, _ = top_k(blend, ranked.pool_size)
    assert all(set(items[r]) <= set(pool[r]) for r in range(len(users)))
    assert not np.array_equal(items, pool[:, :10])  # the ranker changed some lists
    again, _ = ranked.recommend_idx(users, k=10, filter_seen=False)
    np.testing.assert_array_equal(again, top_k(ranked.score(users), 10)[0])


def test_ranker_state_round_trip_and_determinism(ranked: HybridRecommender, shop: Dataset) -> None:
    users = shop.users.external_ids[:100]
    loaded = round_trip(ranked, shop)
    assert loaded.ranker_.names == ranked.ranker_.names
    for filter_seen in (True, False):
        pd.testing.assert_frame_equal(loaded.recommend(users, k=10, filter_seen=filter_seen),
                                      ranked.recommend(users, k=10, filter_seen=filter_seen))
    refit = fast_hybrid(mmr_lambda=1.0).fit(shop)
    np.testing.assert_array_equal(refit.ranker_.coef, ranked.ranker_.coef)
    pd.testing.assert_frame_equal(refit.recommend(users, k=10), ranked.recommend(users, k=10))


def test_forced_ranker_changes_discover_only_and_keeps_reasons(shop: Dataset) -> None:
    model = with_forced_ranker(fast_hybrid(tune=False).fit(shop))
    recs = model.recommend(shop.users.external_ids[:20], k=5)
    assert (recs.groupby(C.User).size() == 5).all() and recs[C.Reason].str.len().gt(0).all()


def test_discover_score_ranks_as_recommended_and_drives_the_harness_auc(ranked: HybridRecommender,
                                                                        shop: Dataset) -> None:
    """score(filter_seen=True) is the ranker's order over the pool, then the blend's: the evaluation's AUC and
    MRR (from ``_ranks``) describe the discover lists, not the blend behind them."""
    from segrec.evaluation.metrics import auc_from_ranks, positive_ranks
    from segrec.evaluation.runner import _ranks

    users = np.arange(300)
    items, values = ranked.recommend_idx(users, k=10)
    discover = ranked.score(users, filter_seen=True)
    blend = ranked._blend(users, discover=True)[0]
    assert np.isfinite(discover).all()
    masked = discover.copy()
    masked[shop.purchases[users].nonzero()] = -np.inf
    expected, expected_values = top_k(masked, 10)
    np.testing.assert_array_equal(items, expected)
    np.testing.assert_allclose(values, expected_values, rtol=1e-5)
    pool, _ = top_k(np.where(np.isneginf(masked), -np.inf, blend), ranked.pool_size)  # the pool is the blend's
    np.testing.assert_array_equal(np.sort(top_k(masked, ranked.pool_size)[0], axis=1), np.sort(pool, axis=1))

    rng = np.random.default_rng(0)
    exclude = sp.csr_matrix(shop.purchases[users] > 0, dtype=np.float32)
    relevant = sp.csr_matrix((rng.random(exclude.shape) < 0.05) & (exclude.toarray() == 0), dtype=np.float32)
    harness = _ranks(ranked, users, relevant, exclude)
    np.testing.assert_array_equal(harness.toarray(), positive_ranks(discover, relevant, exclude).toarray())
    assert np.nanmean(auc_from_ranks(harness)) != np.nanmean(auc_from_ranks(positive_ranks(blend, relevant, exclude)))
    np.testing.assert_array_equal(_ranks(ranked, users, relevant, None).toarray(),
                                  positive_ranks(ranked.score(users), relevant).toarray())  # buy-again: its blend
