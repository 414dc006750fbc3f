"""Baselines on tiny hand-made data, their pickle-free state, and the model registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segrec.columns import Columns
from segrec.exceptions import InputError, SegrecError
from segrec.features.interactions import Dataset
from segrec.recommend.baselines import (
    BuyAgainRecommender,
    EASERecommender,
    PopularityRecommender,
    SegmentPopularityRecommender,
)
from segrec.recommend.registry import MODELS, model_config, model_from_config, models_for_mode


def _events() -> pd.DataFrame:
    rows = [("u1", "a", "2024-01-01"), ("u1", "b", "2024-03-01"), ("u1", "a", "2024-01-02"),
            ("u2", "a", "2024-02-01"), ("u2", "c", "2024-02-01"),
            ("u3", "a", "2024-02-01"), ("u3", "b", "2024-02-05"), ("u3", "d", "2024-03-01"),
            ("u4", "d", "2024-03-02"), ("u4", "c", "2024-03-03")]
    frame = pd.DataFrame(rows, columns=[Columns.User, Columns.Item, Columns.Date])
    return frame.assign(**{Columns.Date: pd.to_datetime(frame[Columns.Date])})


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.from_events(_events(), segments=pd.Series({"u1": "x", "u2": "x", "u3": "y", "u4": "y"}))


def test_popularity_ranks_by_distinct_buyers(dataset: Dataset) -> None:
    model = PopularityRecommender().fit(dataset)
    items, _ = model.recommend_idx(dataset.user_index(["u4"]), 4, filter_seen=False)
    # a: 3 buyers; b, c, d: 2 each, ties by item index
    assert dataset.items.to_external(items[0]).tolist() == ["a", "b", "c", "d"]
    assert model.recommend(["u4"], 2)[Columns.Item].tolist() == ["a", "b"]  # c and d already bought


def test_broadcast_scores_are_ranked_in_c_order(dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Popularity scores every user with one broadcast row (so do the hybrid's trend and popularity signals); the
    ranking, the evaluation's ranks and the tuning's objective copy it in C order (a copy of a broadcast keeps
    Fortran order otherwise, where ranking each row is several times slower), same ranking."""
    from segrec.evaluation import metrics
    from segrec.recommend import base
    from segrec.recommend.hybrid import tuning

    layouts: list[bool] = []
    real_top_k, real_sort = base.top_k, np.sort

    def recording_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        layouts.append(scores.flags.c_contiguous)
        return real_top_k(scores, k)

    def recording_sort(scores: np.ndarray, axis: int = -1) -> np.ndarray:
        layouts.append(scores.flags.c_contiguous)
        return real_sort(scores, axis=axis)

    monkeypatch.setattr(base, "top_k", recording_top_k)
    monkeypatch.setattr(tuning, "top_k", recording_top_k)
    monkeypatch.setattr(metrics.np, "sort", recording_sort)
    model = PopularityRecommender().fit(dataset)
    users = np.arange(dataset.n_users)
    top, _ = model.recommend_idx(users, 2, filter_seen=False, n_jobs=1)
    scores = model.score(users)
    assert scores.strides[0] == 0  # the broadcast row itself
    ranks = metrics.positive_ranks(scores, dataset.purchases)
    objective = tuning.ranking_objective(dataset.purchases, k=2)(scores)
    assert len(layouts) >= 3 and all(layouts)
    monkeypatch.undo()
    np.testing.assert_array_equal(top, model.recommend_idx(users, 2, filter_seen=False)[0])
    np.testing.assert_array_equal(ranks.toarray(), metrics.positive_ranks(np.ascontiguousarray(scores),
                                                                          dataset.purchases).toarray())
    assert objective == tuning.ranking_objective(dataset.purchases, k=2)(np.ascontiguousarray(scores))


def test_segment_popularity_uses_the_segment_then_falls_back(dataset: Dataset) -> None:
    model = SegmentPopularityRecommender(min_segment_users=1).fit(dataset)
    y_top = model.recommend(["u4"], 1, filter_seen=False)[Columns.Item].tolist()
    assert y_top == ["d"]  # both customers of segment y bought d
    fallback = SegmentPopularityRecommender(min_segment_users=3).fit(dataset)  # every segment too small
    np.testing.assert_allclose(fallback.score(np.array([0]))[0], PopularityRecommender().fit(dataset).score([0])[0])


