"""The hybrid: stages, modes, reasons, cold start, determinism, state round trip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommend_helpers import FAST_CF, catalogue_events, fast_hybrid, round_trip, small_events
from segrec.columns import Columns as C
from segrec.evaluation.metrics import auc_from_ranks, positive_ranks
from segrec.exceptions import InputError, SegrecWarning
from segrec.recommend import ContentRecommender, Dataset, HybridRecommender, LightFMRecommender
from segrec.recommend._topk import top_k
from segrec.recommend.hybrid import (
    ALL_SIGNALS,
    REASON_PEERS,
    REASON_POPULAR,
    REASON_REPEAT,
    REASON_SEGMENT,
    SIGNALS,
)
from segrec.recommend.hybrid.validation import make_validation

REASONS = (REASON_PEERS, REASON_REPEAT, REASON_POPULAR)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    events = small_events()
    users = np.sort(events[C.User].unique())
    segments = pd.Series(np.where(np.arange(len(users)) % 2, "families", "students"), index=users)
    return Dataset.from_events(events, segments=segments)


@pytest.fixture(scope="module")
def model(dataset: Dataset) -> HybridRecommender:
    return fast_hybrid().fit(dataset)


@pytest.fixture(scope="module")
def plain(dataset: Dataset) -> HybridRecommender:
    """No MMR re-ranking: recommendations are the top of ``score``."""
    return fast_hybrid(mmr_lambda=1.0).fit(dataset)


def _bought(dataset: Dataset) -> set[tuple[int, int]]:
    return set(zip(*dataset.purchases.nonzero(), strict=True))


def test_discover_frame_and_filter(model: HybridRecommender, dataset: Dataset) -> None:
    users = dataset.users.external_ids[:30]
    recs = model.recommend(users, k=5)
    assert list(recs.columns) == list(C.Recommendations)
    assert (recs.groupby(C.User).size() == 5).all()
    pairs = zip(dataset.user_index(recs[C.User]), dataset.item_index(recs[C.Item]), strict=True)
    assert not set(pairs) & _bought(dataset)
    assert recs[C.Reason].map(lambda r: r in REASONS or r.startswith(("similar to ", "popular with "))).all()
    assert REASON_REPEAT not in set(recs[C.Reason])


def test_buy_again_ranks_repeat_purchases(model: HybridRecommender, dataset: Dataset) -> None:
    counts = np.asarray(dataset.purchases.max(axis=1).toarray()).ravel()
    users = dataset.users.external_ids[counts >= 2][:20]
    recs = model.recommend(users, k=5, filter_seen=False)
    pairs = zip(dataset.user_index(recs[C.User]), dataset.item_index(recs[C.Item]), strict=True)
    again = np.array([p in _bought(dataset) for p in pairs])
    assert again.mean() > 0.5
    assert (recs.loc[again, C.Reason] == REASON_REPEAT).all()


def test_score_is_consistent_with_ranking(plain: HybridRecommender, dataset: Dataset) -> None:
    users = np.arange(10)
    items, _ = plain.recommend_idx(users, k=5)
    scores = plain.score(users, filter_seen=True)
    if plain.ranker_ is None:  # discover scores are the discover blend's then
        np.testing.assert_array_equal(scores, plain._blend(users, discover=True)[0])
    for row in range(len(users)):
        masked = scores[row].copy()
        masked[dataset.purchases[row].indices] = -np.inf
        assert list(np.argsort(-masked, kind="stable")[:5]) == list(items[row])


def test_score_is_finite_and_ranks_bought_items_in_sample(plain: HybridRecommender, dataset: Dataset) -> None:
    """Regression: bought items used to score -inf, so the in-sample AUC was 0 and buy-again AUC < 0.5."""
    users = np.arange(dataset.n_users)
    scores = plain.score(users)
    assert scores.shape == (dataset.n_users, dataset.n_items) and np.isfinite(scores).all()
    bought = (dataset.purchases > 0).astype(np.float32).tocsr()
    auc = np.nanmean(auc_from_ranks(positive_ranks(scores, bought)))
    assert auc > 0.7


def test_buy_again_ranking_is_the_ranking_of_score(plain: HybridRecommender, dataset: Dataset) -> None:
    users = np.arange(25)
    items, values = plain.recommend_idx(users, k=8, filter_seen=False)
    expected, expected_values = top_k(plain.score(users), 8)
    np.testing.assert_array_equal(items, expected)
    np.testing.assert_allclose(values, expected_values, rtol=1e-5)


def test_blend_is_tuned_per_mode_from_the_best_single_signal() -> None:
    events = small_events(customers=400, products=60, seed=11)
    ds = Dataset.from_events(events)
    model = fast_hybrid(mmr_lambda=1.0).fit(ds, events=events)
    tuning = model.tuning_
    assert tuning["tuned"] and tuning["validation"]["protocol"] == "temporal"
    for mode, signals in (("discover", SIGNALS), ("buy_again", ALL_SIGNALS)):
        table = tuning[mode]
        assert set(table["alone"]) == set(signals) and table["best_single"] in signals
        assert table["objective_single"] == max(table["alone"].values())
        assert table["objective_blend"] >= table["objective_single"]  # the search starts from the best part
    assert set(model.weights_) == set(SIGNALS) and set(model.weights_again_) == set(ALL_SIGNALS)
    fixed = fast_hybrid(tune=False, w_repeat=3.0).fit(ds)
    assert not fixed.tuning_["tuned"] and fixed.weights_again_["repeat"] == 3.0 and fixed.weights_["item"] == 1.0


def test_validation_slice_is_the_end_of_the_period(dataset: Dataset) -> None:
    split = make_validation(dataset, None, "temporal", 0.2, seed=0)
    train, targets = split.train, split.new
    assert targets.nnz > 0 and not (train.purchases.multiply(targets)).nnz  # targets are not in the history
    assert train.purchases.nnz + targets.nnz <= dataset.purchases.nnz
    assert train.recency_days.data.min() >= 1.0 and train.recency_days.nnz == train.purchases.nnz
    random = make_validation(replace(dataset, recency_days=None), None, "random", 0.2, seed=1)
    assert random.description["protocol"] == "random" and random.new.nnz > 0


def test_content_looked_up_in_dataset_item_order() -> None:
    """Regression: the content term must score a candidate by *its own* similarity to the history."""
    ds = Dataset.from_events(catalogue_events().sample(frac=1.0, random_state=5))
    model = fast_hybrid(w_cf=0.0, w_item=0.0, w_trend=0.0, w_content=1.0, pool_size=6, tune=False).fit(ds)
    recs = model.recommend(["u1"], k=1)  # bought M1 and M2: the third mug is the content answer
    assert recs[C.Item].iloc[0] == "M3"
    assert recs[C.Reason].iloc[0].startswith("similar to ")


def test_profile_signal_carries_a_product_line_and_explains_it() -> None:
    """u1 bought an eco mug and an eco candle: with the profile alone, the eco towel comes first."""
    events = pd.DataFrame([
        {C.User: user, C.Item: item, C.ItemName: name, C.Date: pd.Timestamp("2024-01-01") + pd.Timedelta(days=n)}
        for n, (user, item, name) in enumerate([
            ("u1", "EM", "eco bamboo mug"), ("u1", "EC", "eco soy candle"),
            ("u2", "LM", "luxury porcelain mug"), ("u2", "LC", "luxury amber candle"),
            ("u3", "LM", "luxury porcelain mug"), ("u3", "LT", "luxury silk towel"),
            ("u4", "ET", "eco cotton towel"), ("u4", "LC", "luxury amber candle")])])
    ds = Dataset.from_events(events)
    model = HybridRecommender(collaborative=LightFMRecommender(**FAST_CF),
                              content=ContentRecommender(profile_min_df=0.3), ease_lambda=None, w_cf=0.0,
                              w_item=0.0, w_content=0.0, w_trend=0.0, w_profile=1.0, tune=False,
                              mmr_lambda=1.0).fit(ds)
    recs = model.recommend(["u1"], k=1)
    assert recs[C.Item].iloc[0] == "ET"
    assert recs[C.Reason].iloc[0].startswith("similar to eco ")
    again = round_trip(model, ds)
    pd.testing.assert_frame_equal(recs, again.recommend(["u1"], k=1))


def test_segment_reason(dataset: Dataset) -> None:
    model = fast_hybrid(w_cf=0.0, w_item=0.0, w_content=0.0, tune=False).fit(dataset)
    recs = model.recommend(dataset.users.external_ids[:40], k=10)
    assert recs[C.Reason].str.startswith(REASON_SEGMENT.format(segment="")).any()


def test_mmr_diversifies(dataset: Dataset) -> None:
    plain = fast_hybrid(mmr_lambda=1.0).fit(dataset)
    diverse = fast_hybrid(mmr_lambda=0.3).fit(dataset)
    users = np.arange(20)
    a, _ = plain.recommend_idx(users, k=5)
    b, _ = diverse.recommend_idx(users, k=5)
    sims = plain.content_.neighbours_

    def mean_sim(items: np.ndarray) -> float:
        return float(np.mean([sims[r][:, r].toarray().sum() for r in items]))

    assert mean_sim(b) <= mean_sim(a)
    assert (b >= 0).all()


def test_deterministic_with_a_seed(dataset: Dataset) -> None:
    users = dataset.users.external_ids[:20]
    first = fast_hybrid().fit(dataset).recommend(users, k=5)
    second = fast_hybrid().fit(dataset).recommend(users, k=5)
    pd.testing.assert_frame_equal(first, second)


def test_state_round_trip_identical(model: HybridRecommender, dataset: Dataset) -> None:
    again = round_trip(model, dataset)
    users = dataset.users.external_ids
    for filter_seen in (True, False):
        pd.testing.assert_frame_equal(model.recommend(users, k=5, filter_seen=filter_seen),
                                      again.recommend(users, k=5, filter_seen=filter_seen))
    pd.testing.assert_frame_equal(model.recommend_cold(attributes={C.Age: 30.0}),
                                  again.recommend_cold(attributes={C.Age: 30.0}))


# ----------------------------------------------------------------------------------------------- cold start
COLD_COLUMNS = [C.Rank, C.Item, C.ItemName, C.Score, C.Reason]


def test_cold_nothing_is_popularity(model: HybridRecommender) -> None:
    recs = model.recommend_cold(k=5)
    assert list(recs.columns) == COLD_COLUMNS and len(recs) == 5
    assert (recs[C.Reason] == REASON_POPULAR).all()
    assert recs[C.Score].is_monotonic_decreasing


def test_cold_demographics_only(model: HybridRecommender) -> None:
    recs = model.recommend_cold(attributes={C.Age: 41.0, C.Gender: "F", C.Income: 52000.0, C.Segment: "students"})
    assert len(recs) == 10
    assert recs[C.Reason].map(lambda r: r in (REASON_PEERS, "popular with students")).all()
    assert not recs.equals(model.recommend_cold())


def test_cold_session_products(model: HybridRecommender, dataset: Dataset) -> None:
    session = list(dataset.items.external_ids[:2])
    recs = model.recommend_cold(product_ids=session, k=8)
    assert len(recs) == 8 and not set(recs[C.Item]) & set(session)
    assert recs[C.Reason].str.startswith("similar to ").any()


def test_cold_unknown_products_are_ignored_with_a_note(model: HybridRecommender, dataset: Dataset) -> None:
    with pytest.warns(SegrecWarning, match="ghost"):
        recs = model.recommend_cold(product_ids=["ghost", dataset.items.external_ids[0]], k=5)
    assert "ghost" not in set(recs[C.Item]) and recs.attrs["notes"]
    with pytest.warns(SegrecWarning):
        only_unknown = model.recommend_cold(product_ids=["ghost"], k=5)
    assert len(only_unknown) == 5


def test_new_product_with_text_is_reachable() -> None:
    extra = pd.DataFrame({C.Item: ["M9"], C.ItemName: ["green ceramic coffee mug"]})
    ds = Dataset.from_events(catalogue_events(), catalogue=extra)
    model = fast_hybrid().fit(ds)
    assert model.similar_products("M9", k=2)[C.Item].iloc[0] in {"M1", "M2"}
    session = model.recommend_cold(product_ids=["M1"], k=5)[C.Item].tolist()
    assert "M9" in session and session.index("M9") < max(session.index(c) for c in ("C1", "C2", "C3") if c in session)


def test_auto_validation_falls_back_to_a_random_hold_out_when_dates_say_nothing() -> None:
    events = small_events(customers=400, products=60, seed=11)
    flat = events.assign(**{C.Date: events[C.Date].max()})
    with pytest.warns(SegrecWarning, match="distinct day"):
        model = fast_hybrid().fit(Dataset.from_events(flat), events=flat)
    assert model.tuning_["validation"]["protocol"] == "random"
    assert model.tuning_["validation"]["asked"] == "auto"
    # a random hold-out holds no repeats: the repeat signals keep their given weights in buy-again mode
    assert model.weights_again_["repeat"] == 2.0 and model.tuning_["buy_again"]["fixed"]["repeat"] == 2.0
    dated = fast_hybrid().fit(Dataset.from_events(events), events=events)
    assert dated.tuning_["validation"]["protocol"] == "temporal"
    asked = fast_hybrid(validation="last-n").fit(Dataset.from_events(events), events=events)
    assert asked.tuning_["validation"]["protocol"] == "last-n"
    with pytest.raises(InputError, match="invalid validation='future'"):
        fast_hybrid(validation="future").fit(Dataset.from_events(events), events=events)


def test_spd_inverse_equals_the_general_inverse() -> None:
    from segrec.recommend._item_item import spd_inverse

    rng = np.random.default_rng(0)
    x = (rng.random((300, 60)) < 0.1).astype(np.float32)
    gram = x.T @ x + np.float32(5.0) * np.eye(60, dtype=np.float32)
    np.testing.assert_allclose(spd_inverse(gram), np.linalg.inv(gram), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(spd_inverse(gram.astype(np.float64)), np.linalg.inv(gram.astype(np.float64)), rtol=1e-9)
    singular = np.zeros((3, 3), np.float32)  # not positive definite: falls back to numpy (which raises)
    with pytest.raises(np.linalg.LinAlgError):
        spd_inverse(singular)


@pytest.mark.parametrize("rows", [1, 7, 60, 1024])
def test_spd_inverse_mirrors_the_upper_triangle_in_blocks(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    """The inverse is made whole a block of rows at a time: the same values as the full-size triu formula."""
    from scipy.linalg import lapack

    from segrec.recommend import _item_item

    monkeypatch.setattr(_item_item, "SYMMETRISE_ROWS", rows)
    rng = np.random.default_rng(1)
    x = (rng.random((400, 61)) < 0.1).astype(np.float32)
    gram = x.T @ x + np.float32(3.0) * np.eye(61, dtype=np.float32)
    upper, _ = lapack.spotri(lapack.spotrf(gram, lower=False, clean=False)[0], lower=False)
    got = _item_item.spd_inverse(gram)
    np.testing.assert_array_equal(got, np.triu(upper) + np.triu(upper, 1).T)
    np.testing.assert_array_equal(got, got.T)
    assert got.flags.c_contiguous  # LAPACK's Fortran order made the EASE baseline's sparse x dense scoring 13x slower


def test_ease_dense_is_the_closed_form_and_the_hybrids_unpruned_weights() -> None:
    from segrec.recommend._item_item import ease_dense, ease_weights

    rng = np.random.default_rng(2)
    binary = sp.csr_matrix((rng.random((300, 40)) < 0.15).astype(np.float32))
    dense = binary.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + 10.0 * np.eye(40))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    weights = ease_dense(binary, 10.0)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, expected, atol=1e-5)
    # the hybrid's pruned weights are those values, kept per target item (every one when keep covers them all)
    np.testing.assert_array_equal(ease_weights(binary, 10.0, keep=39).toarray(), weights)


def test_recommend_refuses_k_below_one(model: HybridRecommender, dataset: Dataset) -> None:
    """The explained recommend() ranks through its own chunk loop: it refuses k < 1 as recommend_idx does."""
    with pytest.raises(InputError, match="k must be >= 1"):
        model.recommend(dataset.users.external_ids[:3], k=0)


def test_category_scores_count_as_the_one_hot_product_did() -> None:
    """The category signal counts distinct products per category with numpy; the sparse product with a one-hot
    matrix it replaced gives the same float32 values (whole numbers), for any rows, repeats and order."""
    from segrec.recommend.base import take_rows
    from segrec.recommend.hybrid.signals import category_model, category_scores

    dataset = Dataset.from_events(small_events())
    codes, share, prior = category_model(dataset)
    for users in (np.arange(dataset.n_users), np.array([3, 0, 3, 5]), np.array([], np.int64)):
        history = sp.csr_matrix(dataset.purchases[users] > 0, dtype=np.float32)
        onehot = sp.csr_matrix((np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
                               shape=(len(codes), len(prior)))
        counts = (history @ onehot).toarray() + 2.0 * prior[None, :]
        expected = ((counts / counts.sum(axis=1, keepdims=True))[:, codes] * share[None, :]).astype(np.float32)
        np.testing.assert_array_equal(category_scores(dataset, users, codes, share, prior), expected)
    every = np.arange(dataset.n_users)
    assert take_rows(dataset.purchases, every) is dataset.purchases  # every row in order: no copy
    some = np.array([1, 0])
    assert (take_rows(dataset.purchases, some) != dataset.purchases[some]).nnz == 0
