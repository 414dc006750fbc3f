"""Customer features on hand-made events: exact values, order/day frequency, explicit missing-data handling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segrec.columns import Columns as C
from segrec.exceptions import MissingColumnError, SegrecWarning
from segrec.features.customers import build_customer_features, customer_features


def hand_events() -> pd.DataFrame:
    """Three customers; c has no age; one line has no order id; no income column at all."""
    return pd.DataFrame({
        C.User: ["a", "a", "a", "b", "b", "c"],
        C.Item: ["p1", "p2", "p1", "p3", "p3", "p2"],
        C.Date: pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:00", "2024-01-05 18:00",
                                "2024-01-02 10:00", "2024-01-02 15:00", "2024-01-10 12:00"]),
        C.Order: pd.array(["o1", "o1", "o2", "o3", None, "o5"], dtype="string"),
        C.Price: [10.0, 5.0, 10.0, 2.5, 2.5, 100.0],
        C.Quantity: [1, 2, 1, 4, 2, 1],
        C.Category: ["x", "y", "x", "z", "z", "y"],
        C.Age: [30.0, 30.0, 30.0, 50.0, 50.0, np.nan],
        C.Clicks: [4.0, 4.0, 8.0, 2.0, 2.0, 10.0],
    })


def test_exact_values_on_hand_events() -> None:
    with pytest.warns(SegrecWarning, match="income"):
        built = build_customer_features(hand_events())
    f = built.frame
    assert list(f.index) == ["a", "b", "c"]
    assert f[C.Spending].tolist() == [30.0, 15.0, 100.0]
    assert f[C.Frequency].tolist() == [2, 2, 1]  # b: order o3 plus the id-less line counted as its day
    assert f[C.Recency].tolist() == [5.0, 8.0, 0.0]  # analysis date = last date, 2024-01-10
    assert f[C.Tenure].tolist() == [9.0, 8.0, 0.0]
    assert f[C.AvgBasket].tolist() == [15.0, 7.5, 100.0]
    assert f[C.Clicks].tolist() == pytest.approx([16 / 3, 2.0, 10.0])
    assert built.analysis_date == pd.Timestamp("2024-01-10 12:00")


def test_missing_age_is_imputed_with_median_and_flagged() -> None:
    with pytest.warns(SegrecWarning):
        built = build_customer_features(hand_events())
    assert built.frame[C.Age].tolist() == [30.0, 50.0, 40.0]
    assert built.frame[C.AgeMissing].tolist() == [False, False, True]
    assert built.imputed == {C.Age: 40.0}
    assert C.Income not in built.frame and "absent" in built.dropped[C.Income]


def test_mostly_missing_demographic_is_dropped_with_a_warning() -> None:
    events = hand_events().assign(**{C.Income: [np.nan] * 5 + [60_000.0]})
    with pytest.warns(SegrecWarning, match="income: missing for 67%"):
        frame = customer_features(events)
    assert C.Income not in frame.columns and C.IncomeMissing not in frame.columns


def test_frequency_counts_days_without_order_ids_and_fixed_analysis_date() -> None:
    events = hand_events().drop(columns=[C.Order, C.Price, C.Quantity]).assign(**{C.Spending: 1.0})
    with pytest.warns(SegrecWarning):
        f = customer_features(events, analysis_date="2024-02-01")
    assert f[C.Frequency].tolist() == [2, 1, 1]
    assert f[C.Recency].tolist() == [27.0, 30.0, 22.0]


def test_missing_required_column_is_named() -> None:
    with pytest.raises(MissingColumnError, match="purchase_date"):
        customer_features(hand_events().drop(columns=[C.Date]))
