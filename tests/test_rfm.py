"""RFM quintile scores, score strings and the named R x F grid on hand cases."""

from __future__ import annotations

import pandas as pd

from segrec.columns import Columns as C
from segrec.features.rfm import RFM_GRID, quintile_scores, rfm_groups, rfm_table


def test_rfm_scores_on_a_hand_case() -> None:
    features = pd.DataFrame({
        C.Recency: [1.0, 10.0, 30.0, 90.0, 300.0],
        C.Frequency: [9, 5, 3, 2, 1],
        C.Spending: [900.0, 20.0, 300.0, 50.0, 10.0],
    }, index=pd.Index(["e", "d", "c", "b", "a"], name=C.User))
    table = rfm_table(features)
    assert list(table.index) == ["e", "d", "c", "b", "a"]
    assert table[C.RScore].tolist() == [5, 4, 3, 2, 1]
    assert table[C.FScore].tolist() == [5, 4, 3, 2, 1]
    assert table[C.MScore].tolist() == [5, 2, 4, 3, 1]
    assert table[C.RFMScore].tolist() == ["555", "442", "334", "223", "111"]
    assert table[C.RFMGroup].tolist() == ["Champions", "Loyal Customers", "Need Attention", "Hibernating", "Lost"]


def test_ties_and_few_distinct_values_never_fail() -> None:
    assert quintile_scores(pd.Series([1] * 7)).tolist() == [1, 1, 2, 3, 3, 4, 5]
    assert quintile_scores(pd.Series([3.0])).tolist() == [1]
    assert quintile_scores(pd.Series([5.0, 1.0]), higher_is_better=False).tolist() == [1, 3]


def test_grid_covers_every_cell_with_the_standard_groups() -> None:
    r = pd.Series([r for r in range(1, 6) for _ in range(5)])
    f = pd.Series([f for _ in range(5) for f in range(1, 6)])
    groups = set(rfm_groups(r, f))
    assert groups == {"Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
                      "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"}
    assert RFM_GRID[4][0] == "New Customers" and RFM_GRID[0][4] == "Can't Lose Them"
