"""Segmenter: log/scale/cap behaviour, revenue ordering, determinism, validation, pickle-free round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from segrec.columns import Columns as C
from segrec.exceptions import InputError, NotFittedError
from segrec.segment.segmenter import FeaturePreprocessor, Segmenter


def customers(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Three behavioural groups (low / mid / high spenders) with age and income."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 3
    return pd.DataFrame({
        C.Spending: np.exp(rng.normal([3, 5, 7], 0.3, (n, 3))[np.arange(n), group]),
        C.Frequency: np.round(np.exp(rng.normal([0.2, 1.0, 2.5], 0.2, (n, 3))[np.arange(n), group])),
        C.Recency: rng.normal([200, 60, 10], 10, (n, 3))[np.arange(n), group].clip(0),
        C.Age: rng.normal(40, 10, n),
        C.Income: np.exp(rng.normal(10.8, 0.3, n)),
    }, index=pd.Index([f"u{i}" for i in range(n)], name=C.User))


def test_preprocessor_logs_money_caps_and_standardises() -> None:
    X = customers()
    pre = FeaturePreprocessor().fit(X)
    assert pre.features_ == [C.Spending, C.Frequency, C.Age, C.Income, C.Recency]
    assert pre.log_.tolist() == [True, True, False, True, False]
    assert pre.lower_[0] == pytest.approx(X[C.Spending].quantile(0.01))
    Z = pre.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1)
    expected = (np.log1p(X[C.Spending].clip(pre.lower_[0], pre.upper_[0])) - pre.mean_[0]) / pre.scale_[0]
    np.testing.assert_allclose(Z[:, 0], expected)


def test_transform_is_the_documented_formula_to_the_bit() -> None:
    """Only the logged columns go through log1p, in place: the same numbers as the whole-matrix formula."""
    X = customers()
    X.iloc[:5, X.columns.get_loc(C.Income)] = np.nan
    X.iloc[5, X.columns.get_loc(C.Spending)] = -3.0  # below the lower cap and below 0
    pre = FeaturePreprocessor().fit(X)
    raw = X[pre.features_].to_numpy(dtype="float64", na_value=np.nan)
    raw = np.where(np.isnan(raw), pre.fill_, raw)
    capped = np.clip(raw, pre.lower_, pre.upper_)
    expected = (np.where(pre.log_, np.log1p(np.maximum(capped, 0.0)), capped) - pre.mean_) / pre.scale_
    np.testing.assert_array_equal(pre.transform(X), expected)
    none_logged = FeaturePreprocessor(log_features=[]).fit(X)
    np.testing.assert_array_equal(none_logged.transform(X),
                                  (np.clip(raw, none_logged.lower_, none_logged.upper_) - none_logged.mean_)
                                  / none_logged.scale_)


def test_whale_is_capped_and_gets_no_cluster_of_its_own() -> None:
    X = customers()
    X.iloc[0, X.columns.get_loc(C.Spending)] = 1e9
    model = Segmenter(n_clusters=3, random_state=0).fit(X)
    assert np.bincount(model.labels_).min() > 100
    assert model.transform(X)[0, 0] == pytest.approx(model.transform(X)[:, 0].max())


def test_segments_ordered_by_revenue_and_deterministic() -> None:
    X = customers()
    a = Segmenter(n_clusters=3, random_state=7).fit(X)
    b = Segmenter(n_clusters=3, random_state=7).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    revenue = X[C.Spending].groupby(a.labels_).sum()
    assert revenue.is_monotonic_decreasing
    other_seed = Segmenter(n_clusters=3, random_state=99).fit(X)
    np.testing.assert_array_equal(a.labels_, other_seed.labels_)  # revenue order makes ids seed-independent


def test_predict_needs_fit_and_bad_params_fail_in_fit() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Segmenter().predict(customers())
    with pytest.raises(InputError, match="n_clusters"):
        Segmenter(n_clusters=0).fit(customers())
    with pytest.raises(InputError, match="cap_quantiles"):
        Segmenter(cap_quantiles=(0.9, 0.1)).fit(customers())
    with pytest.raises(InputError, match="not in the customer table"):
        Segmenter(features=["nope"]).fit(customers())
    assert clone(Segmenter(n_clusters=4)).get_params()["n_clusters"] == 4


def test_save_load_round_trip_predicts_identically(tmp_path) -> None:
    X = customers()
    model = Segmenter(n_clusters=3, features=[C.Spending, C.Frequency, C.Recency], random_state=1).fit(X)
    model.save(tmp_path / "seg")
    loaded = Segmenter.load(tmp_path / "seg")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict(X), model.labels_)
    assert loaded.get_params() == model.get_params()
    with np.load(tmp_path / "seg" / "segmenter.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"fill", "lower", "upper", "log", "mean", "scale", "centers"}
    meta = json.loads((tmp_path / "seg" / "segmenter.json").read_text())
    meta["type"] = "SomethingElse"
    with pytest.raises(TypeError, match="SomethingElse"):
        Segmenter.from_state(meta, {})


def test_new_customer_with_missing_demographics_gets_training_medians() -> None:
    X = customers()
    model = Segmenter(n_clusters=3, random_state=0).fit(X)
    new = X.iloc[[0]].copy()
    new[[C.Age, C.Income]] = np.nan
    filled = new.fillna({C.Age: X[C.Age].median(), C.Income: X[C.Income].median()})
    np.testing.assert_allclose(model.transform(new), model.transform(filled))
    assert model.predict(new)[0] in range(3)


def test_generated_shop_recovers_the_five_personas() -> None:
    """The measured promise: default demo data -> k = 5 chosen, ARI vs the true personas >= 0.8."""
    from sklearn.metrics import adjusted_rand_score

    from segrec.data.generate import generate_shop
    from segrec.engines.local.segment import run_segmentation

    shop = generate_shop()
    result = run_segmentation(shop.events)
    assert result.report["chosen_k"] == 5
    segments = result.segments.set_index(C.User)[C.Segment]
    truth = shop.truth.set_index(C.User)[C.Persona].reindex(segments.index)
    assert adjusted_rand_score(truth, segments) >= 0.8
    assert result.stability.stable