def test_segment_popularity_without_segments_is_popularity() -> None:
    plain = Dataset.from_events(_events())
    a = SegmentPopularityRecommender().fit(plain).score(np.arange(4))
    np.testing.assert_allclose(a, PopularityRecommender().fit(plain).score(np.arange(4)))


def test_buy_again_prefers_recent_then_frequent(dataset: Dataset) -> None:
    events = _events()
    recent = BuyAgainRecommender(half_life_days=7).fit(dataset, events=events)
    # u1 bought a twice in early January and b once in March: recency wins with a one-week half-life
    assert recent.recommend(["u1"], 3, filter_seen=False)[Columns.Item].tolist() == ["b", "a", "c"]
    counts = BuyAgainRecommender().fit(dataset)  # no dates: purchase counts
    assert counts.recommend(["u1"], 2, filter_seen=False)[Columns.Item].tolist() == ["a", "b"]
    with pytest.raises(InputError, match="half_life_days"):
        BuyAgainRecommender(half_life_days=0).fit(dataset)


def test_ease_matches_the_closed_form(dataset: Dataset) -> None:
    lam = 2.0
    model = EASERecommender(regularization=lam).fit(dataset)
    x = (dataset.purchases.toarray() > 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)
    np.testing.assert_allclose(model.item_weights_, b, atol=1e-5)
    np.testing.assert_allclose(np.diag(model.item_weights_), 0.0)
    np.testing.assert_allclose(model.score(np.arange(4)), x @ b, atol=1e-5)


@pytest.mark.parametrize("name", ["popularity", "segment_popularity", "buy_again", "ease", "als", "lightfm_original"])
def test_state_round_trip_and_class_check(dataset: Dataset, name: str) -> None:
    model = model_from_config(name).fit(dataset)
    config, arrays = model.get_state()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    restored = type(model).from_state(config, arrays, dataset)
    np.testing.assert_allclose(restored.score(np.arange(4)), model.score(np.arange(4)), rtol=1e-6)
    other = PopularityRecommender if name != "popularity" else EASERecommender
    with pytest.raises(TypeError, match="cannot be loaded"):
        other.from_state(config, arrays, dataset)


def test_factor_models_are_reproducible(dataset: Dataset) -> None:
    for name in ("als", "lightfm_original"):
        a = model_from_config(name).fit(dataset).score(np.arange(4))
        b = model_from_config(name).fit(dataset).score(np.arange(4))
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert a.shape == (4, 4) and a.dtype == np.float32


def test_lightfm_original_scores_match_lightfm_predict(dataset: Dataset) -> None:
    from lightfm import LightFM

    model = model_from_config("lightfm_original").fit(dataset)
    reference = LightFM(no_components=10, loss="warp", random_state=42)
    x = dataset.purchases.copy()
    x.data[:] = 1.0
    reference.fit(x.tocoo(), epochs=30, num_threads=1)
    users, items = np.repeat(np.arange(4, dtype=np.int32), 4), np.tile(np.arange(4, dtype=np.int32), 4)
    np.testing.assert_allclose(model.score(np.arange(4)).ravel(), reference.predict(users, items), atol=1e-5)


def test_registry_builds_and_describes_models() -> None:
    model = model_from_config({"name": "ease", "params": {"regularization": 10.0}}, regularization=20.0)
    assert isinstance(model, EASERecommender) and model.regularization == 20.0
    assert model_config(model) == {"name": "ease", "params": {"regularization": 20.0}}
    assert MODELS["popularity"] is PopularityRecommender and "hybrid" in MODELS
    with pytest.raises(InputError, match="unknown model"):
        model_from_config("nope")
    with pytest.raises(InputError, match="no parameter"):
        model_from_config("ease", lambda_=1.0)
    with pytest.raises(InputError, match="'name' and 'params'"):
        model_from_config({"name": "ease", "extra": 1})
    assert "buy_again" in models_for_mode("buy-again") and "buy_again" not in models_for_mode("discover")
    with pytest.raises(InputError, match="unknown mode"):
        models_for_mode("both")


def test_registry_reports_a_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from segrec.recommend import registry

    monkeypatch.setitem(registry._ENTRIES, "ghost", ("segrec.recommend.no_such_module", "Ghost"))
    with pytest.raises(SegrecError, match="not available"):
        MODELS["ghost"]
    assert "ghost" not in registry.available_models()
