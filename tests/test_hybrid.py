"""The hybrid: stages, modes, reasons, cold start, determinism, state round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommend_helpers import catalogue_events, fast_hybrid, round_trip, small_events
from segrec.columns import Columns as C
from segrec.exceptions import SegrecWarning
from segrec.recommend import Dataset, HybridRecommender
from segrec.recommend.hybrid import REASON_PEERS, REASON_POPULAR, REASON_REPEAT, REASON_SEGMENT

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


def test_score_is_consistent_with_ranking(model: HybridRecommender, dataset: Dataset) -> None:
    users = np.arange(10)
    items, _ = model.recommend_idx(users, k=5)
    scores = model.score(users)
    for row in range(len(users)):
        masked = scores[row].copy()
        masked[dataset.purchases[row].indices] = -np.inf
        assert list(np.argsort(-masked, kind="stable")[:5]) == list(items[row])


def test_content_looked_up_in_dataset_item_order() -> None:
    """Regression: the content term must score a candidate by *its own* similarity to the history."""
    ds = Dataset.from_events(catalogue_events().sample(frac=1.0, random_state=5))
    model = fast_hybrid(w_cf=0.0, w_item=0.0, w_trend=0.0, w_content=1.0, pool_size=6).fit(ds)
    recs = model.recommend(["u1"], k=1)  # bought M1 and M2: the third mug is the content answer
    assert recs[C.Item].iloc[0] == "M3"
    assert recs[C.Reason].iloc[0].startswith("similar to ")


def test_segment_reason(dataset: Dataset) -> None:
    model = fast_hybrid(w_cf=0.0, w_item=0.0, w_content=0.0).fit(dataset)
    recs = model.recommend(dataset.users.external_ids[:40], k=10)
    assert recs[C.Reason].str.startswith(REASON_SEGMENT.format(segment="")).any()


def test_mmr_diversifies(dataset: Dataset) -> None:
    plain = fast_hybrid().fit(dataset)
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
