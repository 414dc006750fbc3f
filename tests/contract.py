"""The contract every registered recommender keeps, as one suite (implicit's ``recommender_base_test``,
lkpy's ``BasicComponentTests``): ``tests/test_contract.py`` runs it for each name in the registry, so a new model
is covered by registering it.

The contract: ``__init__`` only stores its keyword parameters (they round-trip through ``get_params`` and
``clone``) and the parameter rules name real parameters; nothing answers before ``fit``; ``fit`` returns the
model; ``recommend`` gives ranks 1..k of known products and, in discover mode, nothing the customer bought;
saved as a bundle and loaded back, the model gives identical answers (both modes, the scores, and every
capability it flags: cold start, similar products).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from segrec.bundle import load_bundle, save_bundle
from segrec.columns import Columns as C
from segrec.exceptions import NotFittedError
from segrec.features import Dataset
from segrec.recommend.base import Recommender

K = 5


def check_parameters(model: Recommender) -> None:
    params = model.get_params(deep=False)
    assert set(type(model)._parameter_rules) <= set(params), "a rule names a parameter __init__ does not take"
    again = clone(model).get_params(deep=False)
    assert list(again) == list(params)
    for name, value in params.items():
        assert again[name] is value or again[name] == value or isinstance(value, Recommender), name


def check_not_fitted(model: Recommender, dataset: Dataset) -> None:
    with pytest.raises(NotFittedError):
        model.recommend(dataset.users.external_ids[:1], K)


def check_recommendations(model: Recommender, dataset: Dataset, users: np.ndarray) -> None:
    for discover in (True, False):
        frame = model.recommend(users, K, filter_seen=discover)
        assert set(frame[C.User]) <= set(users)
        for _, rows in frame.groupby(C.User):
            assert rows[C.Rank].tolist() == list(range(1, len(rows) + 1))
            assert rows[C.Item].is_unique
        assert set(frame[C.Item]) <= set(dataset.items.external_ids)
        if discover:
            user_idx = dataset.user_index(frame[C.User].to_numpy())
            item_idx = dataset.item_index(frame[C.Item].to_numpy())
            assert not np.asarray(dataset.purchases[user_idx, item_idx]).any(), "discover recommended a purchase"


def check_round_trip(model: Recommender, dataset: Dataset, users: np.ndarray, where: Path) -> None:
    save_bundle(where, recommender=model)
    loaded = load_bundle(where, expected=type(model)).recommender
    assert type(loaded) is type(model)
    for discover in (True, False):
        pd.testing.assert_frame_equal(model.recommend(users, K, filter_seen=discover),
                                      loaded.recommend(users, K, filter_seen=discover))
    idx = dataset.user_index(users)
    np.testing.assert_array_equal(model.score(idx), loaded.score(idx))
    assert loaded.recommends_cold_users == model.recommends_cold_users
    if model.recommends_cold_users:
        pd.testing.assert_frame_equal(model.recommend_cold(k=K), loaded.recommend_cold(k=K))
    if model.finds_similar_products:
        product = dataset.items.external_ids[0]
        pd.testing.assert_frame_equal(model.similar_products(product, K), loaded.similar_products(product, K))


def check_contract(model: Recommender, dataset: Dataset, where: Path) -> None:
    """The whole contract for one unfitted ``model`` on ``dataset``; the bundle goes to ``where``."""
    check_parameters(model)
    check_not_fitted(model, dataset)
    assert model.fit(dataset) is model
    users = dataset.users.external_ids[:: max(1, dataset.n_users // 25)]
    check_recommendations(model, dataset, users)
    check_round_trip(model, dataset, users, where)
