"""LightFM wrapper: fitting, early stopping, scoring from representations, determinism, state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM

from recommend_helpers import FAST_CF, round_trip, small_events
from segrec.columns import Columns as C
from segrec.exceptions import NotFittedError
from segrec.recommend import Dataset, LightFMRecommender
from segrec.recommend._topk import reused_score_blocks, top_k
from segrec.recommend.collaborative import _HeldOutPrecision, _holdout


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.from_events(small_events())


@pytest.fixture(scope="module")
def model(dataset: Dataset) -> LightFMRecommender:
    return LightFMRecommender(**FAST_CF).fit(dataset)


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        LightFMRecommender().score(np.array([0]))


def test_scores_match_lightfm_predict(model: LightFMRecommender, dataset: Dataset) -> None:
    ours = model.score(np.array([0, 3]))
    assert ours.shape == (2, dataset.n_items) and ours.dtype == np.float32
    uf = model._features(model.user_encoder_, dataset.user_attributes)
    itf = model._features(model.item_encoder_, dataset.catalogue)
    items = np.arange(dataset.n_items, dtype=np.int32)
    theirs = model.model_.predict(np.full(dataset.n_items, 3, np.int32), items, user_features=uf, item_features=itf)
    np.testing.assert_allclose(ours[1], theirs, rtol=1e-4, atol=1e-4)


def test_early_stopping_tracks_a_curve(model: LightFMRecommender) -> None:
    assert 1 <= model.best_epoch_ <= FAST_CF["epochs"]
    assert model.best_epoch_ == int(np.argmax(model.validation_curve_)) + 1


@pytest.mark.parametrize("max_users", [2000, 70])
def test_held_out_precision_is_the_plain_formula(max_users: int) -> None:
    """The early-stopping check (top 10 picked as the scores are made, one block kept between epochs) gives
    the plain formula's value: every score, bought products masked, top 10, hits / 10 per user."""
    rng = np.random.default_rng(7)
    binary = sp.csr_matrix(rng.random((300, 1500)) < 0.02, dtype=np.float32)  # 1,500: a padded width
    seen, held = _holdout(binary, 0.2, 7)
    model = LightFM(no_components=8, random_state=7)
    check = _HeldOutPrecision(seen, held, max_users=max_users)
    users = np.flatnonzero(np.diff(held.indptr) > 0)
    users = users[:: max(1, len(users) // max_users)]
    with reused_score_blocks():
        for _ in range(3):
            model.fit_partial(seen.tocoo(), epochs=1)
            _, ue = model.get_user_representations()
            ib, ie = model.get_item_representations()
            scores = ue[users] @ ie.T + ib[None, :]
            bought = seen[users].tocoo()
            scores[bought.row, bought.col] = -np.inf
            top, _ = top_k(scores, 10)
            hits = (np.take_along_axis(held[users].toarray(), np.maximum(top, 0), axis=1) > 0) & (top >= 0)
            assert check(model, None, None) == hits.sum() / (10 * len(users)) > 0


def test_prototype_untouched_and_deterministic_with_one_thread(dataset: Dataset) -> None:
    first = LightFMRecommender(**FAST_CF).fit(dataset)
    second = LightFMRecommender(**FAST_CF).fit(dataset)
    np.testing.assert_array_equal(first.user_factors_, second.user_factors_)
    assert first.get_params() == LightFMRecommender(**FAST_CF).get_params()


def test_filters_seen(model: LightFMRecommender, dataset: Dataset) -> None:
    recs = model.recommend(dataset.users.external_ids[:20], k=5)
    bought = set(zip(*dataset.purchases.nonzero(), strict=True))
    pairs = zip(dataset.user_index(recs[C.User]), dataset.item_index(recs[C.Item]), strict=True)
    assert not any(p in bought for p in pairs)


def test_cold_user_from_demographics(model: LightFMRecommender) -> None:
    factors = model.cold_user_factors(pd.DataFrame([{C.Age: 35.0, C.Gender: "F"}]))
    assert factors is not None and factors.shape == (1, model.user_factors_.shape[1])
    assert model.cold_user_factors(pd.DataFrame([{C.Location: "Atlantis"}])) is None


def test_state_round_trip_identical(model: LightFMRecommender, dataset: Dataset) -> None:
    again = round_trip(model, dataset)
    users = dataset.users.external_ids
    pd.testing.assert_frame_equal(model.recommend(users, k=5), again.recommend(users, k=5))
    row = pd.DataFrame([{C.Age: 35.0, C.Gender: "F"}])
    np.testing.assert_array_equal(model.cold_user_factors(row), again.cold_user_factors(row))


def test_item_features_need_categories(dataset: Dataset) -> None:
    with_categories = LightFMRecommender(**FAST_CF).fit(dataset)
    assert with_categories.item_encoder_ is not None
    catalogue = dataset.catalogue.assign(**{C.Category: "unknown"})
    from dataclasses import replace

    bare = LightFMRecommender(**FAST_CF).fit(replace(dataset, catalogue=catalogue))
    assert bare.item_encoder_ is None  # price bands alone are not used


def test_fit_more_continues_training(dataset: Dataset) -> None:
    model = LightFMRecommender(**{**FAST_CF, "early_stopping": False}).fit(dataset)
    before = model.score(np.arange(5)).copy()
    model.fit_more(dataset, 2)
    assert model.score(np.arange(5)).shape == before.shape and not np.allclose(model.score(np.arange(5)), before)
