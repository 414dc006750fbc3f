"""Segment profiles in original units and the transparent naming rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segrec.columns import Columns as C
from segrec.segment.profiles import RULES, name_segments, relative_means, segment_profiles


def designed(n: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    """Four segments of ``n`` customers whose medians trigger four different rules."""
    rows = {  # spend, frequency, recency, tenure
        0: (1000.0, 10, 5.0, 300.0),   # high-value loyal
        1: (1000.0, 2, 200.0, 300.0),  # big spenders gone quiet
        2: (50.0, 1, 100.0, 100.0),    # budget occasional
        3: (50.0, 1, 10.0, 10.0),      # new / promising
    }
    labels = np.repeat(list(rows), n)
    values = np.array([rows[s] for s in labels])
    frame = pd.DataFrame(values, columns=[C.Spending, C.Frequency, C.Recency, C.Tenure],
                         index=pd.Index([f"u{i}" for i in range(len(labels))], name=C.User))
    frame[C.AvgBasket] = frame[C.Spending] / frame[C.Frequency]
    return frame, labels


def test_rules_name_designed_segments() -> None:
    frame, labels = designed()
    names = name_segments(frame, labels)
    assert names[C.SegmentName].tolist() == [
        "High-value loyal", "At risk: big spenders gone quiet", "Budget occasional", "New / promising"]
    assert all(names[C.Action].str.len() > 10) and names.loc[0, "rule"].startswith("spending >= 1.5x")


def test_young_engaged_needs_age_and_duplicate_names_get_a_suffix() -> None:
    frame, labels = designed()
    frame.loc[labels == 3, C.Tenure] = 300.0  # no longer new
    assert name_segments(frame, labels)[C.SegmentName].iloc[3] != "Young engaged"  # no age column
    frame[C.Age] = np.where(labels == 3, 20.0, 45.0)
    frame[C.Clicks] = np.where(labels == 3, 30.0, 5.0)
    assert name_segments(frame, labels)[C.SegmentName].iloc[3] == "Young engaged"
    twins = pd.concat([frame.iloc[:10], frame.iloc[:10].set_axis([f"t{i}" for i in range(10)])])
    names = name_segments(twins, np.repeat([0, 1], 10))[C.SegmentName].tolist()
    assert names == ["Core customers", "Core customers (2)"]  # every ratio is 1: no other rule matches
    assert [r.name for r in RULES][-1] == "Core customers"


def test_profiles_in_original_units_with_top_categories() -> None:
    frame, labels = designed(n=2)
    events = pd.DataFrame({
        C.User: list(frame.index) * 2,
        C.Item: "p",
        C.Category: ["toys"] * len(frame) + ["garden"] * (len(frame) - 1) + ["books"],
        C.Spending: np.concatenate([frame[C.Spending] * 0.75, frame[C.Spending] * 0.25]),
    })
    table = segment_profiles(frame, labels, events)
    assert table[C.Size].tolist() == [2, 2, 2, 2]
    assert table[C.Share].sum() == pytest.approx(1.0)
    assert table[C.Revenue].tolist() == [2000.0, 2000.0, 100.0, 100.0]
    assert table[C.RevenueShare].tolist() == pytest.approx([2000 / 4200, 2000 / 4200, 100 / 4200, 100 / 4200])
    assert table.loc[1, f"median_{C.Recency}"] == 200.0 and table.loc[0, f"mean_{C.Frequency}"] == 10.0
    assert table.loc[0, C.TopCategories] == "toys (75%); garden (25%)"
    assert table.loc[3, C.TopCategories] == "toys (75%); books (12%); garden (12%)"
    rel = relative_means(frame, labels, [C.Spending])
    assert rel.loc[0, C.Spending] == pytest.approx(1000 / 525)
