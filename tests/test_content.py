"""TF-IDF content neighbours on a hand-made catalogue where the right answer is obvious."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommend_helpers import catalogue_events, round_trip
from segrec.columns import Columns as C
from segrec.exceptions import InputError, UnknownProductError
from segrec.recommend import ContentRecommender, Dataset


def test_neighbours_follow_the_text() -> None:
    ds = Dataset.from_events(catalogue_events())
    model = ContentRecommender(k_neighbours=3).fit(ds)
    similar = model.similar_products("M1", k=2)
    assert list(similar.columns) == [C.Rank, C.Item, C.ItemName, C.Score]
    assert set(similar[C.Item]) <= {"M2", "M3"}
    assert similar[C.Item].iloc[0] == "M2"  # "blue ceramic coffee mug" ~ "red ceramic coffee mug"
    assert similar[C.Score].is_monotonic_decreasing


def test_user_scores_favour_the_theme_they_bought() -> None:
    ds = Dataset.from_events(catalogue_events())
    model = ContentRecommender(k_neighbours=3).fit(ds)
    recs = model.recommend(["u3"], k=1)  # bought C1, C2 (candles)
    assert recs[C.Item].iloc[0] == "C3"


def test_unknown_product_raises() -> None:
    model = ContentRecommender().fit(Dataset.from_events(catalogue_events()))
    with pytest.raises(UnknownProductError, match="nope"):
        model.similar_products("nope")


def test_cold_product_with_text_is_reachable() -> None:
    extra = pd.DataFrame({C.Item: ["M9"], C.ItemName: ["green ceramic coffee mug"]})
    ds = Dataset.from_events(catalogue_events(), catalogue=extra)
    model = ContentRecommender(k_neighbours=3).fit(ds)
    assert ds.purchases[:, ds.item_index(["M9"])[0]].nnz == 0
    assert model.similar_products("M9", k=1)[C.Item].iloc[0] in {"M1", "M2"}
    assert "M9" in set(model.recommend(["u1"], k=2)[C.Item])


def test_similarity_matrix_is_in_dataset_item_order() -> None:
    """Regression: neighbours must be indexed like dataset.items, whatever the order of the events."""
    events = catalogue_events().sample(frac=1.0, random_state=1)
    ds = Dataset.from_events(events)
    model = ContentRecommender(k_neighbours=5).fit(ds)
    names = ds.catalogue[C.ItemName].to_numpy()
    assert list(ds.catalogue[C.Item]) == list(ds.items.external_ids)
    for i in range(ds.n_items):
        row = model.neighbours_[i]
        best = row.indices[np.argmax(row.data)]
        shared = set(names[i].split()) & set(names[best].split())
        assert shared - {"scented", "ceramic"} or shared, (names[i], names[best])
    m1, m2 = ds.item_index(["M1", "M2"])
    c1 = ds.item_index(["C1"])[0]
    assert model.neighbours_[m1, m2] > model.neighbours_[m1, c1]


def test_state_round_trip_identical() -> None:
    ds = Dataset.from_events(catalogue_events())
    model = ContentRecommender(k_neighbours=3).fit(ds)
    again = round_trip(model, ds)
    pd.testing.assert_frame_equal(model.recommend(ds.users.external_ids, k=3),
                                  again.recommend(ds.users.external_ids, k=3))
    np.testing.assert_allclose(model.item_vectors(["red mug"]).toarray(), again.item_vectors(["red mug"]).toarray())


def test_items_similar_to_nothing_bought_are_ordered_by_popularity() -> None:
    """Regression: they used to tie at 0, which the AUC counts against the test item (0.48 on the shop)."""
    ds = Dataset.from_events(catalogue_events())
    model = ContentRecommender(k_neighbours=1).fit(ds)
    scores = model.score(ds.user_index(["u1"]))[0]  # u1 bought mugs only
    candles = ds.item_index(["C1", "C2", "C3"])
    expected = 1e-9 * ds.item_popularity()[candles] / ds.n_users
    np.testing.assert_allclose(scores[candles], expected, rtol=1e-5)
    assert (scores[candles] > 0).all()


def _lines_events() -> pd.DataFrame:
    """Two product lines ("eco", "luxury") across three departments; u1 buys eco, u2 and u3 buy luxury."""
    names = {
        "EM": "eco bamboo mug", "LM": "luxury porcelain mug", "EC": "eco soy candle", "LC": "luxury amber candle",
        "ET": "eco cotton towel", "LT": "luxury silk towel",
    }
    baskets = {"u1": ["EM", "EC"], "u2": ["LM", "LC"], "u3": ["LM", "LT"], "u4": ["ET", "LC"]}
    day = pd.Timestamp("2024-01-01")
    return pd.DataFrame([{C.User: user, C.Item: item, C.ItemName: names[item], C.Date: day + pd.Timedelta(days=n)}
                         for n, (user, items) in enumerate(baskets.items()) for item in items])


def test_profile_follows_the_product_line_across_departments() -> None:
    """u1 bought eco mug and candle: of the towels (a department they never bought from) the eco one wins."""
    ds = Dataset.from_events(_lines_events())
    model = ContentRecommender(k_neighbours=3, profile_min_df=0.3).fit(ds)
    assert set(model.profile_terms_) == {"eco", "luxury", "mug", "candle", "towel"}  # names are not shared
    eco, luxury = ds.item_index(["ET", "LT"])
    scores = model.profile_scores(ds.user_index(["u1", "u2"]))
    assert scores.shape == (2, ds.n_items) and scores.dtype == np.float32
    assert scores[0, eco] > 0 > scores[0, luxury]
    assert scores[1, luxury] > scores[1, eco]


def test_profile_without_shared_words_is_zero() -> None:
    model = ContentRecommender(profile_min_df=1.0).fit(Dataset.from_events(_lines_events()))
    assert model.profile_terms_ == []
    np.testing.assert_array_equal(model.profile_scores(np.arange(4)), 0.0)
    with pytest.raises(InputError, match="profile_min_df"):
        ContentRecommender(profile_min_df=0.0).fit(Dataset.from_events(_lines_events()))


def test_profile_state_round_trip() -> None:
    ds = Dataset.from_events(_lines_events())
    model = ContentRecommender(k_neighbours=3, profile_min_df=0.3).fit(ds)
    again = round_trip(model, ds)
    assert again.profile_terms_ == model.profile_terms_
    users = np.arange(ds.n_users)
    np.testing.assert_array_equal(model.profile_scores(users), again.profile_scores(users))
    config, arrays = model.get_state()
    del config["profile_terms"]  # a state written before the profile: the words are rebuilt from the text
    older = ContentRecommender.from_state(config, arrays, ds)
    np.testing.assert_array_equal(model.profile_scores(users), older.profile_scores(users))
