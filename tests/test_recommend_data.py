"""Dataset, id maps, weights and side-feature encoding."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segrec.columns import Columns as C
from segrec.exceptions import InputError
from segrec.recommend import Dataset, IdMap
from segrec.recommend.side_features import item_encoder, lightfm_features, user_encoder


def _events() -> pd.DataFrame:
    return pd.DataFrame({
        C.User: ["b", "a", "a", "a", "c"],
        C.Item: ["x", "x", "x", "y", "z"],
        C.Date: pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-09", "2024-01-10", "2024-01-10"]),
        C.Quantity: [1, 2, 3, 1, 1],
        C.Spending: [1.0, 4.0, 6.0, 2.0, 1.0],
        C.Age: [20.0, 30.0, 30.0, 30.0, 60.0],
        C.Location: ["UK", "FR", "FR", "FR", "UK"],
    })


def test_id_map_round_trip_and_unknown() -> None:
    ids = IdMap.from_values(["b", "a", "c", "a"])
    assert list(ids.external_ids) == ["a", "b", "c"]
    idx = ids.to_internal(["c", "zz", "a"])
    assert list(idx) == [2, -1, 0]
    assert list(ids.to_external(idx[idx >= 0])) == ["c", "a"]


@pytest.mark.parametrize(("weighting", "expected"), [
    ("binary", 1.0), ("count", 2.0), ("log_count", np.log1p(2.0)), ("quantity", 5.0), ("spending", 10.0),
])
def test_weights(weighting: str, expected: float) -> None:
    ds = Dataset.from_events(_events(), weighting=weighting)
    a, x = ds.user_index(["a"])[0], ds.item_index(["x"])[0]
    assert ds.interactions[a, x] == pytest.approx(expected, rel=1e-6)
    assert ds.purchases[a, x] == 2.0


def test_recency_days_counts_from_the_last_event() -> None:
    ds = Dataset.from_events(_events())
    a, b = ds.user_index(["a", "b"])
    x, y = ds.item_index(["x", "y"])
    assert ds.recency_days[a, x] == pytest.approx(2.0)  # last bought on 01-09, data end 01-10, +1
    assert ds.recency_days[a, y] == pytest.approx(1.0)
    assert ds.recency_days[b, x] == pytest.approx(10.0)


def test_unknown_weighting_is_an_input_error() -> None:
    with pytest.raises(InputError, match="weighting"):
        Dataset.from_events(_events(), weighting="nope")  # type: ignore[arg-type]


def test_user_encoder_bands_and_unseen_categories() -> None:
    ds = Dataset.from_events(_events())
    enc = user_encoder(n_bands=2).fit(ds.user_attributes)
    names = enc.feature_names_
    assert "location=FR" in names and "location=UK" in names
    assert any(n.startswith("age=") for n in names)
    new = pd.DataFrame([{C.Age: 25.0, C.Location: "Mars"}, {C.Location: "UK"}, {}])
    x = enc.transform(new)
    assert x.shape == (3, len(names))
    assert x[0].nnz == 1  # the age band only: an unseen country is no feature, not an error
    assert x[1, names.index("location=UK")] == 1
    assert x[2].nnz == 0
    again = type(enc).from_state(json.loads(json.dumps(enc.get_state())))
    assert (again.transform(new) != x).nnz == 0


def test_item_encoder_drops_uninformative_columns() -> None:
    cat = pd.DataFrame({C.Category: ["unknown"] * 4, C.Price: [1.0, 2.0, 3.0, 4.0]})
    enc = item_encoder(n_bands=2).fit(cat)
    assert all(n.startswith("price=") for n in enc.feature_names_)


def test_lightfm_features_identity_first_rows_sum_to_one() -> None:
    enc = user_encoder(n_bands=2)
    side = enc.fit_transform(Dataset.from_events(_events()).user_attributes)
    feats = lightfm_features(side)
    assert feats.shape == (3, 3 + side.shape[1])
    np.testing.assert_allclose(np.asarray(feats.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    assert feats[1, 1] > 0  # row i's own identity feature is column i


def test_catalogue_takes_each_products_most_frequent_text_ties_to_the_first_seen() -> None:
    events = pd.DataFrame({C.User: ["u1", "u2", "u3", "u4", "u5", "u6"],
                           C.Item: ["p", "p", "p", "p", "q", "q"],
                           C.ItemName: ["mug b", "mug a", "mug a", "mug b", None, "lamp"],
                           C.Category: ["x", "y", "y", "y", None, None]})
    cat = Dataset.from_events(events).catalogue.set_index(C.Item)
    assert cat.loc["p", C.ItemName] == "mug b" and cat.loc["p", C.Category] == "y"
    assert cat.loc["q", C.ItemName] == "lamp" and cat.loc["q", C.Category] == "unknown"
